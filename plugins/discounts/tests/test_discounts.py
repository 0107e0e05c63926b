"""The discounts plugin through HTTP: each type's arithmetic, its explanation, its
guardrail, stacking between types, and a plugin enabled in one region only.

The plugin is loaded because its distribution is installed: nothing here registers it by
hand. Each test runs on SQLite, and on PostgreSQL when ``VINTRY_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

from datetime import timedelta

from vintry_sdk import Platform
from vintry_sdk.testing import VintryFactory

from vintry_discounts import PLUGIN_NAME
from vintry_discounts.config import DiscountsSettings

from .conftest import EAST, FEITIAN, GLASS, LIGHT, SMALL, SOUTH, Mall, explained, line


def test_the_installed_plugin_offers_its_four_campaign_types(
    vintry_platform: Platform, vintry_factory: VintryFactory
) -> None:
    record = vintry_platform.plugins.get(PLUGIN_NAME)
    assert record is not None and record.version == "0.1.0"
    assert record.settings_model is DiscountsSettings
    assert sorted(record.contribution.campaign_types) == [
        "gift",
        "limited-time",
        "quantity-tier",
        "spend-off",
    ]
    vintry_factory.site(EAST)
    vintry_factory.enable_plugin(PLUGIN_NAME, EAST)
    operator = vintry_factory.client_for("site_operator", EAST)
    spend = operator.get("/api/v1/campaign-types/spend-off").json()
    assert spend["enabled_here"] is True and spend["plugin"] == PLUGIN_NAME
    assert spend["config_schema"]["required"] == ["tiers"]


def test_spend_off_applies_the_highest_tier_reached(mall: Mall) -> None:
    mall.campaign(
        "spend-off",
        {"tiers": [{"threshold": "3000", "off": "200"}, {"threshold": "4000", "off": "350"}]},
    )
    cart = mall.cart("east-gold", {FEITIAN: 3})  # 4497.00
    assert (cart["discount"], cart["total"]) == ("350.00", "4147.00")
    entry = explained(cart)["SPEND-OFF"]
    assert entry["applied"] and entry["reason"] == "Spend Off: spend 4000.00, save 350.00"
    small = mall.cart("east-gold", {SMALL: 2})  # 1998.00
    skipped = explained(small)["SPEND-OFF"]
    assert (skipped["code"], skipped["why"]) == (
        "threshold_not_met",
        "spend 1002.00 more to save 200.00",
    )


def test_for_every_x_repeats_and_is_capped(mall: Mall) -> None:
    mall.campaign(
        "spend-off",
        {
            "tiers": [{"threshold": "1000", "off": "50"}],
            "repeat": True,
            "max_off": "150",
            "categories": ["SAUCE"],
        },
    )
    cart = mall.cart("east-gold", {FEITIAN: 2, LIGHT: 10})  # 2998.00 in scope, 2990.00 not
    assert cart["discount"] == "100.00"
    assert line(cart, LIGHT)["discount"] == "0.00"  # out of scope: never discounted
    big = mall.cart("east-gold", {FEITIAN: 3, SMALL: 1})  # 5496.00: 5 x 50 capped at 150
    assert big["discount"] == "150.00"
    assert explained(big)["SPEND-OFF"]["reason"].endswith("(x5), at most 150.00")
    # Spread over the lines by amount, to the fen, summing exactly.
    assert line(big, FEITIAN)["discount"] == "122.73" and line(big, SMALL)["discount"] == "27.27"


def test_a_gift_is_added_free_and_dropped_with_a_message_when_out_of_stock(mall: Mall) -> None:
    mall.campaign("gift", {"threshold": "2000", "gift_sku": GLASS, "gift_quantity": 2})
    cart = mall.cart("east-gold", {FEITIAN: 2})
    assert (line(cart, GLASS)["quantity"], line(cart, GLASS)["total"]) == (2, "0.00")
    assert cart["total"] == "2998.00"
    placed = mall.dealer["east-gold"].post(
        "/api/v1/cart/checkout", headers={"Idempotency-Key": "gift-1"}
    )
    assert placed.status_code == 201, placed.text
    assert {item["sku"]: item["quantity"] for item in placed.json()["lines"]}[GLASS] == 2
    # One glass set is left: the next qualifying cart gets no gift, and is told why.
    other = mall.cart("east-silver", {FEITIAN: 2})
    assert [item["sku"] for item in other["lines"]] == [FEITIAN]
    entry = explained(other)["GIFT"]
    assert (entry["code"], entry["why"]) == (
        "sold_out",
        f"gift SKU {GLASS!r} is out of stock (1 available, 2 needed)",
    )
    short = mall.cart("east-silver", {SMALL: 1})
    assert explained(short)["GIFT"]["why"] == f"spend 1001.00 more to get 2 x {GLASS} free"


def test_limited_time_discount_by_percent_or_fixed_price(mall: Mall) -> None:
    mall.campaign(
        "limited-time",
        {"categories": ["SAUCE"], "percent_off": "10"},
        code="SAUCE-10",
        stacking_group="flash",
    )
    mall.campaign(
        "limited-time",
        {"skus": [LIGHT], "fixed_price": "249.00", "max_units": 4},
        code="LIGHT-249",
        stacking_group="flash",
    )
    cart = mall.cart("east-gold", {FEITIAN: 1, SMALL: 1, LIGHT: 6})
    assert line(cart, FEITIAN)["discount"] == "149.90"
    assert line(cart, SMALL)["discount"] == "99.90"
    assert line(cart, LIGHT)["discount"] == "200.00"  # 50.00 off 4 of the 6 units
    assert {code for code, e in explained(cart).items() if e["applied"]} == {
        "SAUCE-10",
        "LIGHT-249",
    }
    none = mall.cart("east-gold", {GLASS: 1})
    assert explained(none)["SAUCE-10"]["code"] == "not_applicable"


def test_quantity_tiers_price_each_line_by_its_quantity(mall: Mall) -> None:
    mall.campaign(
        "quantity-tier",
        {
            "skus": [FEITIAN, SMALL],
            "tiers": [
                {"min_quantity": 6, "percent_off": "5"},
                {"min_quantity": 12, "unit_price": "1299.00"},
            ],
        },
    )
    cart = mall.cart("east-gold", {FEITIAN: 12, SMALL: 6})
    assert line(cart, FEITIAN)["discount"] == "2400.00"  # (1499 - 1299) x 12
    assert line(cart, SMALL)["discount"] == "299.70"  # 49.95 x 6
    few = mall.cart("east-gold", {FEITIAN: 5})
    assert explained(few)["QUANTITY-TIER"]["why"] == "buy 6 or more units of a product"


def test_the_best_combination_wins_and_every_loser_says_why(mall: Mall) -> None:
    mall.campaign("spend-off", {"tiers": [{"threshold": "5000", "off": "400"}]}, code="ORDER")
    mall.campaign(
        "limited-time",
        {"skus": [FEITIAN], "percent_off": "5"},
        code="FT-5",
        stacking_group="weekly",
    )
    mall.campaign(
        "quantity-tier",
        {"skus": [SMALL], "tiers": [{"min_quantity": 2, "percent_off": "10"}]},
        code="SMALL-QTY",
        stacking_group="weekly",
    )
    # 4 x 1499 + 2 x 999 = 7994.00: the group gives 299.80 + 199.80 = 499.60 > 400.
    cart = mall.cart("east-gold", {FEITIAN: 4, SMALL: 2})
    assert (cart["discount"], cart["total"]) == ("499.60", "7494.40")
    entries = explained(cart)
    assert entries["ORDER"]["code"] == "lost_to_stacking_group"
    assert entries["ORDER"]["why"] == (
        "lost to stacking group 'weekly' ('FT-5' (Limited Time), 'SMALL-QTY' (Quantity Tier)), "
        "worth 499.60 yuan"
    )
    # With less in the cart the exclusive order discount is worth more.
    fewer = mall.cart("east-gold", {FEITIAN: 3, SMALL: 2})  # 6495.00: group 224.85+199.80
    assert fewer["discount"] == "424.65"
    more_exclusive = mall.cart("east-silver", {FEITIAN: 4})  # 5996.00: group 299.80 < 400
    assert more_exclusive["discount"] == "400.00"
    assert explained(more_exclusive)["FT-5"]["code"] == "lost_to_exclusive"


def test_hq_floors_refuse_campaigns_of_every_type(mall: Mall) -> None:
    hq = mall.factory.admin_client()
    floor = hq.put(f"/api/v1/catalog/floors/{FEITIAN}", json={"max_discount_bp": 800})
    assert floor.status_code == 200, floor.text
    now = mall.platform.clock.now()
    window = {"starts_at": now.isoformat(), "ends_at": (now + timedelta(days=1)).isoformat()}
    configs = {
        "limited-time": {"skus": [FEITIAN], "percent_off": "10"},
        "quantity-tier": {
            "categories": ["SAUCE"],
            "tiers": [{"min_quantity": 6, "unit_price": "1299.00"}],
        },
        "spend-off": {"tiers": [{"threshold": "1000", "off": "100"}]},
    }
    for type_, config in configs.items():
        refused = mall.operator[EAST].post(
            "/api/v1/campaigns",
            json={"code": type_, "type": type_, "name": type_, "config": config, **window},
        )
        assert refused.status_code == 422, (type_, refused.text)
        error = refused.json()["error"]
        assert error["code"] == "campaign_below_price_floor"
        assert (error["details"]["sku"], error["details"]["floor"]) == (FEITIAN, "1379.08")
    fine = mall.operator[EAST].post(
        "/api/v1/campaigns",
        json={
            "code": "OK",
            "type": "limited-time",
            "name": "ok",
            "config": {"skus": [FEITIAN], "percent_off": "8"},
            **window,
        },
    )
    assert fine.status_code == 201, fine.text


def test_invalid_configurations_name_the_field(mall: Mall) -> None:
    now = mall.platform.clock.now()
    window = {"starts_at": now.isoformat(), "ends_at": (now + timedelta(days=1)).isoformat()}
    cases = [
        ("limited-time", {"skus": [FEITIAN], "percent_off": "10", "fixed_price": "1"}, "config"),
        ("limited-time", {"percent_off": "10"}, "config"),
        ("spend-off", {"tiers": [{"threshold": "100", "off": "100"}]}, "config.tiers.0"),
        ("spend-off", {"tiers": [{"threshold": "100", "off": "0.001"}]}, "config.tiers.0.off"),
        ("gift", {"gift_sku": GLASS}, "config"),
        ("quantity-tier", {"skus": [FEITIAN], "tiers": []}, "config.tiers"),
    ]
    for type_, config, field in cases:
        response = mall.operator[EAST].post(
            "/api/v1/campaigns",
            json={"code": "BAD", "type": type_, "name": "bad", "config": config, **window},
        )
        assert response.status_code == 422, (config, response.text)
        error = response.json()["error"]
        assert (error["code"], error["field"]) == ("invalid_campaign_config", field), config


def test_enabled_in_east_only_south_never_sees_or_receives_its_campaigns(mall: Mall) -> None:
    mall.campaign("limited-time", {"skus": [FEITIAN], "percent_off": "10"})
    refused = mall.operator[SOUTH].post(
        "/api/v1/campaigns",
        json={
            "code": "SOUTH",
            "type": "limited-time",
            "name": "south",
            "config": {"skus": [FEITIAN], "percent_off": "10"},
            "starts_at": mall.platform.clock.now().isoformat(),
            "ends_at": (mall.platform.clock.now() + timedelta(days=1)).isoformat(),
        },
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "campaign_type_not_enabled"
    for dealer in ("south-gold", "south-silver"):
        cart = mall.cart(dealer, {FEITIAN: 1})
        assert (cart["discount"], cart["campaigns"]) == ("0.00", [])
        assert mall.dealer[dealer].get("/api/v1/campaigns/for-you").json() == []
    east = mall.dealer["east-gold"].get("/api/v1/campaigns/for-you").json()
    assert [(item["code"], item["summary"]) for item in east] == [
        ("LIMITED-TIME", f"10.00% off {FEITIAN}"),
    ]


def test_a_site_can_keep_other_segments_offers_out_of_explanations(mall: Mall) -> None:
    mall.campaign(
        "limited-time", {"skus": [FEITIAN], "percent_off": "10"}, targeting={"tiers": ["gold"]}
    )
    silver = mall.cart("east-silver", {FEITIAN: 1})
    assert explained(silver)["LIMITED-TIME"]["code"] == "not_targeted"
    mall.factory.enable_plugin(PLUGIN_NAME, EAST, config={"explain_untargeted": False})
    assert mall.cart("east-silver", {FEITIAN: 1})["campaigns"] == []
    assert mall.cart("east-gold", {FEITIAN: 1})["discount"] == "149.90"
