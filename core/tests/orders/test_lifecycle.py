"""The order state machine: payment, partial shipments, tracking to delivery, cancellation,
expiry, every illegal move refused, and concurrent changes of one order that cannot both win."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from vintry.accounts.principal import Actor
from vintry.audit.models import AuditEntry
from vintry.builtin.sourcing import distance_km
from vintry.clock import ManualClock
from vintry.inventory import stock
from vintry.inventory.models import Reservation, ReservationStatus, Stock, Warehouse
from vintry.orders import lifecycle
from vintry.orders.models import Order, OrderStatus, OutboxEvent, Payment
from vintry.platform import Platform
from vintry_sdk.testing import VintryFactory

from .conftest import Shop
from .lifecycle_flows import buyer, error_code

EAST, HUB = "WH-E1", "WH-HUB"


def _status_events(platform: Platform, number: str) -> list[tuple[str, str]]:
    with platform.hq.reading() as session:
        events = session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.type == "order.status_changed")
            .order_by(OutboxEvent.id)
        )
        return [
            (e.payload["from"], e.payload["to"]) for e in events if e.payload["number"] == number
        ]


def _on_hand(platform: Platform, shop: Shop) -> dict[int, tuple[int, int]]:
    with platform.hq.reading() as session:
        rows = session.execute(select(Stock.warehouse_id, Stock.on_hand, Stock.reserved)).all()
        assert stock.ledger_discrepancies(session) == []
    totals: dict[int, tuple[int, int]] = {}
    for warehouse_id, on_hand, reserved in rows:
        before = totals.get(warehouse_id, (0, 0))
        totals[warehouse_id] = (before[0] + on_hand, before[1] + reserved)
    return totals


def test_an_order_is_paid_shipped_in_parts_and_delivered(
    vintry_factory: VintryFactory, vintry_platform: Platform, vintry_clock: ManualClock, shop: Shop
) -> None:
    dealer = buyer(vintry_factory, shop)
    order = dealer.place((shop.sku, 5), (shop.other_sku, 2))
    number = order["number"]
    paid = dealer.pay(number)
    assert paid.status_code == 201, paid.text
    assert paid.json()["amount"] == order["total"] and paid.json()["provider"] == (
        "vintry-dealer-credit"
    )
    assert dealer.status(number) == "paid"

    # A paid order's holds no longer expire: the sweep past pay_by leaves them held.
    vintry_clock.advance(hours=2)
    with vintry_platform.hq.transaction() as session:
        assert stock.expire_all(session, vintry_clock.now()) == 0

    east, hub = shop.warehouse_ids
    first = dealer.ship(number, EAST, (shop.sku, 2))  # part of an allocation: a split
    assert first.status_code == 201, first.text
    assert first.json()["lines"] == [{"sku": shop.sku, "quantity": 2}]
    assert [t["node"] for t in first.json()["tracking"]] == ["left_warehouse"]
    assert dealer.status(number) == "partially_shipped"
    assert _on_hand(vintry_platform, shop)[east] == (98, 3)

    second = dealer.ship(number, EAST, (shop.sku, 3))
    assert second.status_code == 201, second.text
    assert dealer.status(number) == "partially_shipped"
    third = dealer.ship(number, HUB, (shop.other_sku, 2))
    assert third.status_code == 201, third.text
    assert dealer.status(number) == "shipped"
    assert _on_hand(vintry_platform, shop) == {east: (95, 0), hub: (8, 0)}

    shipments = [first.json()["number"], second.json()["number"], third.json()["number"]]
    assert dealer.track(number, shipments[0], "in_transfer").status_code == 201
    assert dealer.track(number, shipments[0], "in_transfer").status_code == 201  # 2nd hub
    assert dealer.track(number, shipments[0], "out_for_delivery").status_code == 201
    for shipment in shipments[:2]:
        assert dealer.track(number, shipment, "signed_for").status_code == 201
        assert dealer.status(number) == "shipped"
    last = dealer.track(number, shipments[2], "signed_for")
    assert last.status_code == 201 and last.json()["delivered_at"] is not None
    assert dealer.status(number) == "delivered"

    assert _status_events(vintry_platform, number) == [
        ("placed", "paid"),
        ("paid", "partially_shipped"),
        ("partially_shipped", "shipped"),
        ("shipped", "delivered"),
    ]
    with vintry_platform.hq.reading() as session:
        held = session.scalar(
            select(func.count())
            .select_from(Reservation)
            .where(Reservation.reference == number, Reservation.status == "held")
        )
        assert held == 0
        audited = set(session.scalars(select(AuditEntry.action)))
        assert {"order.ship", "shipment.track", "dealer.credit_limit"} <= audited
        assert "order.pay" not in audited  # the dealer's own payment is not audited


def test_the_timeline_shows_statuses_shipments_tracking_and_arrival(
    vintry_factory: VintryFactory, vintry_platform: Platform, vintry_clock: ManualClock, shop: Shop
) -> None:
    dealer = buyer(vintry_factory, shop)
    order = dealer.place((shop.sku, 2), (shop.other_sku, 1))
    number = order["number"]
    assert dealer.pay(number).status_code == 201
    vintry_clock.advance(minutes=10)
    near = dealer.ship(number, EAST, (shop.sku, 2)).json()
    far = dealer.ship(number, HUB, (shop.other_sku, 1)).json()
    vintry_clock.advance(hours=5)
    assert dealer.track(number, far["number"], "in_transfer").status_code == 201

    timeline = dealer.client.get(f"/api/v1/orders/{number}/timeline")
    assert timeline.status_code == 200, timeline.text
    body = timeline.json()
    statuses = [e["status"] for e in body["events"] if e["kind"] == "status"]
    assert statuses == ["placed", "paid", "partially_shipped", "shipped"]
    nodes = [(e["shipment"], e["node"]) for e in body["events"] if e["kind"] == "tracking"]
    assert nodes == [
        (near["number"], "left_warehouse"),
        (far["number"], "left_warehouse"),
        (far["number"], "in_transfer"),
    ]
    with vintry_platform.hq.reading() as session:
        east, hub = session.scalars(select(Warehouse).order_by(Warehouse.id)).all()[:2]
    km = distance_km((hub.latitude, hub.longitude), (east.latitude, east.longitude))
    assert km > 100
    # The built-in simulated carrier's standard service: 12 h handling, 500 km a day, 6 h of
    # last mile; after the hub (half way) only half the haul and the last mile are left.
    shipped_at = vintry_platform.clock.now() - timedelta(hours=5)
    by_number = {s["number"]: s for s in body["shipments"]}
    near_eta = shipped_at + timedelta(hours=18)
    far_eta = vintry_platform.clock.now() + timedelta(days=km / 2 / 500) + timedelta(hours=6)
    assert by_number[near["number"]]["estimated_arrival"] == _iso(near_eta)
    assert by_number[far["number"]]["carrier"] == "simulated"
    assert by_number[far["number"]]["service_level"] == "standard"
    assert by_number[far["number"]]["state"] == "in_transit"
    far_nodes = by_number[far["number"]]["tracking"]
    assert [n["node"] for n in far_nodes] == ["left_warehouse", "in_transfer"]
    # Recomputed on every event: the estimate made at departure is kept on its node
    # (the shipment keeps its distance to 0.1 km, a few seconds of haul).
    departed_eta = shipped_at + timedelta(hours=18) + timedelta(days=km / 500)
    assert abs(_parse(far_nodes[0]["estimated_arrival"]) - departed_eta) < timedelta(seconds=10)
    assert abs(_parse(by_number[far["number"]]["estimated_arrival"]) - far_eta) < timedelta(
        seconds=10
    )
    assert body["estimated_arrival"] == by_number[far["number"]]["estimated_arrival"]

    assert dealer.track(number, near["number"], "signed_for").status_code == 201
    assert dealer.track(number, far["number"], "signed_for").status_code == 201
    done = dealer.client.get(f"/api/v1/orders/{number}/timeline").json()
    assert done["status"] == "delivered" and done["estimated_arrival"] is None
    assert done["events"][-1]["status"] == "delivered"

    stranger = buyer(vintry_factory, shop, credit=None)
    hidden = stranger.client.get(f"/api/v1/orders/{number}/timeline")
    assert hidden.status_code == 404 and error_code(hidden) == "order_not_found"
    west = vintry_factory.site("west")
    operator = vintry_factory.client_for("site_operator", west.code)
    assert operator.get(f"/api/v1/orders/{number}/timeline").status_code == 404
    east_operator = vintry_factory.client_for("site_operator", shop.region)
    assert east_operator.get(f"/api/v1/orders/{number}/timeline").status_code == 200


def _parse(value: str) -> datetime:
    """An API timestamp as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _iso(moment: object) -> str:
    from datetime import datetime

    assert isinstance(moment, datetime)
    return moment.isoformat().replace("+00:00", "Z")


