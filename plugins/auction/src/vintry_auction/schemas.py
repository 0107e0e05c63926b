"""Request and response bodies of the auction routes; money in yuan (``Decimal``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Price = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)]


class BidIn(BaseModel):
    """A bid: the unit price offered for every unit of the lot."""

    model_config = ConfigDict(extra="forbid")

    amount: Price


class PurchaseIn(BaseModel):
    """Take units of a Dutch lot at the price in force.

    ``expected_price`` (optional) is the price the dealer saw: if the step moved since, the
    purchase is refused with 409 ``price_changed`` instead of buying at another price.
    """

    model_config = ConfigDict(extra="forbid")

    quantity: int = Field(ge=1, le=100_000)
    expected_price: Price | None = None


class BidOut(BaseModel):
    """An accepted bid."""

    seq: int
    amount: Decimal
    placed_at: datetime
    closes_at: datetime
    extended: bool
    dealer: str | None = Field(default=None, description="Shown to operators only.")
    mine: bool = False


class SaleOut(BaseModel):
    """Units sold to a dealer and the order charging for them."""

    id: int
    quantity: int
    unit_price: Decimal
    step: int | None
    sold_at: datetime
    status: str
    order: str | None
    failure: str | None
    dealer: str | None = None


class AuctionOut(BaseModel):
    """An auction as dealers (and, with more detail, operators) see it."""

    code: str
    name: str
    type: str
    state: str = Field(description="The campaign's state: scheduled, live, ended, cancelled.")
    lot_status: str = Field(description="opening, open, unavailable, sold, unsold, cancelled.")
    sku: str
    quantity: int
    remaining: int
    opens_at: datetime
    closes_at: datetime = Field(description="The end in force (a soft close moves it).")
    scheduled_close: datetime
    bidding_open: bool
    current_price: Decimal | None = Field(
        description="English: the leading bid; Dutch: the price in force now."
    )
    next_minimum_bid: Decimal | None = None
    reserve_met: bool | None = None
    reserve_price: Decimal | None = None
    extensions: int = 0
    bid_count: int = 0
    leading: bool | None = Field(default=None, description="Whether the caller leads.")
    leader: str | None = Field(default=None, description="Shown to operators only.")
    step: int | None = None
    next_step_at: datetime | None = None
    floor_price: Decimal | None = None
    note: str | None = None
    bids: list[BidOut] = Field(default_factory=list)
    sales: list[SaleOut] = Field(default_factory=list)


class SweepOut(BaseModel):
    """What a sweep did at the addressed site."""

    opened: int
    closed: int
    orders_placed: int
    orders_failed: int
