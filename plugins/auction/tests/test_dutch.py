"""Dutch auctions through HTTP: the step-down price, purchases, the dealer cap, sold out."""

from __future__ import annotations

from decimal import Decimal

from vintry.inventory import stock

from .conftest import EAST, SKU, SOUTH, UNITS, Mall

LOT = {
    "sku": SKU,
    "quantity": 10,
    "start_price": "1200.00",
    "step": "50.00",
    "interval_seconds": 600,
    "floor_price": "1000.00",
}
BUY = "/api/v1/x/auction/auctions/DUTCH-1/purchases"


def _order_unit_price(mall: Mall, dealer: int, number: str) -> Decimal:
    order = mall.dealers[EAST][dealer].get(f"/api/v1/orders/{number}").json()
    (line,) = order["lines"]
    return Decimal(line["total"]) / line["quantity"]


def test_the_price_steps_down_to_the_floor_and_each_sale_is_at_its_step(mall: Mall) -> None:
    mall.auction("dutch-auction", LOT, code="DUTCH-1", minutes=120)
    view = mall.dealers[EAST][0].get("/api/v1/x/auction/auctions/DUTCH-1").json()
    assert (view["current_price"], view["step"], view["floor_price"]) == ("1200.00", 0, "1000.00")
    first = mall.dealers[EAST][0].post(BUY, json={"quantity": 3, "expected_price": "1200.00"})
    assert first.status_code == 201, first.text
    assert first.json()["unit_price"] == "1200.00" and first.json()["status"] == "ordered"

    mall.clock.advance(minutes=10)
    stale = mall.dealers[EAST][1].post(BUY, json={"quantity": 1, "expected_price": "1200.00"})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "price_changed"
    assert stale.json()["error"]["details"]["price"] == "1150.00"
    second = mall.dealers[EAST][1].post(BUY, json={"quantity": 4})
    assert second.json()["unit_price"] == "1150.00" and second.json()["step"] == 1

    mall.clock.advance(minutes=60)  # six more steps: clamped at the floor
    view = mall.dealers[EAST][2].get("/api/v1/x/auction/auctions/DUTCH-1").json()
    assert view["current_price"] == "1000.00" and view["next_step_at"] is None
    too_many = mall.dealers[EAST][2].post(BUY, json={"quantity": 4})
    assert too_many.status_code == 409
    assert too_many.json()["error"]["code"] == "lot_insufficient"
    assert too_many.json()["error"]["details"] == {"remaining": 3}
    last = mall.dealers[EAST][2].post(BUY, json={"quantity": 3})
    assert last.json()["unit_price"] == "1000.00"
    sold_out = mall.dealers[EAST][0].post(BUY, json={"quantity": 1})
    assert sold_out.status_code == 409 and sold_out.json()["error"]["code"] == "auction_sold_out"

    lot = mall.operator[EAST].get("/api/v1/x/auction/lots/DUTCH-1").json()
    assert lot["lot_status"] == "sold" and lot["remaining"] == 0
    assert sum(sale["quantity"] for sale in lot["sales"]) == 10
    for index, sale in enumerate(lot["sales"]):
        assert _order_unit_price(mall, index, sale["order"]) == Decimal(sale["unit_price"])
    assert mall.held("auction:east:DUTCH-1") == 0
    # Each order took its units over from the lot; the last one holds its 3 units, the first
    # two ran out unpaid and go back to stock with the expiry sweep.
    assert mall.held(lot["sales"][-1]["order"]) == 3
    assert mall.free_units() == UNITS - 10
    with mall.platform.hq.transaction() as session:
        assert stock.expire_all(session, mall.clock.now()) == 7
        assert stock.ledger_discrepancies(session) == []
    assert mall.free_units() == UNITS - 3


