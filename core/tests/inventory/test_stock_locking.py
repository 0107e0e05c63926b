"""Lock order and edge cases of the stock functions.

Rows of ``stock`` are locked in (warehouse, SKU) order by every function, so two
transactions never wait on each other in a cycle. A reservation that first releases an
expired hold used to lock that hold's row before the rows it reserves, out of order.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from vintry.clock import ManualClock
from vintry.errors import InvalidInput
from vintry.inventory import stock
from vintry.inventory.models import Reservation, Stock, StockMovement
from vintry.inventory.stock import Hold
from vintry.platform import Platform

from .conftest import StockPlace

_STOCK_UPDATE = re.compile(r"^\s*UPDATE stock SET", re.IGNORECASE)
WAIT_BOUND_S = 30.0


def _wait_until(condition: Any, what: str) -> None:
    """Poll *condition* until true, for at most :data:`WAIT_BOUND_S` (another thread acts)."""
    deadline = time.monotonic() + WAIT_BOUND_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.005)


def _backends_waiting_on_a_lock(platform: Platform) -> int:
    with platform.hq.engine.connect() as connection:
        return int(
            connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            or 0
        )


def test_a_reservation_releasing_an_expired_hold_locks_stock_rows_in_order(
    vintry_platform: Platform, vintry_clock: ManualClock, place: StockPlace
) -> None:
    """A hold on (k1, k2) that expires an old hold on k2, while an order holding k1 and k2
    is cancelled: both finish (no deadlock), whatever the interleaving."""
    if vintry_platform.hq.backend != "postgresql":
        pytest.skip("SQLite serialises writers, so no two transactions hold row locks at once")
    wh, _ = place.warehouse_ids
    sku1, sku2 = sorted(place.sku_ids)
    now = vintry_clock.now()
    with vintry_platform.hq.transaction() as session:
        for sku in (sku1, sku2):
            stock.receive(session, warehouse_id=wh, sku_id=sku, quantity=10, now=now)
        stock.reserve(
            session, reference="OLD", holds=[Hold(wh, sku2, 2)], now=now,
            expires_at=now + timedelta(minutes=1),
        )
        stock.reserve(
            session, reference="C", holds=[Hold(wh, sku1, 3), Hold(wh, sku2, 3)], now=now,
            expires_at=None,
        )
    later = vintry_clock.advance(minutes=2)

    reserving = threading.Event()  # A holds its first stock row lock
    resume = threading.Event()
    errors: list[str] = []

    def pause_a_after_its_first_stock_lock(
        _conn: Any, _cursor: Any, statement: str, *_args: Any
    ) -> None:
        first = threading.current_thread().name == "A" and not reserving.is_set()
        if first and _STOCK_UPDATE.match(statement):
            reserving.set()
            resume.wait(WAIT_BOUND_S)

    def run(name: str, work: Any) -> threading.Thread:
        def target() -> None:
            try:
                with vintry_platform.hq.transaction() as session:
                    work(session)
            except Exception as error:  # a deadlock victim is the failure this test shows
                errors.append(f"{name}: {error!r}")

        thread = threading.Thread(target=target, name=name)
        thread.start()
        return thread

    engine = vintry_platform.hq.engine
    event.listen(engine, "after_cursor_execute", pause_a_after_its_first_stock_lock)
    try:
        a = run("A", lambda s: stock.reserve(
            s, reference="A", holds=[Hold(wh, sku1, 1), Hold(wh, sku2, 1)], now=later,
            expires_at=None,
        ))
        _wait_until(reserving.is_set, "A holds a stock row")
        c = run("C", lambda s: stock.release(s, reference="C", now=later))
        _wait_until(lambda: _backends_waiting_on_a_lock(vintry_platform) >= 1, "C waits on A")
        resume.set()
        a.join(WAIT_BOUND_S)
        c.join(WAIT_BOUND_S)
    finally:
        resume.set()
        event.remove(engine, "after_cursor_execute", pause_a_after_its_first_stock_lock)
    assert errors == []
    with vintry_platform.hq.reading() as session:
        rows = {s.sku_id: (s.on_hand, s.reserved) for s in session.scalars(select(Stock))}
        assert rows == {sku1: (10, 1), sku2: (10, 1)}
        statuses = dict(session.execute(select(Reservation.reference, Reservation.status)).all())
        assert statuses == {"OLD": "expired", "C": "released", "A": "held"}
        assert stock.ledger_discrepancies(session) == []


def test_reserving_or_shipping_nothing_is_refused_before_any_write(
    vintry_platform: Platform, place: StockPlace
) -> None:
    now = vintry_platform.clock.now()
    with pytest.raises(InvalidInput) as empty_hold, vintry_platform.hq.transaction() as session:
        stock.reserve(session, reference="O-1", holds=[], now=now, expires_at=None)
    assert (empty_hold.value.code, empty_hold.value.field) == ("invalid_quantity", "holds")
    with pytest.raises(InvalidInput) as empty_ship, vintry_platform.hq.transaction() as session:
        stock.ship(session, reservation_ids=[], now=now)
    assert (empty_ship.value.code, empty_ship.value.field) == (
        "invalid_quantity", "reservation_ids"
    )
    with vintry_platform.hq.reading() as session:
        assert session.scalar(select(func.count()).select_from(StockMovement)) == 0
