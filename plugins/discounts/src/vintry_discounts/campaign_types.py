"""The four campaign types of the plugin: their configuration models and their guardrails.

Money is ``Decimal`` yuan with at most two places. ``skus`` and ``categories`` scope a
campaign to the cart lines of those SKUs or of products in those categories (the product's
own category; a parent category does not include its children); both empty means the whole
cart where a type allows it.

Each type's ``lowest_*`` function is the guardrail the kernel holds against HQ's price
floors when a campaign is created: the lowest unit price the configuration can produce for
each SKU it can touch. Order-level discounts are spread over lines in proportion to their
amounts, so a SKU's lowest price under "spend X, save Y" is its price less the largest
share any tier gives (``off / threshold``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from vintry_sdk import CampaignSkuView, CampaignType

SPEND_OFF = "spend-off"
GIFT = "gift"
LIMITED_TIME = "limited-time"
QUANTITY_TIER = "quantity-tier"

FEN = Decimal("0.01")
HUNDRED = Decimal(100)


def _two_places(value: Decimal) -> Decimal:
    """Amounts are stored and shown with exactly two places (``"350"`` → ``350.00``)."""
    return value.quantize(FEN)


Yuan = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2), AfterValidator(_two_places)]
"""Yuan, more than zero, at most two places."""
Percent = Annotated[
    Decimal, Field(gt=0, lt=100, max_digits=5, decimal_places=2), AfterValidator(_two_places)
]
"""A percentage strictly between 0 and 100, at most two places."""
SkuCode = Annotated[str, StringConstraints(min_length=1, max_length=32)]
CategoryCode = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class Scope(BaseModel):
    """The lines a campaign looks at: of these SKUs, or of products in these categories."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    skus: list[SkuCode] = Field(default_factory=list, max_length=200)
    categories: list[CategoryCode] = Field(default_factory=list, max_length=50)

    @property
    def whole_cart(self) -> bool:
        """Whether no SKU nor category narrows it."""
        return not self.skus and not self.categories

    def covers(self, sku: str, category: str) -> bool:
        """Whether a line of *sku* (a product of *category*) is in scope."""
        return self.whole_cart or sku in self.skus or category in self.categories

    def _require_narrowed(self) -> None:
        if self.whole_cart:
            raise ValueError("name at least one SKU or category in skus or categories")

    def named_skus(self) -> dict[str, str]:
        """SKU code → the field naming it, for the kernel's existence checks."""
        return {code: f"config.skus.{index}" for index, code in enumerate(self.skus)}


def _fen_floor(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_FLOOR)


def percent_of(price: Decimal, percent: Decimal) -> Decimal:
    """*percent* of *price*, to the fen, half up: the discount per unit."""
    return (price * percent / HUNDRED).quantize(FEN, rounding=ROUND_HALF_UP)


# --- spend X, save Y ---------------------------------------------------------------------


class SpendTier(BaseModel):
    """Spend at least ``threshold`` (on the lines in scope), save ``off``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: Yuan
    off: Yuan

    @model_validator(mode="after")
    def _less_than_spent(self) -> Self:
        if self.off >= self.threshold:
            raise ValueError("off must be less than the threshold")
        return self


class SpendOffConfig(Scope):
    """Tiered spend-X-save-Y: the highest tier reached applies.

    With ``repeat`` it is "for every X spent, save Y": the tier's saving is multiplied by
    the number of whole thresholds spent (the best tier for the dealer wins), capped at
    ``max_off`` when set.
    """

    tiers: list[SpendTier] = Field(min_length=1, max_length=10)
    repeat: bool = False
    max_off: Yuan | None = None

    @model_validator(mode="after")
    def _increasing(self) -> Self:
        for lower, higher in zip(self.tiers, self.tiers[1:], strict=False):
            if higher.threshold <= lower.threshold or higher.off <= lower.off:
                raise ValueError("tiers must rise in both threshold and off")
        return self

    def saving(self, spent: Decimal) -> tuple[Decimal, SpendTier | None, int]:
        """What *spent* saves: the amount, the tier and how many times it applies."""
        best: tuple[Decimal, SpendTier | None, int] = (Decimal(0), None, 0)
        for tier in self.tiers:
            if spent < tier.threshold:
                continue
            times = int(spent // tier.threshold) if self.repeat else 1
            value = tier.off * times
            if self.max_off is not None:
                value = min(value, self.max_off)
            if value > best[0]:
                best = (value, tier, times)
        return best

    @property
    def steepest(self) -> Decimal:
        """The largest share of spending any tier gives back."""
        return max(tier.off / tier.threshold for tier in self.tiers)


def lowest_spend_off(
    config: SpendOffConfig, skus: Sequence[CampaignSkuView]
) -> Mapping[str, Decimal]:
    """Each SKU in scope at its price less the steepest tier's share."""
    ratio = config.steepest
    return {
        sku.sku: _fen_floor(sku.unit_price * (1 - ratio))
        for sku in skus
        if config.covers(sku.sku, sku.category)
    }


