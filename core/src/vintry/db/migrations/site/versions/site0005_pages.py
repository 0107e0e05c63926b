"""page layouts, their published versions, and HQ's page templates

Revision ID: site0005
Revises: site0004
Create Date: 2026-11-25 16:31:23.648901
"""

from collections.abc import Sequence

import sqlalchemy as sa
import vintry.db.base
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "site0005"
down_revision: str | Sequence[str] | None = "site0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "page_layouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("page", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column(
            "sections",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("template", sa.String(length=64), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_layouts")),
        sa.UniqueConstraint("code", name=op.f("uq_page_layouts_code")),
    )
    op.create_table(
        "page_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("page", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "sections",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_templates")),
        sa.UniqueConstraint("code", name=op.f("uq_page_templates_code")),
    )
    op.create_table(
        "page_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("page", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("layout", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column(
            "sections",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("starts_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", vintry.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.String(length=64), nullable=False),
        sa.Column("published_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", vintry.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=64), nullable=True),
        sa.Column("withdraw_reason", sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            "ends_at IS NULL OR ends_at > starts_at", name=op.f("ck_page_versions_window_not_empty")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_versions")),
        sa.UniqueConstraint("page", "number", name=op.f("uq_page_versions_page_number")),
    )
    with op.batch_alter_table("page_versions", schema=None) as batch_op:
        batch_op.create_index("ix_page_versions_serving", ["page", "withdrawn_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("page_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_page_versions_serving")

    op.drop_table("page_versions")
    op.drop_table("page_templates")
    op.drop_table("page_layouts")
