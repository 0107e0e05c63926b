"""English auctions through HTTP: bids, increments, soft close, reserve, the winner's order."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from .conftest import EAST, SKU, UNITS, Mall

LOT = {
    "sku": SKU,
    "quantity": 6,
    "start_price": "1000.00",
    "increment": "10.00",
    "soft_close_seconds": 60,
    "extension_seconds": 120,
    "max_extension_minutes": 10,
}
BIDS = "/api/v1/x/auction/auctions/AUC-1/bids"


def _bid(mall: Mall, dealer: int, amount: str) -> Any:
    return mall.dealers[EAST][dealer].post(BIDS, json={"amount": amount})


def test_publishing_holds_the_lot_and_bids_rise_by_the_increment(mall: Mall) -> None:
    mall.auction("english-auction", LOT)
    assert mall.held("auction:east:AUC-1") == 6
    assert mall.free_units() == UNITS - 6

    low = _bid(mall, 0, "999.99")
    assert low.status_code == 409 and low.json()["error"]["code"] == "bid_too_low"
    assert low.json()["error"]["details"]["minimum"] == "1000.00"
    first = _bid(mall, 0, "1000.00")
    assert first.status_code == 201, first.text
    assert first.json()["seq"] == 1 and first.json()["mine"] is True
    short = _bid(mall, 1, "1009.99")
    assert short.status_code == 409
    assert short.json()["error"] == {
        **short.json()["error"],
        "code": "bid_too_low",
        "field": "amount",
        "details": {"minimum": "1010.00", "current": "1000.00"},
    }
    assert _bid(mall, 1, "1010.00").status_code == 201
    too_high = _bid(mall, 2, "1500.00")
    assert too_high.status_code == 422
    assert too_high.json()["error"]["code"] == "bid_above_list_price"

    seen = mall.dealers[EAST][0].get("/api/v1/x/auction/auctions/AUC-1").json()
    assert seen["current_price"] == "1010.00" and seen["next_minimum_bid"] == "1020.00"
    assert seen["leading"] is False and seen["bid_count"] == 2
    assert [b["mine"] for b in seen["bids"]] == [False, True]
    assert all(b["dealer"] is None for b in seen["bids"])  # bidders hidden from dealers
    lot = mall.operator[EAST].get("/api/v1/x/auction/lots/AUC-1").json()
    assert lot["leader"] == "D-EAST-1" and [b["dealer"] for b in lot["bids"]] == [
        "D-EAST-1",
        "D-EAST-0",
    ]


def test_soft_close_extends_the_end_and_nothing_is_accepted_after_it(mall: Mall) -> None:
    created = mall.auction("english-auction", LOT, minutes=30)
    scheduled_end = created["ends_at"]
    assert _bid(mall, 0, "1000.00").json()["extended"] is False

    mall.clock.advance(minutes=29, seconds=30)  # 30 s before the end: the final window
    late = _bid(mall, 1, "1010.00").json()
    assert late["extended"] is True
    end = mall.clock.now() + timedelta(seconds=120)
    assert late["closes_at"] == end.isoformat().replace("+00:00", "Z") or late[
        "closes_at"
    ].startswith(end.isoformat()[:19])
    seen = mall.dealers[EAST][0].get("/api/v1/x/auction/auctions/AUC-1").json()
    assert seen["extensions"] == 1 and seen["scheduled_close"] == scheduled_end
    assert seen["closes_at"] > scheduled_end

    mall.clock.advance(seconds=119)  # still open thanks to the extension
    assert _bid(mall, 2, "1020.00").status_code == 201
    mall.clock.advance(minutes=5)  # past every extension
    closed = _bid(mall, 0, "1100.00")
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "auction_closed"


def test_extensions_stop_at_the_maximum(mall: Mall) -> None:
    mall.auction("english-auction", {**LOT, "max_extension_minutes": 1}, minutes=10)
    mall.clock.advance(minutes=9, seconds=50)
    amount = Decimal("1000.00")
    for dealer in range(3):
        assert _bid(mall, dealer, str(amount)).status_code == 201
        amount += 10
        mall.clock.advance(seconds=20)
    mall.clock.advance(seconds=15)  # 11 min 05 s: past the 11 min ceiling
    assert _bid(mall, 0, str(amount)).json()["error"]["code"] == "auction_closed"


def test_the_winner_gets_an_order_at_its_bid_and_the_hold_moves_to_it(mall: Mall) -> None:
    mall.auction("english-auction", LOT, minutes=30)
    assert _bid(mall, 0, "1000.00").status_code == 201
    assert _bid(mall, 1, "1200.00").status_code == 201
    mall.clock.advance(minutes=31)
    swept = mall.operator[EAST].post("/api/v1/x/auction/sweep", json={})
    assert swept.json() == {"opened": 0, "closed": 1, "orders_placed": 1, "orders_failed": 0}
    again = mall.operator[EAST].post("/api/v1/x/auction/sweep", json={})
    assert again.json()["closed"] == 0 and again.json()["orders_placed"] == 0

    lot = mall.operator[EAST].get("/api/v1/x/auction/lots/AUC-1").json()
    assert lot["lot_status"] == "sold"
    (sale,) = lot["sales"]
    assert sale["dealer"] == "D-EAST-1" and sale["status"] == "ordered"
    order = mall.dealers[EAST][1].get(f"/api/v1/orders/{sale['order']}").json()
    (line,) = order["lines"]
    assert (line["sku"], line["quantity"]) == (SKU, 6)
    assert Decimal(line["total"]) == Decimal("1200.00") * 6 == Decimal(order["total"])
    applied = order["pricing"]["applied"][0]
    assert applied["campaign"] == "AUC-1" and applied["source"] == "auction"
    assert mall.held("auction:east:AUC-1") == 0
    assert mall.held(sale["order"]) == 6
    assert mall.free_units() == UNITS - 6
    mine = mall.dealers[EAST][1].get("/api/v1/x/auction/auctions/AUC-1").json()
    assert mine["sales"][0]["order"] == sale["order"]
    assert mall.dealers[EAST][0].get("/api/v1/x/auction/auctions/AUC-1").json()["sales"] == []


def test_a_lot_whose_reserve_is_not_met_goes_back_to_stock(mall: Mall) -> None:
    mall.auction("english-auction", {**LOT, "reserve_price": "1300.00"}, minutes=30)
    seen = mall.dealers[EAST][0].get("/api/v1/x/auction/auctions/AUC-1").json()
    assert seen["reserve_met"] is False and seen["reserve_price"] is None
    assert _bid(mall, 0, "1250.00").status_code == 201
    mall.clock.advance(minutes=31)
    swept = mall.operator[EAST].post("/api/v1/x/auction/sweep", json={}).json()
    assert swept["closed"] == 1 and swept["orders_placed"] == 0
    lot = mall.operator[EAST].get("/api/v1/x/auction/lots/AUC-1").json()
    assert lot["lot_status"] == "unsold" and lot["note"] == "no bid met the reserve"
    assert lot["reserve_price"] == "1300.00"
    assert mall.held("auction:east:AUC-1") == 0 and mall.free_units() == UNITS


def test_cancelling_releases_the_lot_and_ending_early_settles_it(mall: Mall) -> None:
    mall.auction("english-auction", LOT, code="AUC-1")
    cancelled = mall.operator[EAST].post(
        "/api/v1/campaigns/AUC-1/transition", json={"to": "cancelled", "reason": "recount"}
    )
    assert cancelled.status_code == 200
    assert mall.held("auction:east:AUC-1") == 0
    gone = mall.dealers[EAST][0].get("/api/v1/x/auction/auctions/AUC-1")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "auction_not_found"

    mall.auction("english-auction", LOT, code="AUC-2")
    assert (
        mall.dealers[EAST][2]
        .post("/api/v1/x/auction/auctions/AUC-2/bids", json={"amount": "1100.00"})
        .status_code
        == 201
    )
    ended = mall.operator[EAST].post("/api/v1/campaigns/AUC-2/transition", json={"to": "ended"})
    assert ended.status_code == 200, ended.text
    lot = mall.operator[EAST].get("/api/v1/x/auction/lots/AUC-2").json()
    assert lot["lot_status"] == "sold" and lot["sales"][0]["status"] == "ordered"


def test_a_lot_without_stock_is_unavailable_until_stock_arrives(mall: Mall) -> None:
    mall.auction("english-auction", {**LOT, "quantity": UNITS + 1})
    seen = mall.dealers[EAST][0].get("/api/v1/x/auction/auctions/AUC-1").json()
    assert seen["lot_status"] == "unavailable" and "lack 101 unit(s)" in seen["note"]
    refused = _bid(mall, 0, "1000.00")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "auction_lot_unavailable"
    assert mall.free_units() == UNITS


def test_auction_config_is_validated_and_floors_are_held(mall: Mall) -> None:
    bad = mall.operator[EAST].post(
        "/api/v1/campaigns",
        json={
            "code": "BAD",
            "type": "dutch-auction",
            "name": "bad",
            "config": {
                "sku": SKU,
                "quantity": 5,
                "start_price": "100.00",
                "step": "5.00",
                "interval_seconds": 60,
                "floor_price": "150.00",
            },
            "starts_at": mall.clock.now().isoformat(),
            "ends_at": (mall.clock.now() + timedelta(hours=1)).isoformat(),
        },
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_campaign_config"
    mall.set_floor(SKU, "900.00")
    under = mall.operator[EAST].post(
        "/api/v1/campaigns",
        json={
            "code": "UNDER",
            "type": "english-auction",
            "name": "under",
            "config": {**LOT, "start_price": "800.00"},
            "starts_at": mall.clock.now().isoformat(),
            "ends_at": (mall.clock.now() + timedelta(hours=1)).isoformat(),
        },
    )
    assert under.status_code == 422
    assert under.json()["error"]["code"] == "campaign_below_price_floor"
    assert under.json()["error"]["details"]["sku"] == SKU


def test_a_winning_bid_under_a_floor_set_since_fails_and_the_lot_goes_back(mall: Mall) -> None:
    mall.auction("english-auction", LOT, minutes=30)
    assert _bid(mall, 0, "1000.00").status_code == 201
    mall.set_floor(SKU, "1100.00")
    mall.clock.advance(minutes=31)
    swept = mall.operator[EAST].post("/api/v1/x/auction/sweep", json={}).json()
    assert (swept["closed"], swept["orders_placed"], swept["orders_failed"]) == (1, 0, 1)
    (sale,) = mall.operator[EAST].get("/api/v1/x/auction/lots/AUC-1").json()["sales"]
    assert sale["status"] == "failed" and sale["order"] is None
    assert sale["failure"].startswith("below_price_floor") and "1100.00" in sale["failure"]
    assert mall.held("auction:east:AUC-1") == 0 and mall.free_units() == UNITS
