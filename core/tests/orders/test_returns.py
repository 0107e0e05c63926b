"""Returns: delivered units only, refunds exact to the fen, restock through the ledger or
write-off, credit given back, every refusal, and tenancy."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from vintry.audit.models import AuditEntry
from vintry.contracts import AdjustmentCandidate, CartDraft, DealerView
from vintry.hookspecs import hookimpl
from vintry.inventory import stock
from vintry.inventory.models import Stock, StockMovement
from vintry.orders.models import OrderLine, OutboxEvent, Payment
from vintry.orders.returns import refund_for, unit_refunds
from vintry.platform import Platform, SiteContext
from vintry_sdk.testing import VintryFactory

from .conftest import Shop
from .lifecycle_flows import Buyer, buyer, error_code

EAST, HUB = "WH-E1", "WH-HUB"


def _partition(data: st.DataObject, quantity: int) -> list[int]:
    chunks, left = [], quantity
    while left:
        take = data.draw(st.integers(min_value=1, max_value=left), label="chunk")
        chunks.append(take)
        left -= take
    return chunks


# --- the arithmetic ----------------------------------------------------------------------


@given(
    total=st.integers(min_value=0, max_value=10**10),
    quantity=st.integers(min_value=1, max_value=300),
    data=st.data(),
)
def test_returning_every_unit_in_any_chunks_refunds_exactly_the_line_total(
    total: int, quantity: int, data: st.DataObject
) -> None:
    refunded, returned = 0, 0
    for chunk in _partition(data, quantity):
        refunded += refund_for(total, quantity, returned, chunk)
        returned += chunk
    assert refunded == total
    units = unit_refunds(total, quantity)
    assert max(units) - min(units) <= 1  # every unit refunds its share, to the fen


def test_a_refund_cannot_cover_more_units_than_the_line() -> None:
    with pytest.raises(ValueError):
        refund_for(1000, 3, 2, 2)


# --- through the API -----------------------------------------------------------------------


def _delivered(dealer: Buyer, *lines: tuple[str, int]) -> dict[str, Any]:
    order = dealer.place(*lines)
    assert dealer.pay(order["number"]).status_code == 201
    dealer.deliver(order)
    assert dealer.status(order["number"]) == "delivered"
    return order


def _request(dealer: Buyer, number: str, *lines: tuple[str, int], **body: Any) -> Any:
    payload = {"reason_code": "quality", **body}
    payload["lines"] = [{"sku": sku, "quantity": units} for sku, units in lines]
    return dealer.client.post(f"/api/v1/orders/{number}/returns", json=payload)


def _decide(dealer: Buyer, number: str, decision: str = "approve", **dispositions: str) -> Any:
    return dealer.hq.post(
        f"/api/v1/returns/{number}/decision",
        json={"decision": decision, "dispositions": dispositions, "note": "checked"},
    )


def _stock(platform: Platform) -> dict[tuple[int, int], tuple[int, int]]:
    with platform.hq.reading() as session:
        assert stock.ledger_discrepancies(session) == []
        rows = session.execute(
            select(Stock.warehouse_id, Stock.sku_id, Stock.on_hand, Stock.reserved)
        )
        return {(w, s): (on_hand, reserved) for w, s, on_hand, reserved in rows}


def test_an_approved_return_restocks_or_writes_off_and_refunds_the_credit(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    dealer = buyer(vintry_factory, shop)
    order = _delivered(dealer, (shop.sku, 5), (shop.other_sku, 2))
    number = order["number"]
    used = Decimal(dealer.credit()["used"])
    before = _stock(vintry_platform)

    created = _request(
        dealer, number, (shop.sku, 2), (shop.other_sku, 1), reason_code="damaged_packaging"
    )
    assert created.status_code == 201, created.text
    request = created.json()
    assert request["status"] == "requested" and request["refund"] == "0.00"
    assert [(line["sku"], line["quantity"], line["warehouse"]) for line in request["lines"]] == [
        (shop.sku, 2, EAST),
        (shop.other_sku, 1, HUB),
    ]

    approved = _decide(
        dealer, request["number"], **{shop.sku: "restock", shop.other_sku: "write_off"}
    )
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "approved" and body["decided_by"] == "admin"
    assert body["refund"] == "3997.00"  # 2 × 1499.00 + 999.00
    assert [(line["disposition"], line["refund"]) for line in body["lines"]] == [
        ("restock", "2998.00"),
        ("write_off", "999.00"),
    ]
    assert Decimal(dealer.credit()["used"]) == used - Decimal("3997.00")

    after = _stock(vintry_platform)
    east, hub = shop.warehouse_ids
    restocked = {key: (after[key][0] - before[key][0]) for key in after}
    assert {w: delta for (w, _s), delta in restocked.items()} == {east: 2, hub: 0}
    with vintry_platform.hq.reading() as session:
        movements = session.execute(
            select(
                StockMovement.warehouse_id, StockMovement.kind, StockMovement.on_hand_delta
            ).where(StockMovement.reference == body["number"])
        ).all()
        assert movements == [(east, "return", 2)]  # the write-off moved nothing
        assert session.scalars(select(Payment.amount_fen).order_by(Payment.id)).all()[-1] == (
            -399_700
        )
        returned = dict(
            session.execute(select(OrderLine.sku_code, OrderLine.returned_quantity)).all()
        )
        assert returned == {shop.sku: 2, shop.other_sku: 1}
        events = [
            (e.payload["from"], e.payload["to"], e.payload["refund"])
            for e in session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.type == "return.status_changed")
                .order_by(OutboxEvent.id)
            )
        ]
        assert events == [(None, "requested", "0.00"), ("requested", "approved", "3997.00")]
        audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "return.approve"))
        assert audit is not None and audit.object_id == body["number"]

    timeline = dealer.client.get(f"/api/v1/orders/{number}/timeline").json()
    assert [r["number"] for r in timeline["returns"]] == [body["number"]]


def test_requests_never_claim_more_than_was_shipped(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    dealer = buyer(vintry_factory, shop)
    paid_only = dealer.place((shop.sku, 1))["number"]
    assert dealer.pay(paid_only).status_code == 201
    early = _request(dealer, paid_only, (shop.sku, 1))
    assert early.status_code == 409 and error_code(early) == "order_not_delivered"
    assert early.json()["error"]["details"] == {"status": "paid"}

    number = _delivered(dealer, (shop.sku, 5))["number"]
    too_many = _request(dealer, number, (shop.sku, 6))
    assert too_many.status_code == 409 and error_code(too_many) == "return_exceeds_shipped"
    assert too_many.json()["error"]["details"]["returnable"] == 5
    unknown = _request(dealer, number, (shop.other_sku, 1))
    assert unknown.status_code == 422 and error_code(unknown) == "sku_not_in_order"
    vague = _request(dealer, number, (shop.sku, 1), reason_code="other")
    assert vague.status_code == 422 and error_code(vague) == "validation_failed"
    bad_reason = _request(dealer, number, (shop.sku, 1), reason_code="changed_mind")
    assert bad_reason.status_code == 422

    first = _request(dealer, number, (shop.sku, 3), reason_code="other", reason_text="leaking")
    assert first.status_code == 201
    pending = _request(dealer, number, (shop.sku, 3))  # 3 of 5 are awaiting a decision
    assert pending.status_code == 409 and error_code(pending) == "return_exceeds_shipped"
    assert pending.json()["error"]["details"]["returnable"] == 2

    first_number = first.json()["number"]
    mismatch = _decide(dealer, first_number, **{shop.other_sku: "restock"})
    assert mismatch.status_code == 422 and error_code(mismatch) == "dispositions_mismatch"
    rejected = _decide(dealer, first_number, "reject")
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert rejected.json()["refund"] == "0.00"
    again = _decide(dealer, first_number, **{shop.sku: "restock"})
    assert again.status_code == 409 and error_code(again) == "illegal_transition"
    assert again.json()["error"]["details"] == {"from": "rejected", "to": "approved"}
    assert _request(dealer, number, (shop.sku, 5)).status_code == 201  # rejected units free


def test_returns_go_back_to_the_warehouses_the_units_left(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    east, hub = shop.warehouse_ids
    with vintry_platform.hq.transaction() as session:
        sku_id = next(s for (w, s) in _stock_keys(session) if w == east)
        stock.receive(
            session, warehouse_id=hub, sku_id=sku_id, quantity=10, now=vintry_platform.clock.now()
        )
    dealer = buyer(vintry_factory, shop)
    order = _delivered(dealer, (shop.sku, 103))
    assert order["lines"][0]["allocations"] == [
        {"warehouse": EAST, "quantity": 100},
        {"warehouse": HUB, "quantity": 3},
    ]
    created = _request(dealer, order["number"], (shop.sku, 101))
    assert [(line["warehouse"], line["quantity"]) for line in created.json()["lines"]] == [
        (EAST, 100),
        (HUB, 1),
    ]
    assert _decide(dealer, created.json()["number"], **{shop.sku: "restock"}).status_code == 200
    after = _stock(vintry_platform)
    assert after[(east, sku_id)] == (100, 0) and after[(hub, sku_id)] == (8, 0)


def _stock_keys(session: Any) -> list[tuple[int, int]]:
    return [(w, s) for w, s in session.execute(select(Stock.warehouse_id, Stock.sku_id))]


def test_returns_stay_inside_the_dealers_tenant(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    dealer = buyer(vintry_factory, shop)
    number = _delivered(dealer, (shop.sku, 2))["number"]
    created = _request(dealer, number, (shop.sku, 1)).json()["number"]
    stranger = buyer(vintry_factory, shop, credit=None)
    assert _request(stranger, number, (shop.sku, 1)).status_code == 404
    hidden = stranger.client.get(f"/api/v1/returns/{created}")
    assert hidden.status_code == 404 and error_code(hidden) == "return_not_found"
    assert stranger.client.get("/api/v1/returns").json() == []
    assert [r["number"] for r in dealer.client.get("/api/v1/returns").json()] == [created]
    assert dealer.client.get(f"/api/v1/returns/{created}").status_code == 200
    decide = dealer.client.post(f"/api/v1/returns/{created}/decision", json={"decision": "reject"})
    assert decide.status_code == 403
    east_operator = vintry_factory.client_for("site_operator", shop.region)
    listed = east_operator.get("/api/v1/returns", params={"status": "requested"})
    assert [r["number"] for r in listed.json()] == [created]
    west = vintry_factory.site("west")
    assert (
        vintry_factory.client_for("site_operator", west.code)
        .get(f"/api/v1/returns/{created}")
        .status_code
        == 404
    )


class OddDiscount:
    """Takes 100.01 yuan off every cart, so line totals do not split evenly into units."""

    @hookimpl
    def vintry_price_cart(
        self, cart: CartDraft, site: SiteContext, dealer: DealerView, now: datetime
    ) -> list[AdjustmentCandidate]:
        return [AdjustmentCandidate(campaign="odd", reason="odd", amount=Decimal("100.01"))]


@pytest.fixture
def odd_prices(vintry_platform: Platform, vintry_factory: VintryFactory, shop: Shop) -> None:
    assert vintry_platform.plugins.register("odd", OddDiscount()).status == "loaded"
    vintry_factory.enable_plugin("odd", shop.region)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_returning_every_unit_through_the_api_refunds_the_line_total(
    data: st.DataObject,
    odd_prices: None,
    vintry_factory: VintryFactory,
    vintry_platform: Platform,
    shop: Shop,
) -> None:
    quantity = data.draw(st.integers(min_value=2, max_value=9), label="quantity")
    dealer = buyer(vintry_factory, shop)
    order = _delivered(dealer, (shop.sku, quantity))
    line_total = Decimal(order["lines"][0]["total"])
    assert line_total == quantity * Decimal("1499.00") - Decimal("100.01")
    refunds = Decimal(0)
    for chunk in _partition(data, quantity):
        created = _request(dealer, order["number"], (shop.sku, chunk))
        assert created.status_code == 201, created.text
        disposition = data.draw(st.sampled_from(["restock", "write_off"]), label="disposition")
        decided = _decide(dealer, created.json()["number"], **{shop.sku: disposition})
        assert decided.status_code == 200, decided.text
        refunds += Decimal(decided.json()["refund"])
    assert refunds == line_total
    assert Decimal(dealer.credit()["used"]) == 0
    _stock(vintry_platform)  # the ledger still adds up