def describe_spend_off(config: SpendOffConfig) -> str:
    """'Spend 10000.00, save 500.00; spend 20000.00, save 1200.00'."""
    word = "for every" if config.repeat else "spend"
    parts = [f"{word} {tier.threshold}, save {tier.off}" for tier in config.tiers]
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + (f" (at most {config.max_off})" if config.max_off else "")


# --- gift with purchase ------------------------------------------------------------------


class GiftConfig(Scope):
    """Spend ``threshold`` and/or buy ``min_quantity`` units (of the lines in scope) and get
    ``gift_quantity`` of ``gift_sku`` free; with ``repeat``, one gift set per whole multiple
    reached, at most ``max_sets``."""

    threshold: Yuan | None = None
    min_quantity: int | None = Field(default=None, ge=1, le=100_000)
    gift_sku: SkuCode
    gift_quantity: int = Field(default=1, ge=1, le=1000)
    repeat: bool = False
    max_sets: int | None = Field(default=None, ge=1, le=1000)

    @model_validator(mode="after")
    def _has_a_condition(self) -> Self:
        if self.threshold is None and self.min_quantity is None:
            raise ValueError("set a threshold, a min_quantity, or both")
        return self

    def sets(self, spent: Decimal, units: int) -> int:
        """How many gift sets *spent* yuan and *units* earn (0: condition not met)."""
        counts = []
        if self.threshold is not None:
            counts.append(int(spent // self.threshold))
        if self.min_quantity is not None:
            counts.append(units // self.min_quantity)
        earned = min(counts)
        if earned == 0:
            return 0
        if not self.repeat:
            return 1
        return min(earned, self.max_sets) if self.max_sets is not None else earned


def lowest_gift(config: GiftConfig, skus: Sequence[CampaignSkuView]) -> Mapping[str, Decimal]:
    """The gift is given at zero; nothing else is discounted."""
    return {config.gift_sku: Decimal(0)}


def gift_skus(config: GiftConfig) -> Mapping[str, str]:
    """The gift and the SKUs in scope must exist and be offered at the site."""
    return {**config.named_skus(), config.gift_sku: "config.gift_sku"}


def describe_gift(config: GiftConfig) -> str:
    """'Spend 5000.00: 2 x GLASS-6 free'."""
    conditions = []
    if config.threshold is not None:
        conditions.append(f"spend {config.threshold}")
    if config.min_quantity is not None:
        conditions.append(f"buy {config.min_quantity} units")
    text = f"{' and '.join(conditions)}: {config.gift_quantity} x {config.gift_sku} free"
    return text[0].upper() + text[1:] + (", for every multiple" if config.repeat else "")


# --- limited-time discount -----------------------------------------------------------------


class LimitedTimeConfig(Scope):
    """For the campaign's window, SKUs or categories at ``percent_off`` or at
    ``fixed_price``; ``max_units`` limits the discounted units per line."""

    percent_off: Percent | None = None
    fixed_price: Yuan | None = None
    max_units: int | None = Field(default=None, ge=1, le=100_000)

    @model_validator(mode="after")
    def _one_offer(self) -> Self:
        self._require_narrowed()
        if (self.percent_off is None) == (self.fixed_price is None):
            raise ValueError("set exactly one of percent_off and fixed_price")
        return self

    def unit_discount(self, unit_price: Decimal) -> Decimal:
        """The discount on one unit priced *unit_price* (0 when the offer is no better)."""
        if self.percent_off is not None:
            return percent_of(unit_price, self.percent_off)
        assert self.fixed_price is not None
        return max(unit_price - self.fixed_price, Decimal(0))


def lowest_limited_time(
    config: LimitedTimeConfig, skus: Sequence[CampaignSkuView]
) -> Mapping[str, Decimal]:
    """Each SKU in scope at its discounted price."""
    return {
        sku.sku: sku.unit_price - config.unit_discount(sku.unit_price)
        for sku in skus
        if config.covers(sku.sku, sku.category)
    }


def describe_limited_time(config: LimitedTimeConfig) -> str:
    """'20.00% off FT-500, BAIJIU' or 'FT-500 at 1299.00'."""
    what = ", ".join([*config.skus, *config.categories])
    if config.percent_off is not None:
        return f"{config.percent_off}% off {what}"
    return f"{what} at {config.fixed_price}"


# --- quantity tier pricing -----------------------------------------------------------------


class QuantityTier(BaseModel):
    """From ``min_quantity`` units of a line: ``percent_off`` or a ``unit_price``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_quantity: int = Field(ge=2, le=100_000)
    percent_off: Percent | None = None
    unit_price: Yuan | None = None

    @model_validator(mode="after")
    def _one_offer(self) -> Self:
        if (self.percent_off is None) == (self.unit_price is None):
            raise ValueError("set exactly one of percent_off and unit_price")
        return self

    def unit_discount(self, price: Decimal) -> Decimal:
        """The discount on one unit priced *price*."""
        if self.percent_off is not None:
            return percent_of(price, self.percent_off)
        assert self.unit_price is not None
        return max(price - self.unit_price, Decimal(0))


class QuantityTierConfig(Scope):
    """Price breaks by the quantity of each line in scope: the highest tier reached
    applies to every unit of the line."""

    tiers: list[QuantityTier] = Field(min_length=1, max_length=10)

    @model_validator(mode="after")
    def _increasing(self) -> Self:
        self._require_narrowed()
        quantities = [tier.min_quantity for tier in self.tiers]
        if quantities != sorted(set(quantities)):
            raise ValueError("tiers must rise in min_quantity")
        return self

    def tier_for(self, quantity: int) -> QuantityTier | None:
        """The highest tier *quantity* reaches."""
        reached = [tier for tier in self.tiers if quantity >= tier.min_quantity]
        return reached[-1] if reached else None


def lowest_quantity_tier(
    config: QuantityTierConfig, skus: Sequence[CampaignSkuView]
) -> Mapping[str, Decimal]:
    """Each SKU in scope at the price of its most generous tier."""
    return {
        sku.sku: sku.unit_price - max(tier.unit_discount(sku.unit_price) for tier in config.tiers)
        for sku in skus
        if config.covers(sku.sku, sku.category)
    }


def describe_quantity_tier(config: QuantityTierConfig) -> str:
    """'6+ units: 5.00% off; 12+ units: 10.00% off'."""
    parts = []
    for tier in config.tiers:
        offer = f"{tier.percent_off}% off" if tier.percent_off else f"{tier.unit_price} each"
        parts.append(f"{tier.min_quantity}+ units: {offer}")
    return "; ".join(parts)


CAMPAIGN_TYPES = (
    CampaignType(
        name=SPEND_OFF,
        title="Spend X, save Y",
        description="Tiered order discounts, optionally 'for every X spent'.",
        config_model=SpendOffConfig,
        lowest_unit_prices=lowest_spend_off,
        referenced_skus=lambda config: config.named_skus(),
        describe=describe_spend_off,
    ),
    CampaignType(
        name=GIFT,
        title="Gift with purchase",
        description="A free SKU (its stock held like any line) above a spend or quantity.",
        config_model=GiftConfig,
        lowest_unit_prices=lowest_gift,
        referenced_skus=gift_skus,
        describe=describe_gift,
    ),
    CampaignType(
        name=LIMITED_TIME,
        title="Limited-time discount",
        description="A percentage off, or a fixed price, on SKUs or categories.",
        config_model=LimitedTimeConfig,
        lowest_unit_prices=lowest_limited_time,
        referenced_skus=lambda config: config.named_skus(),
        describe=describe_limited_time,
    ),
    CampaignType(
        name=QUANTITY_TIER,
        title="Quantity tier pricing",
        description="Price breaks by the number of units of a line.",
        config_model=QuantityTierConfig,
        lowest_unit_prices=lowest_quantity_tier,
        referenced_skus=lambda config: config.named_skus(),
        describe=describe_quantity_tier,
    ),
)
