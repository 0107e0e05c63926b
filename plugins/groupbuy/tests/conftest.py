"""Two regions — east with the group-buy plugin on, south without — each with FT-500 in
stock, an operator and four dealers (``vintry_sdk.testing.campaigns``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from vintry_sdk import ManualClock, Platform
from vintry_sdk.testing import VintryFactory
from vintry_sdk.testing.campaigns import EAST, FEITIAN, SOUTH, CampaignWorld, campaign_world

from vintry_groupbuy import PLUGIN_NAME

__all__ = ["EAST", "SKU", "SOUTH", "UNITS", "Mall"]

SKU, UNITS = FEITIAN.code, FEITIAN.units


class Mall(CampaignWorld):
    """The world, with group-buy deals."""

    def deal(
        self,
        config: dict[str, Any],
        *,
        code: str = "GB-1",
        site: str = EAST,
        minutes: float = 24 * 60,
    ) -> dict[str, Any]:
        """Create and publish a group-buy deal, live from now for *minutes*."""
        return self.campaign(
            "group-buy",
            config,
            code=code,
            site=site,
            name=f"Group buy {code}",
            lasts=timedelta(minutes=minutes),
        )


@pytest.fixture
def mall(
    vintry_factory: VintryFactory, vintry_platform: Platform, vintry_clock: ManualClock
) -> Mall:
    """east (group buy on) and south (off), four dealers and an operator each."""
    return campaign_world(
        vintry_factory, vintry_platform, vintry_clock, plugin=PLUGIN_NAME, world=Mall, dealers=4
    )
