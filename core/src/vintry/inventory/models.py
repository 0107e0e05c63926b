"""Warehouses, stock per warehouse and SKU, reservations, and the movement ledger."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from vintry.db.base import HQBase
from vintry.db.counters import WAREHOUSES_COUNTER, count_changes


class Warehouse(HQBase):
    """A physical warehouse, located so that sourcing can measure distance."""

    __tablename__ = "warehouses"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    region_site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    latitude: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    priority: Mapped[int] = mapped_column(default=5)
    active: Mapped[bool] = mapped_column(default=True)


class Stock(HQBase):
    """Units of one SKU in one warehouse: on hand, and how many of those are held.

    Available = ``on_hand - reserved``. Constraints are the backstop of the conditional
    updates that change these numbers: neither goes negative and nothing is held that is
    not on hand.
    """

    __tablename__ = "stock"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
        Index("ix_stock_sku", "sku_id"),
    )

    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)


class ReservationStatus(enum.StrEnum):
    """A hold's life: held until committed to shipment, released, or expired."""

    HELD = "held"
    SHIPPED = "shipped"
    RELEASED = "released"
    EXPIRED = "expired"


class Reservation(HQBase):
    """Units of one SKU held in one warehouse for one reference (an order), until expiry."""

    __tablename__ = "reservations"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_reservations_hold", "warehouse_id", "sku_id", "status", "expires_at"),
        Index("ix_reservations_reference", "reference"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(64))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    quantity: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default=ReservationStatus.HELD.value)
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class MovementKind(enum.StrEnum):
    """Why stock moved."""

    RECEIPT = "receipt"
    RESERVE = "reserve"
    RELEASE = "release"
    EXPIRE = "expire"
    SHIP = "ship"
    ADJUST = "adjust"
    RETURN = "return"


class StockMovement(HQBase):
    """One append-only ledger line. Summed per warehouse and SKU, ``on_hand_delta`` equals
    ``Stock.on_hand`` and ``reserved_delta`` equals ``Stock.reserved``."""

    __tablename__ = "stock_movements"
    __table_args__ = (Index("ix_stock_movements_stock", "warehouse_id", "sku_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    kind: Mapped[str] = mapped_column(String(16))
    on_hand_delta: Mapped[int] = mapped_column(default=0)
    reserved_delta: Mapped[int] = mapped_column(default=0)
    reservation_id: Mapped[int | None] = mapped_column(ForeignKey("reservations.id"))
    reference: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(200))


count_changes(Warehouse, WAREHOUSES_COUNTER)
