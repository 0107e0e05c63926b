"""What the analytics API accepts and answers (pydantic v2). Money is Decimal yuan."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

# --- ingestion ------------------------------------------------------------------------------


class EventBatch(BaseModel):
    """A batch of tracked events; each is validated on its own (see ``ClientEvent``)."""

    events: list[Any] = Field(min_length=1, max_length=1000)


class Rejection(BaseModel):
    """An event that was not stored, and why."""

    index: int = Field(description="Position of the event in the batch.")
    id: str | None = Field(description="The event's client id, when it had one.")
    code: str = Field(description="Stable reason, e.g. unknown_type, rate_limited.")
    field: str | None = Field(description="The input at fault, e.g. events.3.sku.")
    message: str


class RateLimitOut(BaseModel):
    """The caller's budget for the current minute after this batch."""

    limit: int
    remaining: int
    resets_at: dt.datetime


class IngestReport(BaseModel):
    """The outcome of a batch: stored, already stored, refused."""

    received: int
    accepted: int
    duplicates: list[int] = Field(description="Indexes of events whose id was stored before.")
    rejected: list[Rejection]
    rate_limit: RateLimitOut


# --- funnels and trends ----------------------------------------------------------------------


class FunnelStepOut(BaseModel):
    """One step of a funnel."""

    step: int
    type: str
    count: int = Field(description="Entrants reaching this step.")
    conversion_from_start: float
    conversion_from_previous: float
    drop_off: int = Field(description="Entrants of the previous step who did not reach this one.")
    median_ms_from_previous: float | None


class FunnelGroupOut(BaseModel):
    """A funnel over one set of entrants (all, or one group of a breakdown)."""

    key: str
    entrants: int
    steps: list[FunnelStepOut]


class FunnelReport(BaseModel):
    """A funnel over the sites the caller sees."""

    steps: list[str]
    window_hours: float
    start: dt.datetime
    end: dt.datetime
    sites: list[str]
    overall: FunnelGroupOut
    breakdown: str | None
    groups: list[FunnelGroupOut]


class TrendPoint(BaseModel):
    """Events of one type on one UTC day."""

    day: dt.date
    events: int
    dealers: int


class TrendReport(BaseModel):
    """Daily counts of one event type."""

    type: str
    sites: list[str]
    points: list[TrendPoint]


# --- insights --------------------------------------------------------------------------------


class Period(BaseModel):
    """The period an insight covers, and the one before it when compared."""

    start: dt.datetime
    end: dt.datetime
    previous_start: dt.datetime


class BlockedDemandItem(BaseModel):
    """A SKU dealers of a site look at a lot but rarely order."""

    site: str
    sku: str
    name: str | None
    viewers: int
    views: int
    median_dwell_ms: float | None
    price_comparisons: int
    cart_dealers: int
    cart_units: int
    ordering_dealers: int
    conversion: float
    price: Decimal | None
    base_price: Decimal | None
    available_units: int
    days_of_cover: float | None
    hints: list[str] = Field(description="price, stock, or unclear.")
    evidence: str


class BlockedDemandReport(BaseModel):
    """High interest, low conversion SKUs per site."""

    period: Period
    sites: list[str]
    items: list[BlockedDemandItem]


class SlowMoverItem(BaseModel):
    """A SKU whose regional stock outlasts its sell-through."""

    site: str
    sku: str
    on_hand: int
    available: int
    units_sold: int
    sold_per_day: Decimal
    days_of_cover: float | None = Field(description="None: nothing sold in the period.")
    evidence: str


class SlowMoverReport(BaseModel):
    """Slow-moving SKUs per region (sites with warehouses of their own)."""

    period: Period
    sites: list[str]
    items: list[SlowMoverItem]


class DealerSlowdownItem(BaseModel):
    """A dealer ordering markedly less than in the previous period."""

    site: str
    dealer: str
    name: str
    tier: str
    previous_orders: int
    current_orders: int
    previous_amount: Decimal
    current_amount: Decimal
    drop: float
    last_order_at: dt.datetime | None
    own_stock_units: int | None = Field(description="Received minus reported sold; None: unknown.")
    stock_change_units: int | None = Field(description="Own stock change over the period.")
    sellout_reported: bool
    evidence: str


class DealerSlowdownReport(BaseModel):
    """Dealers whose order frequency dropped."""

    period: Period
    sites: list[str]
    items: list[DealerSlowdownItem]


class ReturnOutlierItem(BaseModel):
    """A SKU returned at a site far more often than everywhere else."""

    site: str
    sku: str
    shipped_units: int
    returned_units: int
    rate: float
    baseline_rate: float
    leading_reason: str
    reasons: dict[str, int]
    evidence: str


class ReturnOutlierReport(BaseModel):
    """Return-rate outliers by site and SKU."""

    period: Period
    sites: list[str]
    items: list[ReturnOutlierItem]


class KpiOut(BaseModel):
    """The seed's KPIs for one site (or all of them)."""

    site: str
    active_dealers: int
    ordering_dealers: int
    previous_ordering_dealers: int
    self_service_rate: float = Field(description="Active dealers who ordered themselves.")
    previous_self_service_rate: float
    orders: int
    sales: Decimal
    previous_sales: Decimal
    sales_change: float | None
    campaign_dealers: int
    previous_campaign_dealers: int
    participation_change: float | None
    campaign_sales: Decimal
    previous_campaign_sales: Decimal
    campaign_uplift: float | None


class KpiReport(BaseModel):
    """KPIs per site and in total."""

    period: Period
    campaign: str | None
    total: KpiOut
    sites: list[KpiOut]


# --- dealers' own stock ----------------------------------------------------------------------


class SellOutLine(BaseModel):
    """Units of a SKU a dealer sold on, under its own reference (invoice number...)."""

    sku: str = Field(min_length=1, max_length=32)
    quantity: int = Field(gt=0, le=1_000_000)
    sold_on: dt.date
    reference: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:/-]+$")


class SellOutBatch(BaseModel):
    """Sell-out lines sent as JSON."""

    lines: list[SellOutLine] = Field(min_length=1, max_length=5000)


class SellOutReceipt(BaseModel):
    """What a sell-out report stored."""

    dealer: str
    recorded: int
    duplicates: list[str] = Field(description="References reported before (not counted twice).")


class DealerStockLine(BaseModel):
    """A dealer's own stock of one SKU."""

    sku: str
    received: int
    sold: int
    on_hand: int


class DealerStockOut(BaseModel):
    """What a dealer holds: received (delivered orders) minus reported sold."""

    dealer: str
    site: str
    sellout_reported: bool
    on_hand: int
    lines: list[DealerStockLine]


class DealerStockReport(BaseModel):
    """Own stock of every dealer the caller sees, largest build-up first."""

    sites: list[str]
    dealers: list[DealerStockOut]


def evidence_text(parts: dict[str, Any]) -> str:
    """``key=value`` pairs joined for the human-readable evidence line."""
    return ", ".join(f"{key}={value}" for key, value in parts.items())
