"""carts and claims

Revision ID: site0002
Revises: site0001
Create Date: 2026-11-25 11:48:18.601885
"""

from collections.abc import Sequence

import sqlalchemy as sa
import vintry.db.base
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "site0002"
down_revision: str | Sequence[str] | None = "site0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "cart_lines",
        sa.Column("dealer_code", sa.String(length=32), nullable=False),
        sa.Column("sku_code", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("added_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_cart_lines_quantity_positive")),
        sa.PrimaryKeyConstraint("dealer_code", "sku_code", name=op.f("pk_cart_lines")),
    )
    op.create_table(
        "resource_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_number", sa.String(length=32), nullable=False),
        sa.Column("plugin", sa.String(length=100), nullable=False),
        sa.Column("resource", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", vintry.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_claims")),
    )
    with op.batch_alter_table("resource_claims", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resource_claims_order_number"), ["order_number"], unique=False
        )
        batch_op.create_index("ix_resource_claims_status", ["status", "created_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("resource_claims", schema=None) as batch_op:
        batch_op.drop_index("ix_resource_claims_status")
        batch_op.drop_index(batch_op.f("ix_resource_claims_order_number"))

    op.drop_table("resource_claims")
    op.drop_table("cart_lines")
