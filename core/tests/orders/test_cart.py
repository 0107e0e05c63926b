"""The dealer's cart at a site: priced lines, and an idempotent checkout."""

from __future__ import annotations

from sqlalchemy import func, select
from vintry.clock import ManualClock
from vintry.orders.models import Order
from vintry.platform import Platform
from vintry_sdk.testing import VintryFactory

from .conftest import Shop


def test_cart_lines_are_priced_and_checked_out_once(
    vintry_factory: VintryFactory, vintry_platform: Platform, vintry_clock: ManualClock, shop: Shop
) -> None:
    dealer = vintry_factory.client_for("dealer", shop.region)
    assert dealer.get("/api/v1/cart").json()["total"] == "0.00"
    assert dealer.put(f"/api/v1/cart/lines/{shop.sku}", json={"quantity": 2}).status_code == 200
    vintry_clock.advance(seconds=1)  # lines keep the order they were added in
    priced = dealer.put(f"/api/v1/cart/lines/{shop.other_sku}", json={"quantity": 1}).json()
    assert [line["sku"] for line in priced["lines"]] == [shop.sku, shop.other_sku]
    assert priced["total"] == "3997.00"
    assert (
        dealer.put(f"/api/v1/cart/lines/{shop.other_sku}", json={"quantity": 0}).json()["total"]
        == "2998.00"
    )

    first = dealer.post("/api/v1/cart/checkout", headers={"Idempotency-Key": "co-1"})
    assert first.status_code == 201, first.text
    assert dealer.get("/api/v1/cart").json()["lines"] == []
    again = dealer.post("/api/v1/cart/checkout", headers={"Idempotency-Key": "co-1"})
    assert again.status_code == 201 and again.content == first.content
    empty = dealer.post("/api/v1/cart/checkout", headers={"Idempotency-Key": "co-2"})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "empty_order"
    with vintry_platform.hq.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 1


def test_cart_refuses_unknown_skus_and_is_per_dealer(
    vintry_factory: VintryFactory, shop: Shop
) -> None:
    mine = vintry_factory.client_for("dealer", shop.region)
    theirs = vintry_factory.client_for("dealer", shop.region)
    missing = mine.put("/api/v1/cart/lines/NOPE-1", json={"quantity": 1})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "sku_not_found"
    assert mine.put(f"/api/v1/cart/lines/{shop.sku}", json={"quantity": 1}).status_code == 200
    assert theirs.get("/api/v1/cart").json()["lines"] == []
    operator = vintry_factory.client_for("site_operator", shop.region)
    assert operator.get("/api/v1/cart").status_code == 403
