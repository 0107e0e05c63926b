"""Request and response bodies of the group-buy routes; money in yuan (``Decimal``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class JoinIn(BaseModel):
    """The units the calling dealer wants (to open a group, or to join one)."""

    model_config = ConfigDict(extra="forbid")

    quantity: int = Field(ge=1, le=100_000)


class TierOut(BaseModel):
    """A tier of the deal."""

    at: int
    unit_price: Decimal


class MemberOut(BaseModel):
    """A member of a group (its code shown to operators, or where the site allows)."""

    dealer: str | None
    mine: bool
    quantity: int
    joined_at: datetime
    status: str
    order: str | None = None
    failure: str | None = None


class GroupOut(BaseModel):
    """A group and where it stands."""

    code: str
    deal: str
    sku: str
    status: str
    participants: int
    total_quantity: int
    min_participants: int
    min_quantity: int
    max_participants: int | None
    opened_at: datetime
    expires_at: datetime
    succeeded_at: datetime | None
    closed_at: datetime | None
    joinable: bool
    tier_basis: str
    tier_price: Decimal | None = Field(description="The price of the tier reached so far.")
    next_tier: TierOut | None
    members: list[MemberOut]


class DealOut(BaseModel):
    """A group-buy deal and its open groups."""

    code: str
    name: str
    state: str
    sku: str
    tier_basis: str
    tiers: list[TierOut]
    min_participants: int
    min_quantity: int
    group_minutes: int
    starts_at: datetime
    ends_at: datetime
    groups: list[GroupOut]


class SweepOut(BaseModel):
    """What a sweep did at the addressed site."""

    failed: int
    settled: int
    orders_placed: int
    orders_failed: int
    holds_released: int
