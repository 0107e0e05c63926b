"""The ``group-buy`` campaign type: a deal dealers form groups on.

A dealer opens a group on a deal with the units it wants; others join with theirs until the
group expires (``group_minutes`` after it opened, never after the deal ends) or is full. The
group **succeeds** once it has ``min_participants`` members and ``min_quantity`` units; when
it closes every member's order is priced at the tier reached — by members or by units,
``tier_basis`` says which. A group that expires without succeeding releases every hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from vintry_sdk import CampaignSkuView, CampaignType

GROUP_BUY = "group-buy"
FEN = Decimal("0.01")


def _two_places(value: Decimal) -> Decimal:
    return value.quantize(FEN)


Yuan = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2), AfterValidator(_two_places)]
SkuCode = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class Tier(BaseModel):
    """From ``at`` members (or units) on, every member pays ``unit_price`` a unit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: int = Field(ge=1, le=1_000_000)
    unit_price: Yuan


class GroupBuyConfig(BaseModel):
    """A group-buy deal on one SKU."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: SkuCode
    tier_basis: Literal["participants", "quantity"] = "participants"
    tiers: list[Tier] = Field(min_length=1, max_length=10)
    min_participants: int = Field(default=2, ge=1, le=10_000)
    min_quantity: int = Field(default=1, ge=1, le=1_000_000)
    min_per_member: int = Field(default=1, ge=1, le=100_000)
    max_per_member: int | None = Field(default=None, ge=1, le=100_000)
    max_participants: int | None = Field(default=None, ge=2, le=10_000)
    group_minutes: int = Field(default=24 * 60, ge=1, le=30 * 24 * 60)
    warehouse: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for lower, higher in zip(self.tiers, self.tiers[1:], strict=False):
            if higher.at <= lower.at or higher.unit_price >= lower.unit_price:
                raise ValueError("tiers must rise in 'at' and fall in unit_price")
        minimum = self.min_participants if self.tier_basis == "participants" else self.min_quantity
        if self.tiers[0].at > minimum:
            raise ValueError(
                f"the first tier (at {self.tiers[0].at}) must be reached by a group that "
                f"succeeds: raise min_{self.tier_basis} to it or lower the tier"
            )
        if self.max_per_member is not None and self.max_per_member < self.min_per_member:
            raise ValueError("max_per_member must not be below min_per_member")
        if self.max_participants is not None and self.max_participants < self.min_participants:
            raise ValueError("max_participants must not be below min_participants")
        return self

    def tier_for(self, participants: int, quantity: int) -> Tier | None:
        """The best tier a group of that size reaches (None below the first)."""
        value = participants if self.tier_basis == "participants" else quantity
        reached = [tier for tier in self.tiers if tier.at <= value]
        return reached[-1] if reached else None


def _lowest(config: GroupBuyConfig, skus: Sequence[CampaignSkuView]) -> Mapping[str, Decimal]:
    return {config.sku: config.tiers[-1].unit_price}


def _describe(config: GroupBuyConfig) -> str:
    unit = "dealers" if config.tier_basis == "participants" else "units"
    tiers = ", ".join(f"{t.at}+ {unit}: {t.unit_price}" for t in config.tiers)
    return f"Group buy of {config.sku} ({tiers} yuan a unit)"


CAMPAIGN_TYPES = (
    CampaignType(
        name=GROUP_BUY,
        title="Group buy",
        description="Dealers open and join groups; once a group has enough members and units "
        "every member's order is priced at the tier reached.",
        config_model=GroupBuyConfig,
        lowest_unit_prices=_lowest,
        referenced_skus=lambda config: {config.sku: "config.sku"},
        describe=_describe,
    ),
)
