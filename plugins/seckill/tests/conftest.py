"""Two regions — east with seckill on, south without — each with 500 units of FT-500, an
operator and a gold, a silver and a bronze dealer (``vintry_sdk.testing.campaigns``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from vintry.dealers.models import DealerTier
from vintry_sdk import ManualClock, Platform
from vintry_sdk.testing import VintryFactory
from vintry_sdk.testing.campaigns import (
    EAST,
    SOUTH,
    CampaignWorld,
    StockedSku,
    campaign_world,
    stock_catalog,
)
from vintry_sdk.testing.campaigns import (
    FEITIAN as FEITIAN_SKU,
)

from vintry_seckill import PLUGIN_NAME

__all__ = ["EAST", "FEITIAN", "SOUTH", "STOCK", "Mall", "catalog", "error_code"]

STOCK = 500
FEITIAN = FEITIAN_SKU.code
"""Feitian at 1499.00, :data:`STOCK` units in each region's warehouse."""
SKUS = (StockedSku(FEITIAN, FEITIAN_SKU.price_fen, units=STOCK),)


class Mall(CampaignWorld):
    """The world, with flash sales."""

    def sale(
        self, code: str = "FLASH", *, site: str = EAST, publish: bool = True, **config: Any
    ) -> dict[str, Any]:
        """Create (and publish) a flash sale of FT-500 at 999.00, live for a day from now."""
        defaults = {"sku": FEITIAN, "price": "999.00", "quantity": 3, "per_dealer_limit": 2}
        return self.campaign(
            "seckill",
            {**defaults, **config},
            code=code,
            site=site,
            name=f"Flash {code}",
            publish=publish,
        )

    def grab(self, dealer: str, code: str = "FLASH", quantity: int | None = None) -> Any:
        """*dealer*'s attempt on sale *code*."""
        body = None if quantity is None else {"quantity": quantity}
        return self.dealer[dealer].post(f"/api/v1/x/seckill/sales/{code}/attempts", json=body)

    def status(self, code: str = "FLASH", site: str = EAST) -> dict[str, Any]:
        """The sale's counter, as the operator reads it."""
        response = self.operator[site].get(f"/api/v1/x/seckill/sales/{code}")
        assert response.status_code == 200, response.text
        return dict(response.json())


def error_code(response: Any) -> str:
    """The error code of a refused response."""
    return str(response.json()["error"]["code"])


def catalog(platform: Platform, regions: Mapping[str, int]) -> None:
    """FT-500 with :data:`STOCK` units in a warehouse of each region."""
    stock_catalog(platform, regions, SKUS)


@pytest.fixture
def mall(
    vintry_factory: VintryFactory, vintry_platform: Platform, vintry_clock: ManualClock
) -> Mall:
    """east (seckill on) and south (off), with a gold, a silver and a bronze dealer each."""
    return campaign_world(
        vintry_factory,
        vintry_platform,
        vintry_clock,
        plugin=PLUGIN_NAME,
        world=Mall,
        skus=SKUS,
        dealers=(DealerTier.GOLD, DealerTier.SILVER, DealerTier.BRONZE),
    )
