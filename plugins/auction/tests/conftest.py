"""Two regions — east with the auction plugin on, south without — each with FT-500 in
stock, an operator and three dealers (``vintry_sdk.testing.campaigns``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from vintry_sdk import ManualClock, Platform
from vintry_sdk.testing import VintryFactory
from vintry_sdk.testing.campaigns import EAST, FEITIAN, SOUTH, CampaignWorld, campaign_world

from vintry_auction import PLUGIN_NAME

__all__ = ["EAST", "SKU", "SOUTH", "UNITS", "Mall"]

SKU, UNITS = FEITIAN.code, FEITIAN.units


class Mall(CampaignWorld):
    """The world, with auctions."""

    def auction(
        self,
        type_: str,
        config: dict[str, Any],
        *,
        code: str = "AUC-1",
        site: str = EAST,
        minutes: float = 60,
        starts_in: timedelta = timedelta(0),
        publish: bool = True,
    ) -> dict[str, Any]:
        """Create (and publish) an auction of *type_* open for *minutes* from now."""
        return self.campaign(
            type_,
            config,
            code=code,
            site=site,
            name=f"{type_} {code}",
            starts_in=starts_in,
            lasts=timedelta(minutes=minutes),
            publish=publish,
        )


@pytest.fixture
def mall(
    vintry_factory: VintryFactory, vintry_platform: Platform, vintry_clock: ManualClock
) -> Mall:
    """east (auction on) and south (off), three dealers and an operator each."""
    return campaign_world(
        vintry_factory, vintry_platform, vintry_clock, plugin=PLUGIN_NAME, world=Mall
    )
