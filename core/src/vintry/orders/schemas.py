"""Request and response bodies for orders."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from vintry.sites.schemas import RequestModel

SkuCode = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class OrderLineIn(RequestModel):
    """A SKU and how many units."""

    sku: SkuCode
    quantity: int = Field(ge=1, le=100_000)


class PlaceOrder(RequestModel):
    """An order of the calling dealer at the addressed site."""

    lines: list[OrderLineIn] = Field(min_length=1, max_length=200)
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class AllocationOut(BaseModel):
    """Units of a line shipped from one warehouse."""

    warehouse: str
    quantity: int


class OrderLineOut(BaseModel):
    """A line of an order; money in yuan."""

    line_no: int
    sku: str
    name: str
    quantity: int
    base_unit_price: Decimal
    unit_price: Decimal
    discount: Decimal
    total: Decimal
    allocations: list[AllocationOut]


class OrderOut(BaseModel):
    """An order as the API shows it."""

    number: str
    site: str
    dealer: str
    status: str
    subtotal: Decimal
    discount: Decimal
    total: Decimal
    placed_at: datetime
    pay_by: datetime | None
    lines: list[OrderLineOut]
    pricing: dict[str, Any]
    sourcing: dict[str, Any]
