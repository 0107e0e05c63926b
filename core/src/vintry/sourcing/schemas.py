"""Request and response bodies of the sourcing routes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from vintry.orders.schemas import SkuCode
from vintry.sites.schemas import RequestModel


class RuleSetOut(BaseModel):
    """The rule set in force at a site, who set it, and the site's own (if any)."""

    site: str
    decided_by: str | None = Field(description="The site whose rule set applies; None: built in.")
    rule_set: dict[str, Any]
    own: dict[str, Any] | None


class RuleSetIn(RequestModel):
    """A rule set as sent: its two parts; each rule is validated by the kernel's rule
    language so that a refusal names the rule and its field."""

    rules: list[dict[str, Any]] = Field(default_factory=list, max_length=100)
    default: dict[str, Any]


class DryRunLine(RequestModel):
    """Units of one SKU."""

    sku: SkuCode
    quantity: int = Field(ge=1, le=100_000)


class DryRunIn(RequestModel):
    """An order to source without placing it."""

    dealer: str = Field(min_length=1, max_length=32)
    lines: list[DryRunLine] = Field(min_length=1, max_length=200)


class AllocationOut(BaseModel):
    """Units of one SKU from one warehouse."""

    sku: str
    warehouse: str
    quantity: int


class FallbackOut(BaseModel):
    """A strategy that failed for the order, and why."""

    strategy: str
    plugin: str | None
    reason: str


class WarehouseConsidered(BaseModel):
    """A warehouse the chosen rule let the strategy use."""

    code: str
    region: str | None
    priority: int
    distance_km: float | None
    available: dict[str, int]
    ships: bool


class DryRunOut(BaseModel):
    """Which warehouses would ship this order, and why."""

    site: str
    dealer: str
    amount: Decimal
    rule_set_from: str | None
    rule: str
    why: str
    requested_strategy: str
    strategy: str
    fallback: list[FallbackOut]
    allocations: list[AllocationOut]
    explanation: str
    cost: float
    warehouses: list[WarehouseConsidered]


class StrategyOut(BaseModel):
    """A registered strategy and how it has fared in the worker that answered."""

    name: str
    plugin: str
    builtin: bool
    calls: int
    faults: int
    consecutive_faults: int
    last_fault: str | None
    last_fault_site: str | None
    last_fault_at: datetime | None
    paused_until: datetime | None


class MatchAccuracyOut(BaseModel):
    """Orders served from the least-cost warehouse set, replayed against the reference."""

    reference: str
    evaluated: int
    optimal: int
    same_set: int
    accuracy: float | None = Field(description="optimal ÷ evaluated (None: nothing evaluated).")
    skipped: int = Field(description="Orders without a stored snapshot, or failed replays.")


class CycleTimeOut(BaseModel):
    """Placement to delivery (the last shipment signed for), in hours."""

    delivered: int
    mean_hours: float | None
    p50_hours: float | None
    p90_hours: float | None
    within_two_days: float | None = Field(description="Share delivered within 48 hours.")


class KpisOut(BaseModel):
    """Sourcing and fulfilment KPIs of the addressed subtree over a period."""

    site: str
    since: datetime | None
    until: datetime | None
    match_accuracy: MatchAccuracyOut
    cycle_time: CycleTimeOut
