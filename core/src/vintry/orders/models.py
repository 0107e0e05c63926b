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
