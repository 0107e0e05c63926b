"""The demo gives regions distinct home pages, one of them with a scheduled festival layout,
and HQ a default for every other mall; seeding twice changes nothing."""

from __future__ import annotations

from datetime import timedelta

from vintry.accounts.principal import Actor
from vintry.clock import ManualClock
from vintry.demo.data import REGIONS
from vintry.demo.pages import FESTIVAL_STARTS_IN
from vintry.demo.seed import seed_demo
from vintry.platform import Platform
from vintry_sdk.testing import VintryFactory

ACTOR = Actor(name="test-demo-pages")
WITH_PAGES = {"shanghai", "guangdong", "beijing", "zhejiang", "tianjin"}


def _keys(page: dict) -> list[str]:
    return [block["type"] for section in page["sections"] for block in section["blocks"]]


def test_demo_regions_have_their_own_home_pages(
    vintry_platform: Platform, vintry_factory: VintryFactory, vintry_clock: ManualClock
) -> None:
    regions = [region for region in REGIONS if region.code in WITH_PAGES]
    report = seed_demo(
        vintry_platform, actor=ACTOR, regions=regions, dealers_per_region=2, orders_per_region=0
    )
    assert report.pages.created == 6, report.pages_skipped
    assert report.pages_skipped == []

    def home(region: str, abbrev: str) -> dict:
        dealer = vintry_factory.client_for("dealer", region, dealer=f"D-{abbrev}-001")
        response = dealer.get("/api/v1/pages/home")
        assert response.status_code == 200, response.text
        return dict(response.json())

    east, south, north = home("shanghai", "SH"), home("guangdong", "GD"), home("beijing", "BJ")
    assert "spend-offers" in _keys(east) and "product-grid" in _keys(east)
    assert "open-group-buys" in _keys(south)
    assert "seckill-countdown" in _keys(north)
    assert len({east["title"], south["title"], north["title"]}) == 3
    other = home("tianjin", "TJ")  # no page of its own: HQ's default
    assert (other["source"], other["template"]) == ("hq_default", "hq-home")

    zhejiang = home("zhejiang", "ZJ")
    assert zhejiang["title"].startswith("浙江商城 Zhejiang")
    vintry_clock.advance(FESTIVAL_STARTS_IN + timedelta(hours=1))
    festival = home("zhejiang", "ZJ")
    assert "Spring Festival" in festival["title"]
    grid = next(b for s in festival["sections"] for b in s["blocks"] if b["type"] == "product-grid")
    shown = [p["sku"] for p in grid["data"]["products"]]
    assert "CS-ZD-53-500-2025" in shown  # the zodiac editions the site offers
    assert all(sku.startswith("CS-ZD-") for sku in shown)

    again = seed_demo(
        vintry_platform, actor=ACTOR, regions=regions, dealers_per_region=2, orders_per_region=0
    )
    assert (again.pages.created, again.pages.present) == (0, 6)
