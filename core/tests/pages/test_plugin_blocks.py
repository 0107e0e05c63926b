"""The promotion plugins' blocks: each lists its plugin's live campaigns for the dealer, with
a countdown and a link, and disappears where its plugin is off or nothing is live."""

from __future__ import annotations

from datetime import timedelta

import pytest
from vintry.clock import ManualClock

from .conftest import EAST, SKUS, Mall

PLUGIN_BLOCKS = {
    "seckill-countdown": "seckill",
    "live-auctions": "auction",
    "open-group-buys": "groupbuy",
    "spend-offers": "discounts",
}


@pytest.fixture
def installed(mall: Mall) -> None:
    missing = [p for p in PLUGIN_BLOCKS.values() if mall.platform.plugins.get(p) is None]
    if missing:
        pytest.skip(f"promotion plugins not installed: {missing}")


@pytest.mark.usefixtures("installed")
def test_each_promotion_plugin_offers_its_block(mall: Mall) -> None:
    types = {t["name"]: t for t in mall.operator[EAST].get("/api/v1/page-blocks").json()}
    for block, plugin in PLUGIN_BLOCKS.items():
        assert types[block]["plugin"] == plugin
        assert types[block]["enabled_here"] is False  # none of them is on in east yet


@pytest.mark.usefixtures("installed")
def test_spend_offers_block_lists_the_live_offers_with_a_countdown(
    mall: Mall, vintry_clock: ManualClock
) -> None:
    mall.factory.enable_plugin("discounts", EAST)
    sections = [
        {
            "key": "deals",
            "blocks": [
                {"key": "spend", "type": "spend-offers", "config": {"title": "Spend & save"}},
                {"key": "note", "type": "notice", "config": {"text": "Welcome"}},
            ],
        }
    ]
    mall.layout(sections=sections)
    mall.publish()
    assert [b["key"] for b in mall.home()["sections"][0]["blocks"]] == ["note"]  # none live

    now = vintry_clock.now()
    created = mall.operator[EAST].post(
        "/api/v1/campaigns",
        json={
            "code": "SPEND-1",
            "type": "spend-off",
            "name": "Spend 1000 save 50",
            "config": {"skus": [SKUS[9]], "tiers": [{"threshold": "1000.00", "off": "50.00"}]},
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(hours=2)).isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    mall.operator[EAST].post("/api/v1/campaigns/SPEND-1/transition", json={"to": "scheduled"})
    vintry_clock.advance(timedelta(minutes=30))
    block = mall.home()["sections"][0]["blocks"][0]
    assert block["key"] == "spend" and block["data"]["title"] == "Spend & save"
    (offer,) = block["data"]["campaigns"]
    assert (offer["code"], offer["ends_in_seconds"], offer["link"]) == (
        "SPEND-1",
        90 * 60,
        "/api/v1/cart",
    )
    # the plugin turned off: the block goes, the page still answers
    mall.factory.enable_plugin("discounts", EAST, state="off")
    assert [b["key"] for b in mall.home()["sections"][0]["blocks"]] == ["note"]
