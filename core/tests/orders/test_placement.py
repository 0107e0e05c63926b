"""Placing orders: held stock, exact totals, idempotent retries, no overselling."""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import func, select
from vintry.catalog.models import Sku
from vintry.inventory import stock
from vintry.inventory.models import Reservation
from vintry.orders.models import Order, OutboxEvent
from vintry.platform import Platform
from vintry_sdk.testing import VintryFactory

from .conftest import Shop


def _order(sku: str, quantity: int, note: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {"lines": [{"sku": sku, "quantity": quantity}]}
    if note:
        body["note"] = note
    return body


def test_an_order_holds_stock_and_records_its_sourcing(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    dealer = vintry_factory.client_for("dealer", shop.region)
    response = dealer.post(
        "/api/v1/orders",
        json={"lines": [{"sku": shop.sku, "quantity": 3}, {"sku": shop.other_sku, "quantity": 2}]},
        headers={"Idempotency-Key": "k-1"},
    )
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "placed"
    assert order["subtotal"] == "6495.00" and order["total"] == "6495.00"
    assert order["lines"][0]["allocations"] == [{"warehouse": "WH-E1", "quantity": 3}]
    assert order["lines"][1]["allocations"] == [{"warehouse": "WH-HUB", "quantity": 2}]
    assert order["sourcing"]["strategy"] == "priority-nearest"
    with vintry_platform.hq.reading() as session:
        ids = dict(session.execute(select(Sku.code, Sku.id)).all())
        left = stock.available(
            session,
            sku_ids=list(ids.values()),
            warehouse_ids=list(shop.warehouse_ids),
            now=vintry_platform.clock.now(),
        )
        east, hub = shop.warehouse_ids
        assert left[ids[shop.sku]] == {east: 97}
        assert left[ids[shop.other_sku]] == {hub: 8}
        assert session.scalars(select(OutboxEvent.type)).all().count("order.placed") == 1
        assert stock.ledger_discrepancies(session) == []
    fetched = dealer.get(f"/api/v1/orders/{order['number']}")
    assert fetched.status_code == 200 and fetched.json()["total"] == "6495.00"


def test_a_retry_returns_the_first_response_byte_for_byte(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    dealer = vintry_factory.client_for("dealer", shop.region)
    first = dealer.post(
        "/api/v1/orders", json=_order(shop.sku, 2), headers={"Idempotency-Key": "same"}
    )
    again = dealer.post(
        "/api/v1/orders", json=_order(shop.sku, 2), headers={"Idempotency-Key": "same"}
    )
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    other = dealer.post(
        "/api/v1/orders", json=_order(shop.sku, 5), headers={"Idempotency-Key": "same"}
    )
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    missing = dealer.post("/api/v1/orders", json=_order(shop.sku, 1))
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "idempotency_key_required"
    with vintry_platform.hq.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 1


def test_out_of_stock_is_a_409_and_writes_nothing(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    dealer = vintry_factory.client_for("dealer", shop.region)
    response = dealer.post(
        "/api/v1/orders", json=_order(shop.sku, 101), headers={"Idempotency-Key": "big"}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "out_of_stock"
    with vintry_platform.hq.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 0
        assert session.scalar(select(func.count()).select_from(Reservation)) == 0


def test_a_dealer_cannot_read_another_dealers_order(
    vintry_factory: VintryFactory, shop: Shop
) -> None:
    mine = vintry_factory.client_for("dealer", shop.region)
    theirs = vintry_factory.client_for("dealer", shop.region)
    number = mine.post(
        "/api/v1/orders", json=_order(shop.sku, 1), headers={"Idempotency-Key": "x"}
    ).json()["number"]
    assert theirs.get(f"/api/v1/orders/{number}").status_code == 404
    assert [o["number"] for o in theirs.get("/api/v1/orders").json()] == []


def test_concurrent_orders_never_oversell(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    clients = [vintry_factory.client_for("dealer", shop.region) for _ in range(10)]
    statuses: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(len(clients))

    def buyer(number: int) -> None:
        client = clients[number]
        start.wait()
        for attempt in range(15):
            response = client.post(
                "/api/v1/orders",
                json=_order(shop.sku, 1),
                headers={"Idempotency-Key": f"b{number}-{attempt}"},
            )
            with lock:
                statuses[response.status_code] += 1
                if response.status_code != 201:
                    codes[response.json()["error"]["code"]] += 1

    threads = [threading.Thread(target=buyer, args=(n,)) for n in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert statuses[201] == 100
    assert statuses[409] == 50 and codes == {"out_of_stock": 50}
    with vintry_platform.hq.reading() as session:
        assert stock.ledger_discrepancies(session) == []
        assert session.scalar(select(func.count()).select_from(Order)) == 100
