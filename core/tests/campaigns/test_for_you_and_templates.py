"""The dealers' "for you" list, HQ's templates copied by sites, and gifts with purchase."""

from __future__ import annotations

from datetime import timedelta

from vintry.clock import ManualClock

from .conftest import EAST, GLASS, SKU_A, SKU_B, WEST, Shop


def test_for_you_lists_live_campaigns_targeted_at_the_dealer_by_priority(
    shop: Shop, vintry_clock: ManualClock
) -> None:
    now = vintry_clock.now()
    shop.campaign(code="LOW", name="Everyone", priority=1)
    shop.campaign(code="HIGH", name="Gold first", priority=9, targeting={"tiers": ["gold"]})
    shop.campaign(
        code="NAMED", priority=5, targeting={"dealers": [shop.dealer_codes["east-silver"]]}
    )
    shop.campaign(
        code="LATER",
        starts_at=(now + timedelta(days=1)).isoformat(),
        ends_at=(now + timedelta(days=2)).isoformat(),
    )
    shop.campaign(code="SPENT", priority=20, budget={"units": 1})
    shop.operator[EAST].patch("/api/v1/campaigns/SPENT", json={})
    with shop.platform.site_database(EAST).transaction() as session:
        from sqlalchemy import update
        from vintry.campaigns.models import Campaign

        session.execute(update(Campaign).where(Campaign.code == "SPENT").values(used_units=1))

    gold = shop.dealers["east-gold"].get("/api/v1/campaigns/for-you")
    assert gold.status_code == 200, gold.text
    assert [item["code"] for item in gold.json()] == ["HIGH", "LOW"]
    assert gold.json()[0]["summary"] == f"100.00 off each {SKU_A}"
    assert gold.json()[0]["title"] == "Unit off"
    silver = shop.dealers["east-silver"].get("/api/v1/campaigns/for-you").json()
    assert [item["code"] for item in silver] == ["NAMED", "LOW"]
    vintry_clock.advance(days=1, hours=1)
    assert [
        i["code"] for i in shop.dealers["east-gold"].get("/api/v1/campaigns/for-you").json()
    ] == [
        "HIGH",
        "LOW",
        "LATER",
    ]
    assert shop.operator[EAST].get("/api/v1/campaigns/for-you").status_code == 403


def test_turning_the_plugin_off_hides_its_campaigns_everywhere(shop: Shop) -> None:
    shop.campaign(code="DEAL")
    assert len(shop.dealers["east-gold"].get("/api/v1/campaigns/for-you").json()) == 1
    shop.factory.enable_plugin("campaign-probe", EAST, state="off")
    assert shop.dealers["east-gold"].get("/api/v1/campaigns/for-you").json() == []
    cart = shop.cart("east-gold", {SKU_A: 1})
    assert (cart["discount"], cart["campaigns"]) == ("0.00", [])


def test_hq_publishes_templates_that_sites_copy(shop: Shop) -> None:
    hq = shop.factory.admin_client()
    template = {
        "code": "SPRING-TPL",
        "type": "unit-off",
        "name": "Spring template",
        "config": {"skus": [SKU_A], "off": "80.00"},
        "priority": 3,
        "targeting": {"tiers": ["gold"]},
        "budget": {"uses_per_dealer": 1},
    }
    created = hq.post("/api/v1/campaign-templates", json=template)
    assert created.status_code == 201, created.text
    refused = shop.operator[EAST].post("/api/v1/campaign-templates", json=template)
    assert refused.status_code == 403
    listed = shop.operator[WEST].get("/api/v1/campaign-templates").json()
    assert [t["code"] for t in listed] == ["SPRING-TPL"]

    now = shop.platform.clock.now()
    window = {"starts_at": now.isoformat(), "ends_at": (now + timedelta(days=3)).isoformat()}
    copied = shop.operator[EAST].post(
        "/api/v1/campaign-templates/SPRING-TPL/copy", json={"code": "EAST-SPRING", **window}
    )
    assert copied.status_code == 201, copied.text
    campaign = copied.json()
    assert (campaign["template"], campaign["state"], campaign["priority"]) == (
        "SPRING-TPL",
        "draft",
        3,
    )
    assert campaign["config"]["off"] == "80.00"
    assert campaign["targeting"]["tiers"] == ["gold"]
    assert campaign["budget"]["uses_per_dealer"] == 1
    west = shop.operator[WEST].post(
        "/api/v1/campaign-templates/SPRING-TPL/copy", json={"code": "WEST-SPRING", **window}
    )
    assert west.status_code == 422 and west.json()["error"]["code"] == "campaign_type_not_enabled"
    missing = shop.operator[EAST].post(
        "/api/v1/campaign-templates/NOPE/copy", json={"code": "X", **window}
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "campaign_template_not_found"
    actions = [e["action"] for e in hq.get("/api/v1/audit?object_type=campaign_template").json()]
    assert actions == ["campaign_template.create"]


def test_a_gift_is_a_free_line_and_is_dropped_when_out_of_stock(shop: Shop) -> None:
    shop.campaign(
        code="GLASS",
        type="free-gift",
        config={"gift_sku": GLASS, "quantity": 2, "threshold": "1000.00"},
    )
    cart = shop.cart("east-gold", {SKU_A: 1})
    gift = next(line for line in cart["lines"] if line["sku"] == GLASS)
    assert gift == {
        "sku": GLASS,
        "quantity": 2,
        "base_unit_price": "88.00",
        "unit_price": "88.00",
        "amount": "176.00",
        "discount": "176.00",
        "total": "0.00",
        "gift_quantity": 2,
    }
    assert cart["total"] == "1499.00"
    entry = next(e for e in cart["campaigns"] if e["campaign"] == "GLASS")
    assert entry["applied"] and entry["gifts"] == [{"sku": GLASS, "quantity": 2, "value": "176.00"}]
    placed = shop.dealers["east-gold"].post(
        "/api/v1/cart/checkout", headers={"Idempotency-Key": "gift-order"}
    )
    assert placed.status_code == 201, placed.text
    lines = {line["sku"]: line for line in placed.json()["lines"]}
    assert lines[GLASS]["total"] == "0.00" and lines[GLASS]["quantity"] == 2
    assert lines[GLASS]["allocations"] == [{"warehouse": "WH-EAST", "quantity": 2}]
    # 3 glasses were in stock, 2 are held by the order: the next dealer's gift is dropped.
    other = shop.cart("east-silver", {SKU_B: 2})
    assert [line["sku"] for line in other["lines"]] == [SKU_B]
    dropped = next(e for e in other["campaigns"] if e["campaign"] == "GLASS")
    assert (dropped["applied"], dropped["code"]) == (False, "sold_out")
    assert dropped["why"] == f"gift SKU {GLASS!r} is out of stock (1 available, 2 needed)"
