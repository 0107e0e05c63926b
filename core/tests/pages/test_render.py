"""Rendering: products with the site's price and live stock, campaigns by dealer, blocks of
disabled plugins left out, stale references tolerated and reported, statements per render
independent of the products shown, and block impressions and clicks recorded."""

from __future__ import annotations

import copy
import uuid
from contextlib import ExitStack
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from vintry.clock import ManualClock

from .conftest import EAST, PROBE, RENDER_THREADS, SECTIONS, SKUS, Mall, assert_error


def _block(page: dict[str, Any], key: str) -> dict[str, Any] | None:
    for section in page["sections"]:
        for block in section["blocks"]:
            if block["key"] == key:
                return block
    return None


def _products(page: dict[str, Any], key: str) -> list[tuple[str, str, int]]:
    block = _block(page, key)
    assert block is not None, f"no block {key}"
    return [(p["sku"], p["price"], p["available"]) for p in block["data"]["products"]]


def test_products_show_the_sites_price_and_live_stock(mall: Mall) -> None:
    mall.layout()
    mall.publish()
    page = mall.home()
    assert (page["site"], page["page"], page["source"], page["dealer"]) == (
        EAST,
        "home",
        "site",
        "D-EAST-GOLD",
    )
    assert _products(page, "premium") == [("SKU-03", "300.00", 3), ("SKU-01", "100.00", 1)]
    assert _block(page, "hero")["data"]["title"] == "Spring"  # type: ignore[index]
    # a site price and an order move what the page shows, at once
    priced = mall.operator[EAST].put("/api/v1/catalog/prices/SKU-03", json={"price": "280.00"})
    assert priced.status_code == 200, priced.text
    mall.dealer["east-silver"].put("/api/v1/cart/lines/SKU-03", json={"quantity": 2})
    placed = mall.dealer["east-silver"].post(
        "/api/v1/cart/checkout", headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert placed.status_code == 201, placed.text
    assert _products(mall.home(), "premium") == [
        ("SKU-03", "280.00", 1),
        ("SKU-01", "100.00", 1),
    ]


def test_two_dealers_pages_differ_exactly_by_their_targeted_campaigns(mall: Mall) -> None:
    sections = [*SECTIONS, {"key": "deals", "blocks": [{"key": "offers", "type": "probe-offers"}]}]
    mall.layout(sections=sections)
    mall.publish()
    mall.campaign(code="ALL")
    mall.campaign(code="GOLD", targeting={"tiers": ["gold"]}, priority=5)
    gold, silver = mall.home("east-gold"), mall.home("east-silver")
    gold_offers = [c["code"] for c in _block(gold, "for-you")["data"]["campaigns"]]  # type: ignore[index]
    silver_offers = [c["code"] for c in _block(silver, "for-you")["data"]["campaigns"]]  # type: ignore[index]
    assert (gold_offers, silver_offers) == (["GOLD", "ALL"], ["ALL"])
    assert _block(gold, "offers")["data"]["offers"] == ["GOLD", "ALL"]  # type: ignore[index]
    assert _block(silver, "offers")["data"]["offers"] == ["ALL"]  # type: ignore[index]

    def without_campaigns(page: dict[str, Any]) -> dict[str, Any]:
        page = copy.deepcopy(page)
        page.pop("dealer")
        for section in page["sections"]:
            section["blocks"] = [
                b for b in section["blocks"] if b["key"] not in ("for-you", "offers")
            ]
        return page

    assert without_campaigns(gold) == without_campaigns(silver)
    # the probe's block is not pure (BlockType.pure): its pages render on worker threads
    RENDER_THREADS.clear()
    assert mall.home("east-gold")["sections"] == gold["sections"]
    assert RENDER_THREADS and "event loop" not in RENDER_THREADS
    # an operator previews as a dealer; a dealer may not look as another
    preview = mall.operator[EAST].get("/api/v1/pages/home", params={"as_dealer": "D-EAST-GOLD"})
    assert preview.json()["sections"] == gold["sections"]
    denied = mall.dealer["east-silver"].get(
        "/api/v1/pages/home", params={"as_dealer": "D-EAST-GOLD"}
    )
    assert_error(denied, 403, "permission_denied")


def test_a_disabled_plugins_block_disappears_without_error(mall: Mall) -> None:
    sections = [*SECTIONS, {"key": "deals", "blocks": [{"key": "offers", "type": "probe-offers"}]}]
    mall.layout(sections=sections)
    mall.publish()
    mall.campaign()
    assert _block(mall.home(), "offers") is not None
    mall.factory.enable_plugin(PROBE, EAST, state="off")
    page = mall.home()
    assert _block(page, "offers") is None
    assert [s["key"] for s in page["sections"]] == ["top", "picks"]  # the empty section goes
    stale = mall.operator[EAST].get("/api/v1/pages/home/versions/1").json()["problems"]
    assert [(p["block"], p["code"]) for p in stale] == [("offers", "block_type_not_enabled")]


def test_a_delisted_sku_leaves_a_gap_and_is_reported(mall: Mall) -> None:
    mall.layout()
    mall.publish()
    assert len(_products(mall.home(), "premium")) == 2  # cached from here on
    delisted = mall.hq.patch("/api/v1/catalog/skus/SKU-03", json={"active": False})
    assert delisted.status_code == 200, delisted.text
    assert _products(mall.home(), "premium") == [("SKU-01", "100.00", 1)]
    hidden = mall.operator[EAST].put("/api/v1/catalog/assortment/SKU-01/hidden")
    assert hidden.status_code == 200, hidden.text
    assert _block(mall.home(), "premium") is None  # nothing left to show: block left out
    version = mall.operator[EAST].get("/api/v1/pages/home/versions/1").json()
    assert {(p["field"], p["code"]) for p in version["problems"]} == {
        ("sections.1.blocks.0.config.selection.skus.0", "sku_not_offered"),
        ("sections.1.blocks.0.config.selection.skus.1", "sku_not_offered"),
    }
    draft = mall.operator[EAST].get("/api/v1/layouts/main").json()
    assert len(draft["problems"]) == 2
    # publishing the stale draft again is refused: a published version is valid when made
    assert_error(
        mall.operator[EAST].post("/api/v1/layouts/main/publish", json={}), 422, "sku_not_offered"
    )


def test_rules_category_and_best_sellers(mall: Mall, vintry_clock: ManualClock) -> None:
    sections = [
        {
            "key": "s",
            "blocks": [
                {
                    "key": "wine",
                    "type": "product-carousel",
                    "config": {"selection": {"by": "category", "category": "WINE"}, "limit": 2},
                },
                {
                    "key": "drinks",
                    "type": "product-grid",
                    "config": {"selection": {"by": "category", "category": "DRINKS"}},
                },
                {
                    "key": "new",
                    "type": "product-grid",
                    "config": {"selection": {"by": "new_arrivals"}, "limit": 1},
                },
                {
                    "key": "best",
                    "type": "product-grid",
                    "config": {"selection": {"by": "best_sellers", "days": 7}, "limit": 3},
                },
            ],
        }
    ]
    mall.layout(sections=sections)
    mall.publish()
    page = mall.home()
    assert [sku for sku, _, _ in _products(page, "wine")] == ["SKU-14", "SKU-13"]
    assert len(_products(page, "drinks")) == 12  # the subtree, at the default limit
    assert [sku for sku, _, _ in _products(page, "new")] == ["SKU-14"]
    assert _block(page, "best") is None  # nothing sold yet

    for dealer, lines in (
        ("east-gold", {"SKU-05": 3, "SKU-02": 1}),
        ("east-silver", {"SKU-05": 1, "SKU-04": 2}),
    ):
        for sku, quantity in lines.items():
            mall.dealer[dealer].put(f"/api/v1/cart/lines/{sku}", json={"quantity": quantity})
        placed = mall.dealer[dealer].post(
            "/api/v1/cart/checkout", headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        assert placed.status_code == 201, placed.text
    # west's sales are another region's
    mall.dealer["west-gold"].put("/api/v1/cart/lines/SKU-09", json={"quantity": 9})
    mall.dealer["west-gold"].post(
        "/api/v1/cart/checkout", headers={"Idempotency-Key": str(uuid.uuid4())}
    )

    vintry_clock.advance(timedelta(minutes=11))  # past the best sellers' reuse window
    best = [sku for sku, _, _ in _products(mall.home(), "best")]
    assert best == ["SKU-05", "SKU-04", "SKU-02"]
    vintry_clock.advance(timedelta(days=8))  # out of the 7-day period
    assert _block(mall.home(), "best") is None


class _Statements:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *args: Any) -> None:
        if (
            not str(args[2])
            .lstrip()
            .upper()
            .startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"))
        ):
            self.count += 1


def _statements_per_render(mall: Mall) -> int:
    mall.home()  # warm the caches
    counter = _Statements()
    engines = {
        id(e): e
        for e in (
            mall.platform.hq.engine,
            mall.platform.site(EAST).database.engine,
            mall.platform.site(mall.factory.root).database.engine,
        )
    }
    with ExitStack() as stack:
        for engine in engines.values():
            event.listen(engine, "before_cursor_execute", counter)
            stack.callback(event.remove, engine, "before_cursor_execute", counter)
        mall.home()
    return counter.count


def test_statements_per_render_do_not_grow_with_products(mall: Mall) -> None:
    few = copy.deepcopy(SECTIONS)
    mall.layout(sections=few)
    mall.publish()
    mall.campaign()
    small = _statements_per_render(mall)
    many = copy.deepcopy(SECTIONS)
    many[1]["blocks"][0]["config"]["selection"] = {"by": "skus", "skus": list(SKUS)}
    many.append(
        {
            "key": "more",
            "blocks": [
                {
                    "key": f"g{n}",
                    "type": "product-grid",
                    "config": {"selection": {"by": "category", "category": "DRINKS"}},
                }
                for n in range(4)
            ],
        }
    )
    mall.operator[EAST].patch("/api/v1/layouts/main", json={"sections": many})
    mall.publish()
    large = _statements_per_render(mall)
    assert small == large, (small, large)
    assert large <= 10


def test_impressions_and_clicks_reach_the_plugins_that_record_them(mall: Mall) -> None:
    mall.layout()
    mall.publish()
    body = {
        "version": 1,
        "events": [
            {"kind": "impression", "block": "premium", "session": "s1"},
            {"kind": "click", "block": "premium", "sku": "SKU-03", "session": "s1"},
            {"kind": "click", "block": "ghost"},
        ],
    }
    response = mall.dealer["east-gold"].post("/api/v1/pages/home/events", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2
    assert [(r["index"], r["field"], r["code"]) for r in response.json()["rejected"]] == [
        (2, "events.2.block", "unknown_block")
    ]
    recorded = [
        (site, e.kind, e.block, e.block_type, e.sku, e.dealer) for site, e in mall.probe.events
    ]
    assert recorded == [
        (EAST, "impression", "premium", "product-grid", None, "D-EAST-GOLD"),
        (EAST, "click", "premium", "product-grid", "SKU-03", "D-EAST-GOLD"),
    ]
    missing = mall.dealer["east-gold"].post(
        "/api/v1/pages/home/events",
        json={"version": 9, "events": [{"kind": "click", "block": "x"}]},
    )
    assert_error(missing, 422, "page_version_not_found")
    bad_kind = mall.dealer["east-gold"].post(
        "/api/v1/pages/home/events",
        json={"version": 1, "events": [{"kind": "hover", "block": "x"}]},
    )
    assert bad_kind.status_code == 422
