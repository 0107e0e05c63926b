"""Warehouses (stock, reservations and the ledger arrive with the ordering core)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from vintry.db.base import HQBase


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
