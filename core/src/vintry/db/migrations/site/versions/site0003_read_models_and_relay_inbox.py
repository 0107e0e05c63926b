"""site read models (catalog, dealers, orders), their state row and the relay inbox

Revision ID: site0003
Revises: site0002
Create Date: 2026-11-25 12:10:11.208042
"""

from collections.abc import Sequence

import sqlalchemy as sa
import vintry.db.base
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "site0003"
down_revision: str | Sequence[str] | None = "site0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "read_catalog",
        sa.Column("sku", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("product", sa.String(length=32), nullable=False),
        sa.Column("product_name", sa.String(length=200), nullable=False),
        sa.Column("brand", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("base_price_fen", sa.Integer(), nullable=False),
        sa.Column("price_fen", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("offered", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("sku", name=op.f("pk_read_catalog")),
    )
    with op.batch_alter_table("read_catalog", schema=None) as batch_op:
        batch_op.create_index("ix_read_catalog_product", ["product"], unique=False)

    op.create_table(
        "read_dealers",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_read_dealers")),
    )
    state = op.create_table(
        "read_model_state",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("applied_at", vintry.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rebuilt_at", vintry.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rebuilt_through", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_read_model_state")),
    )
    # The row every change of the read models locks; never built yet.
    op.bulk_insert(state, [{"name": "read_models", "last_event_id": 0}])
    op.create_table(
        "read_orders",
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("dealer", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("total_fen", sa.Integer(), nullable=False),
        sa.Column("placed_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_read_orders")),
    )
    with op.batch_alter_table("read_orders", schema=None) as batch_op:
        batch_op.create_index("ix_read_orders_dealer", ["dealer", "placed_at"], unique=False)

    op.create_table(
        "relay_inbox",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("applied_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", vintry.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_relay_inbox")),
    )


def downgrade() -> None:
    op.drop_table("relay_inbox")
    with op.batch_alter_table("read_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_read_orders_dealer")

    op.drop_table("read_orders")
    op.drop_table("read_model_state")
    op.drop_table("read_dealers")
    with op.batch_alter_table("read_catalog", schema=None) as batch_op:
        batch_op.drop_index("ix_read_catalog_product")

    op.drop_table("read_catalog")