def test_a_dealer_cap_holds_and_unsold_units_go_back_at_the_end(mall: Mall) -> None:
    mall.auction("dutch-auction", {**LOT, "max_per_dealer": 2}, code="DUTCH-1", minutes=30)
    assert mall.dealers[EAST][0].post(BUY, json={"quantity": 2}).status_code == 201
    capped = mall.dealers[EAST][0].post(BUY, json={"quantity": 1})
    assert capped.status_code == 409
    assert capped.json()["error"]["code"] == "dealer_limit_reached"
    assert mall.held("auction:east:DUTCH-1") == 8
    mall.clock.advance(minutes=31)
    late = mall.dealers[EAST][1].post(BUY, json={"quantity": 1})
    assert late.status_code == 409 and late.json()["error"]["code"] == "auction_closed"
    swept = mall.operator[EAST].post("/api/v1/x/auction/sweep", json={}).json()
    assert swept["closed"] == 1
    assert mall.held("auction:east:DUTCH-1") == 0
    assert mall.free_units() == UNITS - 2
    lot = mall.operator[EAST].get("/api/v1/x/auction/lots/DUTCH-1").json()
    assert lot["lot_status"] == "unsold" and lot["remaining"] == 8


def test_bidding_on_a_dutch_lot_and_buying_an_english_one_are_refused(mall: Mall) -> None:
    mall.auction("dutch-auction", LOT, code="DUTCH-1")
    wrong = mall.dealers[EAST][0].post(
        "/api/v1/x/auction/auctions/DUTCH-1/bids", json={"amount": "1300.00"}
    )
    assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "wrong_auction_type"
    empty = mall.dealers[EAST][0].post(BUY, json={})
    assert empty.status_code == 422


def test_a_region_without_the_plugin_never_sees_the_auction(mall: Mall) -> None:
    mall.auction("dutch-auction", LOT, code="DUTCH-1")
    south = mall.dealers[SOUTH][0]
    refused = south.get("/api/v1/x/auction/auctions")
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "plugin_not_enabled"
    assert south.post(BUY, json={"quantity": 1}).status_code == 404
    assert south.get("/api/v1/campaigns/for-you").json() == []
    east = mall.dealers[EAST][0].get("/api/v1/campaigns/for-you").json()
    assert [item["code"] for item in east] == ["DUTCH-1"]
    assert [a["code"] for a in mall.dealers[EAST][0].get("/api/v1/x/auction/auctions").json()] == [
        "DUTCH-1"
    ]
    not_enabled = mall.operator[SOUTH].post(
        "/api/v1/campaigns",
        json={
            "code": "S-1",
            "type": "dutch-auction",
            "name": "south",
            "config": LOT,
            "starts_at": mall.clock.now().isoformat(),
            "ends_at": mall.clock.now().replace(year=2027).isoformat(),
        },
    )
    assert not_enabled.status_code == 422
    assert not_enabled.json()["error"]["code"] == "campaign_type_not_enabled"
    assert mall.free_units(SOUTH) == UNITS


def test_an_untargeted_dealer_does_not_see_the_auction(mall: Mall) -> None:
    mall.auction("dutch-auction", LOT, code="DUTCH-1", publish=False)
    draft = mall.dealers[EAST][0].get("/api/v1/x/auction/auctions/DUTCH-1")
    assert draft.status_code == 404  # a draft is the operator's alone
    patched = mall.operator[EAST].patch(
        "/api/v1/campaigns/DUTCH-1", json={"targeting": {"dealers": ["D-EAST-1"]}}
    )
    assert patched.status_code == 200, patched.text
    assert (
        mall.operator[EAST]
        .post("/api/v1/campaigns/DUTCH-1/transition", json={"to": "scheduled"})
        .status_code
        == 200
    )
    assert mall.dealers[EAST][0].get("/api/v1/x/auction/auctions/DUTCH-1").status_code == 404
    assert mall.dealers[EAST][1].get("/api/v1/x/auction/auctions/DUTCH-1").status_code == 200
    assert mall.dealers[EAST][0].post(BUY, json={"quantity": 1}).status_code == 404
