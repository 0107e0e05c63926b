"""kernel site schema

Revision ID: site0001
Revises:
Create Date: 2026-11-25 10:38:11.073146
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "site0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "site_meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_site_meta")),
    )


def downgrade() -> None:

    op.drop_table("site_meta")
