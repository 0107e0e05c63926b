"""The two campaign types of the plugin: their configuration models and guardrails.

Every price is a **unit price** in yuan (``Decimal``, two places): an English lot of
``quantity`` units goes to the highest bidder at its bid per unit; a Dutch lot sells its units
piecemeal, each at the step price in force when it is taken.

The guardrail the kernel holds against HQ's price floors is the lowest unit price an auction
can sell at: the reserve (or the opening bid) of an English auction, the floor price of a
Dutch one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from vintry_sdk import CampaignSkuView, CampaignType, to_fen

ENGLISH = "english-auction"
DUTCH = "dutch-auction"
AUCTION_TYPES = (ENGLISH, DUTCH)

FEN = Decimal("0.01")


def _two_places(value: Decimal) -> Decimal:
    return value.quantize(FEN)


Yuan = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2), AfterValidator(_two_places)]
"""Yuan, more than zero, at most two places."""
SkuCode = Annotated[str, StringConstraints(min_length=1, max_length=32)]
WarehouseCode = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class LotConfig(BaseModel):
    """What is sold: units of one SKU, held from the site's warehouses (or one of them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: SkuCode
    quantity: int = Field(ge=1, le=100_000, description="Units in the lot.")
    warehouse: WarehouseCode | None = Field(
        default=None,
        description="Hold the lot in this warehouse only (near-expiry stock sits somewhere "
        "definite); unset: any warehouse serving the site, by priority.",
    )


class EnglishAuctionConfig(LotConfig):
    """Ascending bids for the whole lot; the highest bid at close wins if it meets the reserve.

    A bid landing within ``soft_close_seconds`` of the end moves the end to the bid's time
    plus ``extension_seconds`` — never past the campaign's end plus ``max_extension_minutes``.
    """

    start_price: Yuan = Field(description="The first bid is at least this (per unit).")
    increment: Yuan = Field(description="Each later bid beats the leading one by at least this.")
    reserve_price: Yuan | None = Field(
        default=None, description="Below this the lot is not sold (unset: any bid sells)."
    )
    soft_close_seconds: int = Field(default=120, ge=0, le=86_400)
    extension_seconds: int = Field(default=120, ge=1, le=86_400)
    max_extension_minutes: int = Field(default=60, ge=0, le=7 * 24 * 60)

    @property
    def lowest_price(self) -> Decimal:
        """The least the lot can sell for, per unit."""
        return max(self.start_price, self.reserve_price or self.start_price)


class DutchAuctionConfig(LotConfig):
    """A price stepping down from ``start_price`` by ``step`` every ``interval_seconds`` to
    ``floor_price``; dealers take units at the price in force until the lot is gone."""

    start_price: Yuan
    step: Yuan = Field(description="How much the price drops at each step.")
    interval_seconds: int = Field(ge=1, le=7 * 86_400, description="Time between steps.")
    floor_price: Yuan = Field(description="The price never drops below this.")
    max_per_dealer: int | None = Field(
        default=None, ge=1, le=100_000, description="Units one dealer may take in all."
    )

    @model_validator(mode="after")
    def _descending(self) -> Self:
        if self.floor_price >= self.start_price:
            raise ValueError("floor_price must be below start_price")
        if self.step >= self.start_price:
            raise ValueError("step must be below start_price")
        return self


def dutch_step(opens_at: datetime, now: datetime, interval_seconds: int) -> int:
    """The number of the step in force at *now* (0 at the opening)."""
    if now <= opens_at:
        return 0
    return int((now - opens_at).total_seconds() // interval_seconds)


def dutch_price_fen(*, start_fen: int, step_fen: int, floor_fen: int, step: int) -> int:
    """The unit price at step *step*, in fen: down by one step each time, never under the floor."""
    return max(floor_fen, start_fen - step_fen * step)


def _english_lowest(
    config: EnglishAuctionConfig, skus: Sequence[CampaignSkuView]
) -> Mapping[str, Decimal]:
    return {config.sku: config.lowest_price}


def _dutch_lowest(
    config: DutchAuctionConfig, skus: Sequence[CampaignSkuView]
) -> Mapping[str, Decimal]:
    return {config.sku: config.floor_price}


def _describe_english(config: EnglishAuctionConfig) -> str:
    return (
        f"English auction: {config.quantity} x {config.sku}, bids from {config.start_price} "
        f"yuan a unit, +{config.increment}"
    )


def _describe_dutch(config: DutchAuctionConfig) -> str:
    return (
        f"Dutch auction: {config.quantity} x {config.sku} from {config.start_price} yuan a unit, "
        f"-{config.step} every {config.interval_seconds}s down to {config.floor_price}"
    )


CAMPAIGN_TYPES = (
    CampaignType(
        name=ENGLISH,
        title="English auction",
        description="Ascending bids with a minimum increment, a reserve price and a soft close; "
        "the winner gets an order at its bid.",
        config_model=EnglishAuctionConfig,
        lowest_unit_prices=_english_lowest,
        referenced_skus=lambda config: {config.sku: "config.sku"},
        describe=_describe_english,
    ),
    CampaignType(
        name=DUTCH,
        title="Dutch auction",
        description="A step-down price for a lot of near-expiry stock; each dealer who takes "
        "units gets an order at the step price in force.",
        config_model=DutchAuctionConfig,
        lowest_unit_prices=_dutch_lowest,
        referenced_skus=lambda config: {config.sku: "config.sku"},
        describe=_describe_dutch,
    ),
)


def fen(value: Decimal) -> int:
    """Yuan to integer fen (exact: configs hold at most two places)."""
    return to_fen(value)
