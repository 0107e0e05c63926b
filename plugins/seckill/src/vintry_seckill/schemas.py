"""What the plugin's routes accept and answer (pydantic v2). Money is ``Decimal`` yuan."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AttemptRequest(BaseModel):
    """A dealer's grab: how many units (the body may be omitted or empty: one unit)."""

    model_config = ConfigDict(extra="forbid")

    quantity: int = Field(default=1, ge=1, le=100_000, description="Units to hold.")


class HoldOut(BaseModel):
    """Units held for a dealer at the special price."""

    id: int
    campaign: str
    dealer: str
    sku: str
    quantity: int
    unit_price: Decimal = Field(description="The special unit price, in yuan.")
    status: Literal["held", "ordered", "paid", "expired", "cancelled"]
    created_at: datetime
    expires_at: datetime = Field(description="Unordered after this, the units return.")
    order_number: str | None = None


class SaleStatus(BaseModel):
    """A flash sale's counter: how much is left, how much is held, ordered, paid."""

    campaign: str
    name: str
    sku: str
    price: Decimal
    state: str = Field(description="The campaign's state: draft, scheduled, live, ended...")
    starts_at: datetime
    ends_at: datetime
    quota: int
    per_dealer_limit: int
    taken: int = Field(description="Units held, ordered or paid.")
    remaining: int
    held: int
    ordered: int
    paid: int
    sold_out: bool
    backend: Literal["sql", "redis"] = Field(description="Where attempts are counted first.")
    redis: dict[str, int] | None = Field(
        default=None, description="The Redis hash's counters (operators), when Redis is used."
    )


class ExpiryReport(BaseModel):
    """What a sweep of expired holds returned to the quotas."""

    site: str
    holds: int
    units: int
