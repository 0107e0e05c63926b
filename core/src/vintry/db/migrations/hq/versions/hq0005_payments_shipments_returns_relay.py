"""payments, shipments, returns, relay

Revision ID: hq0005
Revises: hq0004
Create Date: 2026-11-25 11:53:18.793369
"""

from collections.abc import Sequence

import sqlalchemy as sa
import vintry.db.base
from alembic import op

revision: str = "hq0005"
down_revision: str | Sequence[str] | None = "hq0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "relay_cursors",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", name=op.f("pk_relay_cursors")),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("site", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failed_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", vintry.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["outbox.id"], name=op.f("fk_dead_letters_event_id_outbox")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
        sa.UniqueConstraint("event_id", "consumer", name=op.f("uq_dead_letters_event_id_consumer")),
    )
    op.create_table(
        "dealer_credit",
        sa.Column("dealer_id", sa.Integer(), nullable=False),
        sa.Column("limit_fen", sa.Integer(), nullable=False),
        sa.Column("used_fen", sa.Integer(), nullable=False),
        sa.Column("updated_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("limit_fen >= 0", name=op.f("ck_dealer_credit_limit_not_negative")),
        sa.CheckConstraint(
            "used_fen <= limit_fen", name=op.f("ck_dealer_credit_used_within_limit")
        ),
        sa.CheckConstraint("used_fen >= 0", name=op.f("ck_dealer_credit_used_not_negative")),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["dealers.id"], name=op.f("fk_dealer_credit_dealer_id_dealers")
        ),
        sa.PrimaryKeyConstraint("dealer_id", name=op.f("pk_dealer_credit")),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("created_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_payments_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_order_id"), ["order_id"], unique=False)

    op.create_table(
        "returns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason_code", sa.String(length=32), nullable=False),
        sa.Column("reason_text", sa.String(length=500), nullable=True),
        sa.Column("requested_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", vintry.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("refund_fen", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["dealers.id"], name=op.f("fk_returns_dealer_id_dealers")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_returns_order_id_orders")
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_returns_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_returns")),
        sa.UniqueConstraint("number", name=op.f("uq_returns_number")),
    )
    with op.batch_alter_table("returns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_returns_order_id"), ["order_id"], unique=False)
        batch_op.create_index("ix_returns_site_status", ["site_id", "status"], unique=False)

    op.create_table(
        "shipments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("warehouse_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("shipped_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("estimated_arrival", vintry.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", vintry.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_shipments_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["warehouse_id"], ["warehouses.id"], name=op.f("fk_shipments_warehouse_id_warehouses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipments")),
        sa.UniqueConstraint("number", name=op.f("uq_shipments_number")),
    )
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shipments_order_id"), ["order_id"], unique=False)

    op.create_table(
        "return_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("return_id", sa.Integer(), nullable=False),
        sa.Column("order_line_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("disposition", sa.String(length=16), nullable=True),
        sa.Column("warehouse_id", sa.Integer(), nullable=True),
        sa.Column("refund_fen", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_return_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["order_line_id"],
            ["order_lines.id"],
            name=op.f("fk_return_lines_order_line_id_order_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["return_id"], ["returns.id"], name=op.f("fk_return_lines_return_id_returns")
        ),
        sa.ForeignKeyConstraint(
            ["warehouse_id"],
            ["warehouses.id"],
            name=op.f("fk_return_lines_warehouse_id_warehouses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_lines")),
    )
    with op.batch_alter_table("return_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_return_lines_return_id"), ["return_id"], unique=False)

    op.create_table(
        "tracking_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("node", sa.String(length=32), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["shipment_id"], ["shipments.id"], name=op.f("fk_tracking_events_shipment_id_shipments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_events")),
    )
    with op.batch_alter_table("tracking_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tracking_events_shipment_id"), ["shipment_id"], unique=False
        )

    op.create_table(
        "shipment_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("order_line_id", sa.Integer(), nullable=False),
        sa.Column("allocation_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_shipment_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["allocation_id"],
            ["order_allocations.id"],
            name=op.f("fk_shipment_lines_allocation_id_order_allocations"),
        ),
        sa.ForeignKeyConstraint(
            ["order_line_id"],
            ["order_lines.id"],
            name=op.f("fk_shipment_lines_order_line_id_order_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"], ["shipments.id"], name=op.f("fk_shipment_lines_shipment_id_shipments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment_lines")),
    )
    with op.batch_alter_table("shipment_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shipment_lines_shipment_id"), ["shipment_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("shipment_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shipment_lines_shipment_id"))

    op.drop_table("shipment_lines")
    with op.batch_alter_table("tracking_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracking_events_shipment_id"))

    op.drop_table("tracking_events")
    with op.batch_alter_table("return_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_return_lines_return_id"))

    op.drop_table("return_lines")
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shipments_order_id"))

    op.drop_table("shipments")
    with op.batch_alter_table("returns", schema=None) as batch_op:
        batch_op.drop_index("ix_returns_site_status")
        batch_op.drop_index(batch_op.f("ix_returns_order_id"))

    op.drop_table("returns")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_order_id"))

    op.drop_table("payments")
    op.drop_table("dealer_credit")
    op.drop_table("dead_letters")
    op.drop_table("relay_cursors")
