"""The demo's campaigns: one of each promotion plugin, live in its region, launched once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select
from vintry.accounts.principal import Actor
from vintry.audit.models import AuditEntry
from vintry.catalog.models import Sku
from vintry.clock import ManualClock
from vintry.demo.campaigns import DEMO_CAMPAIGNS
from vintry.demo.data import NEAR_EXPIRY_DAYS, REGIONS
from vintry.demo.seed import seed_demo
from vintry.inventory import stock
from vintry.inventory.models import Reservation
from vintry.orders.handover import held_units
from vintry.platform import Platform
from vintry_sdk.testing import VintryFactory

ACTOR = Actor(name="test-demo")
KINDS = {spec.region: spec for spec in DEMO_CAMPAIGNS}
REGIONS_WITH_CAMPAIGNS = [region for region in REGIONS if region.code in KINDS]


def test_the_demo_launches_four_live_campaigns_each_in_its_region_once(
    vintry_platform: Platform, vintry_factory: VintryFactory, vintry_clock: ManualClock
) -> None:
    report = seed_demo(
        vintry_platform,
        actor=ACTOR,
        regions=REGIONS_WITH_CAMPAIGNS,
        dealers_per_region=2,
        orders_per_region=0,
    )
    assert (report.campaigns.created, report.campaigns.present) == (4, 0)
    assert report.campaigns_skipped == []
    assert {spec.plugin for spec in DEMO_CAMPAIGNS} == {
        "discounts",
        "groupbuy",
        "seckill",
        "auction",
    }
    assert len(KINDS) == 4, "each campaign runs in a region of its own"

    for region in REGIONS_WITH_CAMPAIGNS:
        spec = KINDS[region.code]
        operator = vintry_factory.client_for("site_operator", region.code)
        campaign = operator.get(f"/api/v1/campaigns/{spec.code}")
        assert campaign.status_code == 200, campaign.text
        assert (campaign.json()["type"], campaign.json()["state"]) == (spec.type, "live")
        dealer = vintry_factory.client_for("dealer", region.code, dealer=f"D-{region.abbrev}-001")
        seen = dealer.get("/api/v1/campaigns/for-you")
        assert seen.status_code == 200, seen.text
        assert [item["code"] for item in seen.json()] == [spec.code]  # its region's alone

    east = vintry_factory.client_for("dealer", "shanghai", dealer="D-SH-001")
    priced = east.put("/api/v1/cart/lines/CS-FY-53-500", json={"quantity": 3})
    assert priced.status_code == 200, priced.text
    cart = priced.json()
    gift = next(line for line in cart["lines"] if line["sku"] == "CS-GLASS-6")
    assert (gift["quantity"], gift["total"]) == (1, "0.00")
    assert Decimal(cart["total"]) == Decimal("1499.00") * 3

    south = vintry_factory.client_for("dealer", "guangdong", dealer="D-GD-001")
    deals = south.get("/api/v1/x/groupbuy/deals").json()
    assert [deal["code"] for deal in deals] == ["GD-GROUP-GUJIAO"]
    assert [tier["unit_price"] for tier in deals[0]["tiers"]] == ["999.00", "949.00"]

    north = vintry_factory.client_for("site_operator", "beijing")
    sale = north.get("/api/v1/x/seckill/sales/BJ-FLASH-KUNSHA").json()
    assert (sale["state"], sale["quota"], sale["remaining"]) == ("live", 100, 100)

    west = vintry_factory.client_for("dealer", "sichuan", dealer="D-SC-001")
    auction = west.get("/api/v1/x/auction/auctions/SC-DUTCH-QINGMEI").json()
    assert (auction["type"], auction["lot_status"], auction["current_price"]) == (
        "dutch-auction",
        "open",
        "118.00",
    )
    assert held_units(vintry_platform.site("sichuan"), "auction:sichuan:SC-DUTCH-QINGMEI") == 48
    with vintry_platform.hq.reading() as session:
        best_before = session.scalar(select(Sku.best_before).where(Sku.code == "JZ-QM-15-500"))
    today = vintry_clock.now().date()
    assert best_before == today + timedelta(days=NEAR_EXPIRY_DAYS)
    closes = auction["closes_at"][:10]
    assert today.isoformat() <= closes < best_before.isoformat(), "sold before it expires"

    with vintry_platform.hq.reading() as session:
        audited = session.scalar(select(func.count()).select_from(AuditEntry))
        holds = session.scalar(select(func.count()).select_from(Reservation))
    vintry_clock.advance(hours=1)
    again = seed_demo(
        vintry_platform,
        actor=ACTOR,
        regions=REGIONS_WITH_CAMPAIGNS,
        dealers_per_region=2,
        orders_per_region=0,
    )
    assert (again.campaigns.created, again.campaigns.present, again.created) == (0, 4, 0)
    with vintry_platform.hq.reading() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == audited
        assert session.scalar(select(func.count()).select_from(Reservation)) == holds
        assert (
            session.scalar(select(Sku.best_before).where(Sku.code == "JZ-QM-15-500")) == best_before
        )
        assert stock.ledger_discrepancies(session) == []
