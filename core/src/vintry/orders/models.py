"""Orders, their lines and warehouse allocations, idempotency records and the outbox (HQ);
carts and saga claims (each site's own database)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from vintry.db.base import HQBase, JSONValue, SiteBase


class OrderStatus(enum.StrEnum):
    """Where an order stands. ``placed`` holds its stock; ``cancelled`` released it."""

    PLACED = "placed"
    PAID = "paid"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class Order(HQBase):
    """A dealer's order at a site; amounts in fen."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("total_fen >= 0", name="total_not_negative"),
        CheckConstraint("discount_fen >= 0", name="discount_not_negative"),
        Index("ix_orders_site_dealer", "site_id", "dealer_id", "placed_at"),
        Index("ix_orders_status_pay_by", "status", "pay_by"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    dealer_id: Mapped[int] = mapped_column(ForeignKey("dealers.id"))
    status: Mapped[str] = mapped_column(String(24), default=OrderStatus.PLACED.value)
    subtotal_fen: Mapped[int]
    discount_fen: Mapped[int] = mapped_column(default=0)
    total_fen: Mapped[int]
    pricing: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    sourcing: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    note: Mapped[str | None] = mapped_column(String(500))
    placed_at: Mapped[datetime]
    pay_by: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class OrderLine(HQBase):
    """One SKU of an order, with the prices that applied and what was shipped or returned."""

    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "line_no"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("shipped_quantity <= quantity", name="shipped_within_quantity"),
        CheckConstraint("returned_quantity <= shipped_quantity", name="returned_within_shipped"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    line_no: Mapped[int]
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    sku_code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int]
    base_unit_fen: Mapped[int]
    unit_fen: Mapped[int]
    discount_fen: Mapped[int] = mapped_column(default=0)
    total_fen: Mapped[int]
    shipped_quantity: Mapped[int] = mapped_column(default=0)
    returned_quantity: Mapped[int] = mapped_column(default=0)


class OrderAllocation(HQBase):
    """Units of a line to ship from one warehouse, and the hold that keeps them."""

    __tablename__ = "order_allocations"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    quantity: Mapped[int]
    reservation_id: Mapped[int] = mapped_column(ForeignKey("reservations.id"))


class IdempotencyStatus(enum.StrEnum):
    """An idempotency record is written before any work, and completed with the result."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class IdempotencyRecord(HQBase):
    """The first request made with a key, and the response every retry gets back."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    response_status: Mapped[int | None]
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    lease_until: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class OutboxEvent(HQBase):
    """An event written in the same transaction as the change it describes.

    The relay delivers it at least once, in ``id`` order, to the site read models and to
    plugins' event hooks.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    site: Mapped[str] = mapped_column(String(32), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    created_at: Mapped[datetime]


class CartLine(SiteBase):
    """A line of a dealer's cart at this site (one cart per dealer per site)."""

    __tablename__ = "cart_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    dealer_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    sku_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    quantity: Mapped[int]
    added_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ClaimStatus(enum.StrEnum):
    """A saga claim: pending while HQ commits the order, then confirmed or released."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    RELEASED = "released"


class ResourceClaimRecord(SiteBase):
    """A plugin's claim for an order being placed, kept in the site's database."""

    __tablename__ = "resource_claims"
    __table_args__ = (Index("ix_resource_claims_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_number: Mapped[str] = mapped_column(String(32), index=True)
    plugin: Mapped[str] = mapped_column(String(100))
    resource: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=ClaimStatus.PENDING.value)
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)


class DealerCredit(HQBase):
    """A dealer's credit line: orders paid on credit consume it atomically."""

    __tablename__ = "dealer_credit"
    __table_args__ = (
        CheckConstraint("limit_fen >= 0", name="limit_not_negative"),
        CheckConstraint("used_fen >= 0", name="used_not_negative"),
        CheckConstraint("used_fen <= limit_fen", name="used_within_limit"),
    )

    dealer_id: Mapped[int] = mapped_column(ForeignKey("dealers.id"), primary_key=True)
    limit_fen: Mapped[int] = mapped_column(default=0)
    used_fen: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]


class Payment(HQBase):
    """A payment (or refund, negative) of an order through a provider."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    method: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(100))
    amount_fen: Mapped[int]
    reference: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]


class Shipment(HQBase):
    """Units of an order leaving one warehouse, tracked to the dealer's door."""

    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    status: Mapped[str] = mapped_column(String(24))
    shipped_at: Mapped[datetime]
    estimated_arrival: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    carrier: Mapped[str | None] = mapped_column(String(64))
    service_level: Mapped[str | None] = mapped_column(String(32))
    distance_km: Mapped[float | None]


class ShipmentLine(HQBase):
    """Units of one order line in a shipment."""

    __tablename__ = "shipment_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    allocation_id: Mapped[int] = mapped_column(ForeignKey("order_allocations.id"))
    quantity: Mapped[int]


class TrackingEvent(HQBase):
    """A logistics node a shipment passed (left warehouse, in transfer, out for delivery...)."""

    __tablename__ = "tracking_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    at: Mapped[datetime]
    node: Mapped[str] = mapped_column(String(32))
    location: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(String(500))
    estimated_arrival: Mapped[datetime | None]
    """The shipment's arrival estimate as recomputed after this node."""


class ReturnRequest(HQBase):
    """A dealer's request to return delivered units, with a reason; HQ decides."""

    __tablename__ = "returns"
    __table_args__ = (Index("ix_returns_site_status", "site_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    dealer_id: Mapped[int] = mapped_column(ForeignKey("dealers.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    status: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str] = mapped_column(String(32))
    reason_text: Mapped[str | None] = mapped_column(String(500))
    requested_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    refund_fen: Mapped[int] = mapped_column(default=0)


class ReturnLine(HQBase):
    """Units of one order line being returned, and what becomes of them."""

    __tablename__ = "return_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    quantity: Mapped[int]
    disposition: Mapped[str | None] = mapped_column(String(16))
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouses.id"))
    refund_fen: Mapped[int] = mapped_column(default=0)


class RelayCursor(HQBase):
    """How far a relay consumer has delivered the outbox."""

    __tablename__ = "relay_cursors"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]


class DeadLetter(HQBase):
    """An outbox event a consumer failed to apply after repeated attempts."""

    __tablename__ = "dead_letters"
    __table_args__ = (UniqueConstraint("event_id", "consumer"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"))
    consumer: Mapped[str] = mapped_column(String(100))
    site: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(64))
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int]
    failed_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
