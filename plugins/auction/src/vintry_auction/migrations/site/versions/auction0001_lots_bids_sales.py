"""auction lots, bids, dealer takes and sales

Revision ID: auction0001
Revises:
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import vintry.db.base
from alembic import op

revision: str = "auction0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = vintry.db.base.UTCDateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "auction_lots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("sku", sa.String(length=32), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=True),
        sa.Column("warehouse", sa.String(length=32), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("list_unit_fen", sa.BigInteger(), nullable=True),
        sa.Column("start_fen", sa.BigInteger(), nullable=False),
        sa.Column("increment_fen", sa.BigInteger(), nullable=True),
        sa.Column("reserve_fen", sa.BigInteger(), nullable=True),
        sa.Column("soft_close_seconds", sa.Integer(), nullable=False),
        sa.Column("extension_seconds", sa.Integer(), nullable=False),
        sa.Column("step_fen", sa.BigInteger(), nullable=True),
        sa.Column("interval_seconds", sa.Integer(), nullable=True),
        sa.Column("floor_fen", sa.BigInteger(), nullable=True),
        sa.Column("max_per_dealer", sa.Integer(), nullable=True),
        sa.Column("opens_at", WHEN, nullable=False),
        sa.Column("closes_at", WHEN, nullable=False),
        sa.Column("hard_close_at", WHEN, nullable=False),
        sa.Column("current_fen", sa.BigInteger(), nullable=True),
        sa.Column("leader", sa.String(length=32), nullable=True),
        sa.Column("leader_id", sa.Integer(), nullable=True),
        sa.Column("bid_count", sa.Integer(), nullable=False),
        sa.Column("extensions", sa.Integer(), nullable=False),
        sa.Column("hold_reference", sa.String(length=120), nullable=False),
        sa.Column("hold_expires_at", WHEN, nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("closed_at", WHEN, nullable=True),
        sa.CheckConstraint(
            "remaining >= 0 AND remaining <= quantity",
            name=op.f("ck_auction_lots_remaining_in_lot"),
        ),
        sa.CheckConstraint("bid_count >= 0", name=op.f("ck_auction_lots_bid_count_not_negative")),
        sa.CheckConstraint(
            "closes_at <= hard_close_at", name=op.f("ck_auction_lots_close_within_extension")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auction_lots")),
        sa.UniqueConstraint("campaign", name=op.f("uq_auction_lots_campaign")),
    )
    op.create_index(
        "ix_auction_lots_status_closes_at", "auction_lots", ["status", "closes_at"], unique=False
    )
    op.create_table(
        "auction_bids",
        sa.Column("id", ID, nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("dealer", sa.String(length=32), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("placed_at", WHEN, nullable=False),
        sa.Column("closes_at", WHEN, nullable=False),
        sa.Column("extended", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lot_id"],
            ["auction_lots.id"],
            name=op.f("fk_auction_bids_lot_id_auction_lots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auction_bids")),
        sa.UniqueConstraint("lot_id", "seq", name=op.f("uq_auction_bids_lot_id")),
    )
    op.create_table(
        "auction_dealer_takes",
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("dealer", sa.String(length=32), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.CheckConstraint("units >= 0", name=op.f("ck_auction_dealer_takes_units_not_negative")),
        sa.ForeignKeyConstraint(
            ["lot_id"],
            ["auction_lots.id"],
            name=op.f("fk_auction_dealer_takes_lot_id_auction_lots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("lot_id", "dealer", name=op.f("pk_auction_dealer_takes")),
    )
    op.create_table(
        "auction_sales",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("dealer", sa.String(length=32), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_fen", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("sold_at", WHEN, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stock_handed_over", sa.Boolean(), nullable=False),
        sa.Column("order_number", sa.String(length=32), nullable=True),
        sa.Column("failure", sa.String(length=300), nullable=True),
        sa.Column("settled_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["lot_id"],
            ["auction_lots.id"],
            name=op.f("fk_auction_sales_lot_id_auction_lots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auction_sales")),
    )
    op.create_index("ix_auction_sales_lot", "auction_sales", ["lot_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_auction_sales_lot", table_name="auction_sales")
    op.drop_table("auction_sales")
    op.drop_table("auction_dealer_takes")
    op.drop_table("auction_bids")
    op.drop_index("ix_auction_lots_status_closes_at", table_name="auction_lots")
    op.drop_table("auction_lots")
