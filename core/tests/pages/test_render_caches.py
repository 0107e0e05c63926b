"""What a render keeps between requests — the parsed version, a layout's shelves at a site,
the site's published campaigns — is never served once the change it derives from committed:
in this worker at once, and in another worker (a second Platform on the same databases) on
its next request. Stock is never kept, and a kept list of campaigns still follows the
clock, the targeting and the plugin's enablement on every request."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from vintry.clock import ManualClock

from .conftest import EAST, PROBE, SECTIONS, Mall, Worker

OFFERS = {"key": "deals", "blocks": [{"key": "offers", "type": "probe-offers"}]}


def _block(page: dict[str, Any], key: str) -> dict[str, Any] | None:
    for section in page["sections"]:
        for block in section["blocks"]:
            if block["key"] == key:
                return dict(block)
    return None


def _products(page: dict[str, Any], key: str = "premium") -> list[tuple[str, str, int]]:
    block = _block(page, key)
    assert block is not None, f"no block {key}"
    return [(p["sku"], p["price"], p["available"]) for p in block["data"]["products"]]


def _offers(page: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The codes in the "for you" block and in the probe's own block (empty when left out)."""
    for_you, offers = _block(page, "for-you"), _block(page, "offers")
    return (
        [c["code"] for c in for_you["data"]["campaigns"]] if for_you else [],
        list(offers["data"]["offers"]) if offers else [],
    )


def _transition(mall: Mall, code: str, to: str) -> None:
    moved = mall.operator[EAST].post(f"/api/v1/campaigns/{code}/transition", json={"to": to})
    assert moved.status_code == 200, moved.text


def test_another_worker_serves_a_publication_and_a_rollback_at_once(
    mall: Mall, worker: Worker
) -> None:
    mall.layout()
    mall.publish()
    assert (worker.home()["version"], len(_products(worker.home()))) == (1, 2)
    changed = mall.operator[EAST].patch(
        "/api/v1/layouts/main", json={"sections": SECTIONS[:1], "title": "Lean"}
    )
    assert changed.status_code == 200, changed.text
    mall.publish()
    page = worker.home()
    assert (page["version"], page["title"], _block(page, "premium")) == (2, "Lean", None)
    rolled = mall.operator[EAST].post("/api/v1/pages/home/rollback", json={"version": 2})
    assert rolled.status_code == 200, rolled.text
    page = worker.home()
    assert (page["version"], _products(page)) == (
        1,
        [("SKU-03", "300.00", 3), ("SKU-01", "100.00", 1)],
    )
    assert mall.home() == worker.home()