class _RolledBack(Exception):
    """Leaves a trial transaction without committing it."""


def _try_transition(
    platform: Platform, number: str, current: OrderStatus, target: OrderStatus
) -> dict[str, str] | None:
    """Put the order in *current*, try to move it to *target*, roll back; the refusal's
    details, or None when the move was allowed."""
    directory = platform.directory()
    refusal: dict[str, str] | None = None
    try:
        with platform.hq.transaction() as session:
            session.execute(
                update(Order).where(Order.number == number).values(status=current.value)
            )
            order = lifecycle.find_order(session, number)
            try:
                lifecycle.change_status(
                    session, directory, order, current, target, platform.clock.now()
                )
                assert order.status == target.value
            except lifecycle.IllegalTransition as refused:
                refusal = dict(refused.details)
            raise _RolledBack
    except _RolledBack:
        return refusal


def test_every_transition_outside_the_table_is_refused(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    dealer = buyer(vintry_factory, shop)
    number = dealer.place((shop.sku, 1))["number"]
    allowed = []
    for current in OrderStatus:
        for target in OrderStatus:
            refusal = _try_transition(vintry_platform, number, current, target)
            if refusal is None:
                allowed.append((current.value, target.value))
            else:
                assert refusal == {"from": current.value, "to": target.value}
    assert allowed == [
        ("placed", "paid"),
        ("placed", "cancelled"),
        ("paid", "partially_shipped"),
        ("paid", "shipped"),
        ("paid", "cancelled"),
        ("partially_shipped", "shipped"),
        ("shipped", "delivered"),
    ]
    assert dealer.status(number) == "placed"
    assert _status_events(vintry_platform, number) == []


def test_illegal_moves_through_the_api_answer_409_naming_from_and_to(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    dealer = buyer(vintry_factory, shop)
    order = dealer.place((shop.sku, 2))
    number = order["number"]

    def refused(response: Any, current: str, target: str) -> None:
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["code"] == "illegal_transition"
        assert error["details"] == {"from": current, "to": target}

    refused(dealer.ship(number, EAST, (shop.sku, 2)), "placed", "shipped")
    assert dealer.pay(number).status_code == 201
    refused(dealer.pay(number), "paid", "paid")
    cancel = dealer.client.post(f"/api/v1/orders/{number}/cancel", json={"reason": "changed"})
    refused(cancel, "paid", "cancelled")  # a dealer cancels only unpaid orders
    shipped = dealer.ship(number, EAST, (shop.sku, 2)).json()
    refused(
        dealer.hq.post(f"/api/v1/orders/{number}/cancel", json={"reason": "x"}),
        "shipped",
        "cancelled",
    )
    refused(dealer.ship(number, EAST, (shop.sku, 1)), "shipped", "shipped")
    assert dealer.track(number, shipped["number"], "out_for_delivery").status_code == 201
    backwards = dealer.track(number, shipped["number"], "in_transfer")
    assert backwards.status_code == 409 and error_code(backwards) == "illegal_tracking_node"
    assert dealer.track(number, shipped["number"], "signed_for").status_code == 201
    again = dealer.track(number, shipped["number"], "signed_for")
    assert again.status_code == 409 and error_code(again) == "illegal_tracking_node"
    refused(dealer.pay(number), "delivered", "paid")

    other = dealer.place((shop.sku, 1))["number"]
    cancelled = dealer.client.post(f"/api/v1/orders/{other}/cancel", json={"reason": "oops"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    refused(dealer.pay(other), "cancelled", "paid")
    refused(
        dealer.client.post(f"/api/v1/orders/{other}/cancel", json={"reason": "again"}),
        "cancelled",
        "cancelled",
    )
    assert _status_events(vintry_platform, other) == [("placed", "cancelled")]


def test_shipments_ship_only_what_the_order_holds_there(
    vintry_factory: VintryFactory, shop: Shop
) -> None:
    dealer = buyer(vintry_factory, shop)
    number = dealer.place((shop.sku, 3))["number"]
    assert dealer.pay(number).status_code == 201
    too_many = dealer.ship(number, EAST, (shop.sku, 4))
    assert too_many.status_code == 409 and error_code(too_many) == "nothing_to_ship"
    assert too_many.json()["error"]["details"]["pending"] == 3
    elsewhere = dealer.ship(number, HUB, (shop.sku, 1))
    assert elsewhere.status_code == 409 and error_code(elsewhere) == "nothing_to_ship"
    unknown = dealer.ship(number, "WH-NOWHERE", (shop.sku, 1))
    assert unknown.status_code == 422 and error_code(unknown) == "unknown_warehouse"
    duplicate = dealer.ship(number, EAST, (shop.sku, 1), (shop.sku, 1))
    assert duplicate.status_code == 422 and error_code(duplicate) == "duplicate_sku"
    forbidden = dealer.client.post(
        f"/api/v1/orders/{number}/shipments",
        json={"warehouse": EAST, "lines": [{"sku": shop.sku, "quantity": 1}]},
    )
    assert forbidden.status_code == 403
    assert dealer.status(number) == "paid"


def test_cancelling_releases_every_hold_and_refunds_the_credit(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    dealer = buyer(vintry_factory, shop, credit="20000.00")
    order = dealer.place((shop.sku, 4), (shop.other_sku, 3))
    number = order["number"]
    east, hub = shop.warehouse_ids
    assert _on_hand(vintry_platform, shop) == {east: (100, 4), hub: (10, 3)}
    assert dealer.pay(number).status_code == 201
    assert Decimal(dealer.credit()["used"]) == Decimal(order["total"])

    cancelled = dealer.hq.post(f"/api/v1/orders/{number}/cancel", json={"reason": "out of area"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert _on_hand(vintry_platform, shop) == {east: (100, 0), hub: (10, 0)}
    assert Decimal(dealer.credit()["used"]) == 0
    with vintry_platform.hq.reading() as session:
        amounts = session.scalars(select(Payment.amount_fen).order_by(Payment.id)).all()
        assert amounts == [int(Decimal(order["total"]) * 100), -int(Decimal(order["total"]) * 100)]
        cancelled_order = lifecycle.find_order(session, number)
        assert cancelled_order.cancel_reason == "out of area"
        assert cancelled_order.cancelled_at is not None
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "order.cancel"))
        assert entry is not None and entry.object_id == number
        assert entry.before == {"status": "paid"}
    assert _status_events(vintry_platform, number) == [("placed", "paid"), ("paid", "cancelled")]


def test_an_unpaid_order_expires_and_cannot_be_paid_late(
    vintry_factory: VintryFactory, vintry_platform: Platform, vintry_clock: ManualClock, shop: Shop
) -> None:
    dealer = buyer(vintry_factory, shop)
    late = dealer.place((shop.sku, 3))["number"]
    vintry_clock.advance(minutes=20)
    fresh = dealer.place((shop.sku, 2))["number"]
    vintry_clock.advance(minutes=15)  # past the first order's 30 minutes, not the second's

    refused = dealer.pay(late)
    assert refused.status_code == 409 and error_code(refused) == "order_expired"
    assert dealer.status(late) == "placed"
    assert lifecycle.expire_unpaid(vintry_platform) == [late]
    assert lifecycle.expire_unpaid(vintry_platform) == []
    assert dealer.status(late) == "cancelled" and dealer.status(fresh) == "placed"
    with vintry_platform.hq.reading() as session:
        assert lifecycle.find_order(session, late).cancel_reason == "expired"
    assert _status_events(vintry_platform, late) == [("placed", "cancelled")]
    east, _hub = shop.warehouse_ids
    assert _on_hand(vintry_platform, shop)[east] == (100, 2)
    refused_again = dealer.pay(late)
    assert refused_again.status_code == 409 and error_code(refused_again) == "illegal_transition"

    vintry_clock.advance(minutes=30)
    sweep = dealer.hq.post("/api/v1/orders/expire-unpaid")
    assert sweep.status_code == 200 and sweep.json() == {"cancelled": [fresh]}
    assert _on_hand(vintry_platform, shop)[east] == (100, 0)
    assert dealer.client.post("/api/v1/orders/expire-unpaid").status_code == 403


def test_a_payment_whose_holds_ran_out_is_refused_even_before_the_sweep(
    vintry_factory: VintryFactory, vintry_platform: Platform, vintry_clock: ManualClock, shop: Shop
) -> None:
    dealer = buyer(vintry_factory, shop)
    number = dealer.place((shop.sku, 1))["number"]
    with vintry_platform.hq.transaction() as session:  # another worker's clock ran ahead
        session.execute(
            update(Reservation)
            .where(Reservation.reference == number)
            .values(expires_at=vintry_clock.now())
        )
        stock.expire_all(session, vintry_clock.now())
    refused = dealer.pay(number)
    assert refused.status_code == 409 and error_code(refused) == "order_expired"
    assert Decimal(dealer.credit()["used"]) == 0


def _race(*calls: Callable[[], Any]) -> list[Any]:
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        start.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_concurrent_pay_and_cancel_of_one_order_exactly_one_wins(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    dealer = buyer(vintry_factory, shop)
    numbers = [dealer.place((shop.sku, 1))["number"] for _ in range(6)]
    canceller = vintry_factory.client_for("dealer", shop.region, dealer=dealer.code)
    expected_used = Decimal(0)
    for number in numbers:
        pay, cancel = _race(
            lambda n=number: dealer.pay(n),
            lambda n=number: canceller.post(f"/api/v1/orders/{n}/cancel", json={"reason": "race"}),
        )
        codes = sorted((pay.status_code, cancel.status_code))
        assert codes in ([200, 409], [201, 409]), (pay.text, cancel.text)
        loser = pay if pay.status_code == 409 else cancel
        assert error_code(loser) == "illegal_transition"
        status = dealer.status(number)
        if pay.status_code == 201:
            assert status == "paid"
            expected_used += Decimal("1499.00")
        else:
            assert status == "cancelled"
    assert Decimal(dealer.credit()["used"]) == expected_used
    east, _hub = shop.warehouse_ids
    paid = int(expected_used / Decimal("1499.00"))
    assert _on_hand(vintry_platform, shop)[east] == (100, paid)


def test_concurrent_hq_changes_of_one_order_queue_on_its_row(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    dealer = buyer(vintry_factory, shop)
    number = dealer.place((shop.sku, 4))["number"]
    assert dealer.pay(number).status_code == 201
    admin = Actor(name="hq-test")
    results = _race(
        lambda: _outcome(
            lambda: lifecycle.ship(
                vintry_platform, number, warehouse=EAST, lines=[(shop.sku, 4)], actor=admin
            )
        ),
        lambda: _outcome(
            lambda: lifecycle.cancel(vintry_platform, number, reason="race", actor=admin)
        ),
        lambda: _outcome(
            lambda: lifecycle.ship(
                vintry_platform, number, warehouse=EAST, lines=[(shop.sku, 2)], actor=admin
            )
        ),
    )
    winners = [r for r in results if r == "ok"]
    assert winners, results
    status = dealer.status(number)
    assert status in {"shipped", "partially_shipped", "cancelled"}
    with vintry_platform.hq.reading() as session:
        line_shipped = session.execute(
            select(func.sum(Reservation.quantity)).where(
                Reservation.reference == number,
                Reservation.status == ReservationStatus.SHIPPED.value,
            )
        ).scalar()
        assert stock.ledger_discrepancies(session) == []
    if status == "cancelled":
        assert results[1] == "ok" and line_shipped is None
    else:
        assert results[1] == "illegal_transition"
        assert line_shipped in (2, 4)


def _outcome(call: Callable[[], object]) -> str:
    try:
        call()
    except lifecycle.IllegalTransition:
        return "illegal_transition"
    except Exception as error:
        return getattr(error, "code", type(error).__name__)
    return "ok"
