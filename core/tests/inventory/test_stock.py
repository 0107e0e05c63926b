"""Stock never oversells: conditional holds, expiry in the same step, an exact ledger."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from vintry.clock import ManualClock
from vintry.inventory import stock
from vintry.inventory.models import Reservation, Stock
from vintry.inventory.stock import Hold, OutOfStock
from vintry.platform import Platform

from .conftest import StockPlace


def _stock(platform: Platform, warehouse_id: int, sku_id: int) -> tuple[int, int]:
    with platform.hq.reading() as session:
        row = session.get(Stock, (warehouse_id, sku_id))
        assert row is not None
        return row.on_hand, row.reserved


def test_receive_reserve_ship_and_release_keep_the_ledger_exact(
    vintry_platform: Platform, place: StockPlace
) -> None:
    wh, _ = place.warehouse_ids
    sku, _ = place.sku_ids
    now = vintry_platform.clock.now()
    with vintry_platform.hq.transaction() as session:
        stock.receive(session, warehouse_id=wh, sku_id=sku, quantity=10, now=now)
        stock.receive(session, warehouse_id=wh, sku_id=sku, quantity=5, now=now)
        shipped_ids = stock.reserve(
            session,
            reference="O-1",
            holds=[Hold(wh, sku, 4)],
            now=now,
            expires_at=now + timedelta(minutes=30),
        )
        stock.reserve(
            session,
            reference="O-2",
            holds=[Hold(wh, sku, 3)],
            now=now,
            expires_at=now + timedelta(minutes=30),
        )
    assert _stock(vintry_platform, wh, sku) == (15, 7)
    with vintry_platform.hq.transaction() as session:
        assert stock.ship(session, reservation_ids=shipped_ids, now=now) == 4
        assert stock.release(session, reference="O-2", now=now) == 3
        stock.adjust(session, warehouse_id=wh, sku_id=sku, delta=-1, now=now, note="broken bottle")
        stock.restock_return(
            session, warehouse_id=wh, sku_id=sku, quantity=2, now=now, reference="R-1"
        )
    assert _stock(vintry_platform, wh, sku) == (15 - 4 - 1 + 2, 0)
    with vintry_platform.hq.reading() as session:
        assert stock.ledger_discrepancies(session) == []


def test_a_multi_line_hold_is_all_or_nothing(vintry_platform: Platform, place: StockPlace) -> None:
    wh1, wh2 = place.warehouse_ids
    sku1, sku2 = place.sku_ids
    now = vintry_platform.clock.now()
    with vintry_platform.hq.transaction() as session:
        stock.receive(session, warehouse_id=wh1, sku_id=sku1, quantity=5, now=now)
        stock.receive(session, warehouse_id=wh2, sku_id=sku2, quantity=1, now=now)
    with pytest.raises(OutOfStock) as refused, vintry_platform.hq.transaction() as session:
        stock.reserve(
            session,
            reference="O-1",
            holds=[Hold(wh1, sku1, 5), Hold(wh2, sku2, 2)],
            now=now,
            expires_at=None,
        )
    assert refused.value.details == {
        "warehouse_id": wh2,
        "sku_id": sku2,
        "requested": 2,
        "available": 1,
    }
    assert _stock(vintry_platform, wh1, sku1) == (5, 0)
    with vintry_platform.hq.reading() as session:
        assert session.scalar(select(func.count()).select_from(Reservation)) == 0
        assert stock.ledger_discrepancies(session) == []


def test_an_expired_hold_never_refuses_a_sale(
    vintry_platform: Platform, vintry_clock: ManualClock, place: StockPlace
) -> None:
    wh, _ = place.warehouse_ids
    sku, _ = place.sku_ids
    now = vintry_clock.now()
    with vintry_platform.hq.transaction() as session:
        stock.receive(session, warehouse_id=wh, sku_id=sku, quantity=3, now=now)
        stock.reserve(
            session,
            reference="O-1",
            holds=[Hold(wh, sku, 3)],
            now=now,
            expires_at=now + timedelta(minutes=30),
        )
    later = vintry_clock.advance(minutes=31)
    with vintry_platform.hq.reading() as session:
        assert stock.available(session, sku_ids=[sku], warehouse_ids=[wh], now=later) == {
            sku: {wh: 3}
        }
    with vintry_platform.hq.transaction() as session:
        stock.reserve(
            session,
            reference="O-2",
            holds=[Hold(wh, sku, 3)],
            now=later,
            expires_at=later + timedelta(minutes=30),
        )
    with vintry_platform.hq.reading() as session:
        statuses = dict(session.execute(select(Reservation.reference, Reservation.status)).all())
        assert statuses == {"O-1": "expired", "O-2": "held"}
        assert stock.ledger_discrepancies(session) == []
    assert _stock(vintry_platform, wh, sku) == (3, 3)


def test_concurrent_holds_sell_exactly_what_is_on_hand(
    vintry_platform: Platform, place: StockPlace
) -> None:
    wh, _ = place.warehouse_ids
    sku, _ = place.sku_ids
    now = vintry_platform.clock.now()
    with vintry_platform.hq.transaction() as session:
        stock.receive(session, warehouse_id=wh, sku_id=sku, quantity=100, now=now)
    held, refused, errors = [], [], []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def buyer(number: int) -> None:
        start.wait()
        for attempt in range(12):
            try:
                with vintry_platform.hq.transaction() as session:
                    stock.reserve(
                        session,
                        reference=f"O-{number}-{attempt}",
                        holds=[Hold(wh, sku, 1)],
                        now=now,
                        expires_at=None,
                    )
                with lock:
                    held.append(1)
            except OutOfStock:
                with lock:
                    refused.append(1)
            except Exception as error:  # anything else is a bug the test must show
                with lock:
                    errors.append(repr(error))

    threads = [threading.Thread(target=buyer, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(held) == 100 and len(refused) == 16 * 12 - 100
    assert _stock(vintry_platform, wh, sku) == (100, 100)
    with vintry_platform.hq.reading() as session:
        assert stock.ledger_discrepancies(session) == []