def test_another_worker_shows_prices_assortment_and_live_stock_as_they_change(
    mall: Mall, worker: Worker
) -> None:
    sections = [
        *SECTIONS,
        {
            "key": "browse",
            "blocks": [
                {
                    "key": "baijiu",
                    "type": "product-grid",
                    "config": {"selection": {"by": "category", "category": "BAIJIU"}, "limit": 3},
                }
            ],
        },
    ]
    mall.layout(sections=sections)
    mall.publish()
    for page in (mall.home(), worker.home()):  # both workers have it cached now
        assert _products(page) == [("SKU-03", "300.00", 3), ("SKU-01", "100.00", 1)]
        assert [sku for sku, _, _ in _products(page, "baijiu")] == ["SKU-07", "SKU-06", "SKU-05"]

    priced = mall.operator[EAST].put("/api/v1/catalog/prices/SKU-03", json={"price": "280.00"})
    assert priced.status_code == 200, priced.text
    assert _products(worker.home())[0] == ("SKU-03", "280.00", 3)

    mall.dealer["east-silver"].put("/api/v1/cart/lines/SKU-03", json={"quantity": 2})
    placed = mall.dealer["east-silver"].post(
        "/api/v1/cart/checkout", headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert placed.status_code == 201, placed.text
    assert _products(worker.home())[0] == ("SKU-03", "280.00", 1)  # stock: read live

    hidden = mall.operator[EAST].put("/api/v1/catalog/assortment/SKU-06/hidden")
    assert hidden.status_code == 200, hidden.text
    page = worker.home()
    assert [sku for sku, _, _ in _products(page, "baijiu")] == ["SKU-07", "SKU-05", "SKU-04"]
    delisted = mall.hq.patch("/api/v1/catalog/skus/SKU-01", json={"active": False})
    assert delisted.status_code == 200, delisted.text
    assert _products(worker.home()) == [("SKU-03", "280.00", 1)]
    assert mall.home() == worker.home()


def test_campaigns_ended_cancelled_or_edited_leave_every_workers_page_at_once(
    mall: Mall, worker: Worker, vintry_clock: ManualClock
) -> None:
    mall.layout(sections=[*SECTIONS, OFFERS])
    mall.publish()
    now = vintry_clock.now()
    mall.campaign(code="ALL")
    mall.campaign(code="GOLD", targeting={"tiers": ["gold"]}, priority=5)
    mall.campaign(
        code="LATER",
        starts_at=(now + timedelta(days=1)).isoformat(),
        ends_at=(now + timedelta(days=3)).isoformat(),
    )
    for home in (mall.home, worker.home):
        assert _offers(home("east-gold")) == (["GOLD", "ALL"], ["GOLD", "ALL"])
        assert _offers(home("east-silver")) == (["ALL"], ["ALL"])

    _transition(mall, "GOLD", "ended")
    for home in (mall.home, worker.home):
        assert _offers(home("east-gold")) == (["ALL"], ["ALL"])
    _transition(mall, "ALL", "cancelled")
    for home in (mall.home, worker.home):
        assert _offers(home("east-gold")) == ([], [])

    # edited before it starts: for silver dealers only, under a new name
    change = {"name": "Later, silver", "targeting": {"tiers": ["silver"]}}
    edited = mall.operator[EAST].patch("/api/v1/campaigns/LATER", json=change)
    assert edited.status_code == 200, edited.text
    assert _offers(worker.home("east-silver")) == ([], [])  # not started yet
    vintry_clock.advance(timedelta(days=1, minutes=1))  # the clock opens it: nothing written
    for home in (mall.home, worker.home):
        assert _offers(home("east-gold")) == ([], [])
        silver = home("east-silver")
        assert _offers(silver) == (["LATER"], ["LATER"])
        assert _block(silver, "for-you")["data"]["campaigns"][0]["name"] == "Later, silver"  # type: ignore[index]

    mall.factory.enable_plugin(PROBE, EAST, state="off")  # its campaigns and block go
    assert _offers(worker.home("east-silver")) == ([], [])
    mall.factory.enable_plugin(PROBE, EAST, state="on")
    assert _offers(worker.home("east-silver")) == (["LATER"], ["LATER"])
    vintry_clock.advance(timedelta(days=2))  # and closes it
    for home in (mall.home, worker.home):
        assert _offers(home("east-silver")) == ([], [])


def test_a_render_reads_the_serving_version_with_the_campaigns_version(
    mall: Mall, worker: Worker
) -> None:
    """The statements of a warm render: the caller's token, one site read (which version
    serves, and the site's campaigns version) and one stock read for the whole page."""
    from sqlalchemy import event

    mall.layout(sections=[*SECTIONS, OFFERS])
    mall.publish()
    mall.campaign(code="ALL")
    worker.home()
    seen: list[str] = []

    def record(*args: Any) -> None:
        text = str(args[2]).lstrip().upper()
        if not text.startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
            seen.append(text)

    site = worker.platform.site(EAST).database.engine
    for engine in (worker.platform.hq.engine, site):
        event.listen(engine, "before_cursor_execute", record)
    try:
        page = worker.home()
    finally:
        for engine in (worker.platform.hq.engine, site):
            event.remove(engine, "before_cursor_execute", record)
    assert _offers(page) == (["ALL"], ["ALL"])
    serving = [text for text in seen if "PAGE_VERSIONS" in text]
    assert len(serving) == 1 and "SITE_META" in serving[0]  # the campaigns version with it
    assert not any("FROM CAMPAIGNS" in text for text in seen)  # the list is kept
    assert sum("FROM STOCK" in text for text in seen) == 1
    assert len(seen) <= 4, seen
