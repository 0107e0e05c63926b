"""Two regions — east with the plugin on, south without — a small catalog in stock, an
operator and a gold and a silver dealer each (``vintry_sdk.testing.campaigns``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from vintry.dealers.models import DealerTier
from vintry_sdk import ManualClock, Platform
from vintry_sdk.testing import VintryFactory
from vintry_sdk.testing.campaigns import EAST, SOUTH, CampaignWorld, StockedSku, campaign_world

from vintry_discounts import PLUGIN_NAME

__all__ = ["EAST", "FEITIAN", "GLASS", "LIGHT", "SMALL", "SOUTH", "Mall", "explained", "line"]

FEITIAN, SMALL, LIGHT, GLASS = "FT-500", "FT-375", "LT-500", "GLASS-6"
"""Feitian 1499.00 and 999.00 (category SAUCE), a light-aroma 299.00 (LIGHT), a glass set
88.00 (GIFTS); 100 units of each spirit per region, 3 glass sets."""
SKUS = (
    StockedSku(FEITIAN, 149_900),
    StockedSku(SMALL, 99_900),
    StockedSku(LIGHT, 29_900, product="LIGHTP", category="LIGHT"),
    StockedSku(GLASS, 8_800, units=3, product="GLASSP", category="GIFTS"),
)


class Mall(CampaignWorld):
    """The world, with discount campaigns live for a week and priced carts."""

    def campaign(  # type: ignore[override]
        self, type_: str, config: dict[str, Any], site: str = EAST, **fields: Any
    ) -> dict[str, Any]:
        """Create and publish a campaign of *type_* (live for a week from now)."""
        return super().campaign(type_, config, site=site, lasts=timedelta(days=7), **fields)

    def cart(self, dealer: str, lines: dict[str, int]) -> dict[str, Any]:
        """*dealer*'s cart holding *lines*, priced."""
        client = self.dealer[dealer]
        client.delete("/api/v1/cart")
        response = None
        for sku, quantity in lines.items():
            response = client.put(f"/api/v1/cart/lines/{sku}", json={"quantity": quantity})
            assert response.status_code == 200, response.text
        assert response is not None
        return dict(response.json())


def explained(cart: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The cart's explanation by campaign code."""
    return {entry["campaign"]: entry for entry in cart["campaigns"]}


def line(cart: dict[str, Any], sku: str) -> dict[str, Any]:
    """The cart's line of *sku*."""
    return next(item for item in cart["lines"] if item["sku"] == sku)


@pytest.fixture
def mall(
    vintry_factory: VintryFactory, vintry_platform: Platform, vintry_clock: ManualClock
) -> Mall:
    """east (discounts on) and south (off), with a gold and a silver dealer each."""
    return campaign_world(
        vintry_factory,
        vintry_platform,
        vintry_clock,
        plugin=PLUGIN_NAME,
        world=Mall,
        skus=SKUS,
        dealers=(DealerTier.GOLD, DealerTier.SILVER),
    )
