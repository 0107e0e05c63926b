"""The ``seckill`` campaign type: one SKU, a limited quantity, a special price.

The kernel stores each flash sale as a campaign of the site (window, targeting, priority,
stacking, budgets, audit); this module gives it its configuration model and its guardrail:
the special price is the lowest unit price the sale can charge, so HQ's floors are held
against it when the campaign is created, edited and published.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from vintry_sdk import CampaignSkuView, CampaignType, to_fen

SECKILL = "seckill"
FEN = Decimal("0.01")


def _two_places(value: Decimal) -> Decimal:
    return value.quantize(FEN)


Yuan = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2), AfterValidator(_two_places)]
"""Yuan, more than zero, at most two places."""


class SeckillConfig(BaseModel):
    """A flash sale: ``quantity`` units of ``sku`` at ``price`` each, at most
    ``per_dealer_limit`` units per dealer across all its attempts and orders."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    price: Yuan = Field(description="The special unit price, in yuan.")
    quantity: int = Field(ge=1, le=10_000_000, description="Units on sale (the quota).")
    per_dealer_limit: int = Field(
        default=1, ge=1, le=100_000, description="Units one dealer may hold or buy in all."
    )
    hold_minutes: int | None = Field(
        default=None,
        ge=1,
        le=24 * 60,
        description="How long a won unit is held for ordering; unset: the site's setting.",
    )

    @property
    def price_fen(self) -> int:
        """The special price in fen."""
        return to_fen(self.price)


def lowest_seckill(config: SeckillConfig, skus: Sequence[CampaignSkuView]) -> Mapping[str, Decimal]:
    """The special price is the lowest this sale ever charges for its SKU."""
    return {config.sku: config.price}


def describe_seckill(config: SeckillConfig) -> str:
    """'FT-500 at 999.00: 100 units, 2 per dealer'."""
    return (
        f"{config.sku} at {config.price}: {config.quantity} units, "
        f"{config.per_dealer_limit} per dealer"
    )


SECKILL_TYPE = CampaignType(
    name=SECKILL,
    title="Flash sale (seckill)",
    description="A limited quantity of one SKU at a special price; dealers grab units, "
    "then order them within the hold time.",
    config_model=SeckillConfig,
    lowest_unit_prices=lowest_seckill,
    referenced_skus=lambda config: {config.sku: "config.sku"},
    describe=describe_seckill,
)
