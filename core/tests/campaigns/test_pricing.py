"""Stacking, exclusivity and the price explanation: the documented best price, and why.

The cart of east's gold dealer throughout: 2 x FT-500 at 1499.00 and 1 x FT-375 at 999.00,
a subtotal of 3997.00.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from .conftest import EAST, SKU_A, SKU_B, Shop

CART = {SKU_A: 2, SKU_B: 1}


def _by_campaign(cart: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["campaign"]: entry for entry in cart["campaigns"]}


def _discounts(cart: dict[str, Any]) -> dict[str, Decimal]:
    return {line["sku"]: Decimal(line["discount"]) for line in cart["lines"]}


def _unit(code: str, sku: str, off: str, **fields: Any) -> dict[str, Any]:
    return {"code": code, "type": "unit-off", "config": {"skus": [sku], "off": off}, **fields}


def _order(code: str, off: str, threshold: str, **fields: Any) -> dict[str, Any]:
    return {
        "code": code,
        "type": "order-off",
        "config": {"off": off, "threshold": threshold},
        **fields,
    }


def test_the_exclusive_campaign_worth_most_wins_and_the_others_say_why(shop: Shop) -> None:
    shop.campaign(**_unit("A", SKU_A, "150.00", name="FT-500 150 off"))
    shop.campaign(**_order("B", "200.00", "1000.00"))
    shop.campaign(**_unit("C", SKU_B, "120.00", stacking_group="stack"))
    shop.campaign(**_order("D", "150.00", "3000.00", stacking_group="stack"))
    cart = shop.cart("east-gold", CART)

    assert (cart["subtotal"], cart["discount"], cart["total"]) == ("3997.00", "300.00", "3697.00")
    assert _discounts(cart) == {SKU_A: Decimal("300.00"), SKU_B: Decimal("0.00")}
    entries = _by_campaign(cart)
    assert entries["A"]["applied"] is True and entries["A"]["code"] == "applied"
    assert entries["A"]["applied_amount"] == "300.00"
    for loser in ("B", "C", "D"):
        assert entries[loser]["applied"] is False
        assert entries[loser]["code"] == "lost_to_exclusive"
        assert entries[loser]["why"] == (
            "lost to exclusive campaign 'A' (FT-500 150 off), worth 300.00 yuan"
        )
    assert [e["campaign"] for e in cart["applied"]] == ["A"]
    assert {e["campaign"] for e in cart["rejected"]} == {"B", "C", "D"}


def test_a_stacking_group_worth_more_beats_every_exclusive(shop: Shop) -> None:
    shop.campaign(**_unit("A", SKU_A, "150.00"))
    shop.campaign(**_order("B", "200.00", "1000.00"))
    shop.campaign(**_unit("C", SKU_B, "120.00", stacking_group="stack"))
    shop.campaign(**_order("D", "150.00", "3000.00", stacking_group="stack"))
    shop.campaign(**_unit("E", SKU_A, "50.00", stacking_group="stack"))
    cart = shop.cart("east-gold", CART)

    # C 120 + D 150 + E 100 = 370 > A's 300.
    assert (cart["discount"], cart["total"]) == ("370.00", "3627.00")
    entries = _by_campaign(cart)
    assert {code for code, e in entries.items() if e["applied"]} == {"C", "D", "E"}
    assert [entries[c]["applied_amount"] for c in "CDE"] == ["120.00", "150.00", "100.00"]
    for loser in ("A", "B"):
        assert entries[loser]["code"] == "lost_to_stacking_group"
        assert entries[loser]["why"].startswith("lost to stacking group 'stack' (")
        assert entries[loser]["why"].endswith("worth 370.00 yuan")
    # D's 150 is prorated over both lines by amount, to the fen, and the lines add up.
    discounts = _discounts(cart)
    assert sum(discounts.values()) == Decimal("370.00")
    assert discounts == {
        SKU_A: Decimal("100.00") + Decimal("112.51"),
        SKU_B: Decimal("120.00") + Decimal("37.49"),
    }


def test_ties_go_to_the_higher_priority(shop: Shop) -> None:
    shop.campaign(**_order("LOW", "200.00", "1000.00", priority=0))
    shop.campaign(**_order("HIGH", "200.00", "1000.00", priority=5))
    entries = _by_campaign(shop.cart("east-gold", CART))
    assert entries["HIGH"]["applied"] and not entries["LOW"]["applied"]
    assert entries["LOW"]["code"] == "lost_to_exclusive"
    assert list(entries)[:1] == ["HIGH"]


def test_campaigns_that_do_not_apply_are_explained(shop: Shop) -> None:
    now = shop.platform.clock.now()
    shop.campaign(**_order("PLATINUM", "100.00", "1000.00", targeting={"tiers": ["platinum"]}))
    shop.campaign(**_order("TAGGED", "100.00", "1000.00", targeting={"tags": ["vip"]}))
    shop.campaign(
        **_order(
            "TOMORROW",
            "100.00",
            "1000.00",
            starts_at=(now + timedelta(hours=12)).isoformat(),
            ends_at=(now + timedelta(days=2)).isoformat(),
        )
    )
    shop.campaign(**_order("BIG", "900.00", "9000.00"))
    shop.campaign(**_unit("SMALL-BUDGET", SKU_A, "150.00", budget={"amount": "100.00"}))
    entries = _by_campaign(shop.cart("east-gold", CART))

    assert entries["TAGGED"]["applied"] is True  # the gold dealer is tagged vip
    expected = {
        "PLATINUM": ("not_targeted", "for platinum dealers only"),
        "TOMORROW": ("outside_window", f"starts at {(now + timedelta(hours=12)).isoformat()}"),
        "BIG": ("threshold_not_met", "spend 9000.00"),
        "SMALL-BUDGET": ("budget_exhausted", "only 100.00 yuan of its budget is left"),
    }
    for code, (reason, why) in expected.items():
        assert (entries[code]["code"], entries[code]["why"]) == (reason, why), entries[code]
        assert entries[code]["applied"] is False
    silver = _by_campaign(shop.cart("east-silver", CART))
    assert silver["TAGGED"]["code"] == "not_targeted"
    assert silver["TAGGED"]["why"] == "for dealers tagged vip only"


def test_the_floor_caps_a_discount_at_checkout(shop: Shop) -> None:
    shop.campaign(**_unit("DEEP", SKU_A, "150.00"))
    # HQ raises the floor after the campaign was accepted: the pipeline holds it again.
    hq = shop.factory.admin_client()
    floor = hq.put(f"/api/v1/catalog/floors/{SKU_A}", json={"min_price": "1400.00"})
    assert floor.status_code == 200, floor.text
    cart = shop.cart("east-gold", {SKU_A: 2})
    assert (cart["discount"], cart["total"]) == ("198.00", "2800.00")
    entry = _by_campaign(cart)["DEEP"]
    assert entry["applied"] and entry["capped_by_floor"] is True
    assert (entry["amount"], entry["applied_amount"]) == ("300.00", "198.00")


def test_the_order_keeps_the_explanation(shop: Shop) -> None:
    shop.campaign(**_unit("A", SKU_A, "150.00"))
    shop.campaign(**_order("B", "200.00", "1000.00"))
    shop.cart("east-gold", CART)
    placed = shop.dealers["east-gold"].post(
        "/api/v1/cart/checkout", headers={"Idempotency-Key": "campaign-order"}
    )
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert (order["discount"], order["total"]) == ("300.00", "3697.00")
    campaigns = {e["campaign"]: e for e in order["pricing"]["campaigns"]}
    assert campaigns["A"]["applied"] and campaigns["B"]["code"] == "lost_to_exclusive"


def test_campaigns_of_a_region_never_reach_another(shop: Shop) -> None:
    shop.campaign(**_unit("EAST-DEAL", SKU_A, "150.00"))
    west = shop.cart("west-gold", CART)
    assert (west["discount"], west["campaigns"]) == ("0.00", [])
    assert shop.dealers["west-gold"].get("/api/v1/campaigns/for-you").json() == []
    assert shop.cart("east-gold", CART)["discount"] == "300.00"
    assert EAST in shop.operator
