"""flash-sale counters, dealers' units and holds

Revision ID: seckill0001
Revises:
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import vintry.db.base
from alembic import op

revision: str = "seckill0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "seckill_counters",
        sa.Column("campaign_code", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=32), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=False),
        sa.Column("per_dealer_limit", sa.Integer(), nullable=False),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.Column("created_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "taken >= 0 AND taken <= quota", name=op.f("ck_seckill_counters_taken_within_quota")
        ),
        sa.CheckConstraint(
            "quota > 0 AND per_dealer_limit > 0", name=op.f("ck_seckill_counters_limits_positive")
        ),
        sa.PrimaryKeyConstraint("campaign_code", name=op.f("pk_seckill_counters")),
    )
    op.create_table(
        "seckill_dealer_units",
        sa.Column("campaign_code", sa.String(length=64), nullable=False),
        sa.Column("dealer_code", sa.String(length=32), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("limit_units", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "units >= 0 AND units <= limit_units",
            name=op.f("ck_seckill_dealer_units_units_within_limit"),
        ),
        sa.PrimaryKeyConstraint(
            "campaign_code", "dealer_code", name=op.f("pk_seckill_dealer_units")
        ),
    )
    op.create_table(
        "seckill_holds",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("campaign_code", sa.String(length=64), nullable=False),
        sa.Column("dealer_code", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("order_number", sa.String(length=32), nullable=True),
        sa.Column("closed_at", vintry.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_seckill_holds_quantity_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seckill_holds")),
    )
    with op.batch_alter_table("seckill_holds", schema=None) as batch_op:
        batch_op.create_index(
            "ix_seckill_holds_expiry", ["campaign_code", "status", "expires_at"], unique=False
        )
        batch_op.create_index(
            "ix_seckill_holds_dealer", ["dealer_code", "campaign_code", "status"], unique=False
        )
        batch_op.create_index("ix_seckill_holds_order", ["order_number"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("seckill_holds", schema=None) as batch_op:
        batch_op.drop_index("ix_seckill_holds_order")
        batch_op.drop_index("ix_seckill_holds_dealer")
        batch_op.drop_index("ix_seckill_holds_expiry")
    op.drop_table("seckill_holds")
    op.drop_table("seckill_dealer_units")
    op.drop_table("seckill_counters")
