"""A Hypothesis state machine drives the stock functions against an in-memory model.

Rules: receive, reserve (several lines, all or nothing, may be refused ``out_of_stock``),
release, cancel (a release of any order, again), expire (move the clock; sometimes sweep),
ship (some of an order's holds), return (restock shipped units), adjust. After every step
the database must agree with the model and with itself: on hand and reserved per row,
reserved equal to the units of the holds still held (expired ones included until released),
available never negative, every reservation's status, and a ledger that sums to the stock.

One platform per backend serves every example; each example works on two SKUs of its own
(in two shared warehouses) and releases its holds when it ends, so examples never see each
other's stock, and a sweep releases only the example's own holds.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select
from vintry.clock import ManualClock
from vintry.errors import Conflict
from vintry.inventory import stock
from vintry.inventory.models import Reservation, ReservationStatus, Stock
from vintry.inventory.stock import Hold, OutOfStock
from vintry.platform import Platform

from .conftest import StockCatalog

HELD, SHIPPED, RELEASED, EXPIRED = (s.value for s in ReservationStatus)
Key = tuple[int, int]

MACHINE_SETTINGS = settings(
    max_examples=30,
    stateful_step_count=40,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@dataclass
class ModelHold:
    """What the model knows of one reservation."""

    reference: str
    key: Key
    quantity: int
    expires_at: datetime | None
    status: str = HELD
    returnable: int = 0

    def timed_out(self, now: datetime) -> bool:
        """Held, but its time ran out: available to others, released by the next step."""
        return self.status == HELD and self.expires_at is not None and self.expires_at <= now


class StockMachine(RuleBasedStateMachine):
    """The stock of two SKUs in two warehouses, and the holds on them."""

    platform: ClassVar[Platform]
    clock: ClassVar[ManualClock]
    catalog: ClassVar[StockCatalog]
    warehouse_ids: ClassVar[tuple[int, int]]
    examples: ClassVar[Iterator[int]]

    def __init__(self) -> None:
        super().__init__()
        self.example = next(self.examples)
        self.sku_ids = self.catalog.skus(f"SM-{self.example:04d}-A", f"SM-{self.example:04d}-B")
        self.keys: list[Key] = sorted((w, s) for w in self.warehouse_ids for s in self.sku_ids)
        self.on_hand: dict[Key, int] = {}  # a key is here once it has a stock row
        self.reserved: dict[Key, int] = {}
        self.holds: dict[int, ModelHold] = {}
        self.references: dict[str, list[int]] = {}
        self.numbers = itertools.count(1)

    # --- helpers -------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.clock.now()

    def _held_units(self, reference: str) -> int:
        return sum(
            self.holds[i].quantity for i in self.references[reference]
            if self.holds[i].status == HELD
        )

    def _unhold(self, reservation_id: int, status: str) -> None:
        hold = self.holds[reservation_id]
        hold.status = status
        self.reserved[hold.key] -= hold.quantity

    def _add_on_hand(self, key: Key, quantity: int) -> None:
        self.on_hand[key] = self.on_hand.get(key, 0) + quantity
        self.reserved.setdefault(key, 0)

    # --- rules ---------------------------------------------------------------------------

    @initialize(quantities=st.lists(st.integers(0, 30), min_size=4, max_size=4))
    def opening_stock(self, quantities: list[int]) -> None:
        """Most rows start with stock, so that holds, shipments and returns happen."""
        for key, quantity in enumerate(quantities):
            if quantity:
                self.receive(key, quantity)

    @initialize(lines=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 4)), min_size=1,
                               max_size=4))
    def opening_order(self, lines: list[tuple[int, int]]) -> None:
        """An order placed before anything else, so that shipping has something to ship."""
        self.reserve(lines, None)

    @rule(key=st.integers(0, 3), quantity=st.integers(1, 20))
    def receive(self, key: int, quantity: int) -> None:
        w, s = self.keys[key]
        with self.platform.hq.transaction() as session:
            stock.receive(session, warehouse_id=w, sku_id=s, quantity=quantity, now=self._now())
        self._add_on_hand((w, s), quantity)

    @rule(
        lines=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 6)), min_size=1, max_size=3),
        minutes=st.sampled_from([None, 5, 30]),
    )
    def reserve(self, lines: list[tuple[int, int]], minutes: int | None) -> None:
        now = self._now()
        reference = f"SM-{self.example}-{next(self.numbers)}"
        expires_at = now + timedelta(minutes=minutes) if minutes else None
        wanted: dict[Key, int] = defaultdict(int)
        for key, quantity in lines:
            wanted[self.keys[key]] += quantity
        timed_out = [i for i, h in self.holds.items() if h.key in wanted and h.timed_out(now)]
        freed: dict[Key, int] = defaultdict(int)
        for i in timed_out:
            freed[self.holds[i].key] += self.holds[i].quantity
        short = [
            (key, self.on_hand.get(key, 0) - self.reserved.get(key, 0) + freed[key])
            for key in sorted(wanted)
            if self.on_hand.get(key, 0) - self.reserved.get(key, 0) + freed[key] < wanted[key]
        ]
        holds = [Hold(w, s, q) for (w, s), q in ((self.keys[k], q) for k, q in lines)]
        try:
            with self.platform.hq.transaction() as session:
                ids = stock.reserve(
                    session, reference=reference, holds=holds, now=now, expires_at=expires_at
                )
        except OutOfStock as refused:
            assert short, f"refused although every line was available: {refused.details}"
            (w, s), available = short[0]
            assert refused.details == {
                "warehouse_id": w, "sku_id": s, "requested": wanted[(w, s)],
                "available": available,
            }
            return  # the transaction rolled back: not even the expired holds were released
        assert not short, f"held although {short} could not be"
        for i in timed_out:
            self._unhold(i, EXPIRED)
        assert len(ids) == len(wanted)
        for key, reservation_id in zip(sorted(wanted), ids, strict=True):
            self.holds[reservation_id] = ModelHold(reference, key, wanted[key], expires_at)
            self.reserved[key] += wanted[key]
        self.references[reference] = list(ids)

    def _release(self, reference: str) -> None:
        expected = self._held_units(reference)
        with self.platform.hq.transaction() as session:
            released = stock.release(session, reference=reference, now=self._now())
        assert released == expected
        for i in self.references[reference]:
            if self.holds[i].status == HELD:
                self._unhold(i, RELEASED)

    @precondition(lambda self: any(self._held_units(r) for r in self.references))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        """Release an order that still holds something."""
        held = sorted(r for r in self.references if self._held_units(r))
        self._release(data.draw(st.sampled_from(held)))

    @precondition(lambda self: bool(self.references))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        """Cancel any order, whatever is left of it; a second cancel releases nothing."""
        reference = data.draw(st.sampled_from(sorted(self.references)))
        self._release(reference)
        self._release(reference)

    @rule(minutes=st.integers(1, 20), sweep=st.booleans())
    def expire(self, minutes: int, sweep: bool) -> None:
        """Time passes; sometimes the sweeper runs (otherwise the next hold expires them)."""
        now = self.clock.advance(minutes=minutes)
        if not sweep:
            return
        timed_out = [i for i, h in self.holds.items() if h.timed_out(now)]
        with self.platform.hq.transaction() as session:
            released = stock.expire_all(session, now)
        assert released == sum(self.holds[i].quantity for i in timed_out)
        for i in timed_out:
            self._unhold(i, EXPIRED)

    @precondition(lambda self: any(self._held_units(r) for r in self.references))
    @rule(data=st.data(), any_order=st.booleans())
    def ship(self, data: st.DataObject, any_order: bool) -> None:
        """Ship some holds of an order (usually one still holding something); refused
        whole if one of them is no longer held."""
        held = [r for r in self.references if any_order or self._held_units(r)]
        reference = data.draw(st.sampled_from(sorted(held)))
        ids = data.draw(
            st.lists(st.sampled_from(self.references[reference]), min_size=1, unique=True)
        )
        shippable = all(self.holds[i].status == HELD for i in ids)
        try:
            with self.platform.hq.transaction() as session:
                shipped = stock.ship(session, reservation_ids=ids, now=self._now())
        except Conflict as refused:
            assert not shippable and refused.code == "reservation_not_held"
            return
        assert shippable and shipped == sum(self.holds[i].quantity for i in ids)
        for i in ids:
            hold = self.holds[i]
            self._unhold(i, SHIPPED)
            self.on_hand[hold.key] -= hold.quantity
            hold.returnable = hold.quantity

    @precondition(lambda self: any(h.returnable for h in self.holds.values()))
    @rule(data=st.data())
    def return_(self, data: st.DataObject) -> None:
        """A dealer returns some shipped units; they go back on hand."""
        candidates = sorted(i for i, h in self.holds.items() if h.returnable)
        hold = self.holds[data.draw(st.sampled_from(candidates))]
        quantity = data.draw(st.integers(1, hold.returnable))
        w, s = hold.key
        with self.platform.hq.transaction() as session:
            stock.restock_return(
                session, warehouse_id=w, sku_id=s, quantity=quantity, now=self._now(),
                reference=hold.reference,
            )
        hold.returnable -= quantity
        self._add_on_hand(hold.key, quantity)

    @rule(key=st.integers(0, 3), delta=st.integers(-10, 10).filter(bool))
    def adjust(self, key: int, delta: int) -> None:
        """A count or breakage; never below what is held (expired holds included)."""
        w, s = self.keys[key]
        allowed = (w, s) in self.on_hand and self.on_hand[(w, s)] + delta >= self.reserved[(w, s)]
        try:
            with self.platform.hq.transaction() as session:
                stock.adjust(session, warehouse_id=w, sku_id=s, delta=delta, now=self._now(),
                             note="count")
        except Conflict as refused:
            assert not allowed and refused.code == "adjustment_below_reserved"
            return
        assert allowed
        self.on_hand[(w, s)] += delta

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def the_database_agrees_with_the_model_and_itself(self) -> None:
        now = self._now()
        with self.platform.hq.reading() as session:
            rows = {
                (row.warehouse_id, row.sku_id): (row.on_hand, row.reserved)
                for row in session.scalars(select(Stock).where(Stock.sku_id.in_(self.sku_ids)))
            }
            held = {
                (w, s): int(q)
                for w, s, q in session.execute(
                    select(Reservation.warehouse_id, Reservation.sku_id,
                           func.sum(Reservation.quantity))
                    .where(Reservation.sku_id.in_(self.sku_ids), Reservation.status == HELD)
                    .group_by(Reservation.warehouse_id, Reservation.sku_id)
                ).all()
            }
            statuses = dict(
                session.execute(
                    select(Reservation.id, Reservation.status).where(
                        Reservation.sku_id.in_(self.sku_ids)
                    )
                ).all()
            )
            atp = stock.available(
                session, sku_ids=self.sku_ids, warehouse_ids=self.warehouse_ids, now=now
            )
            discrepancies = stock.ledger_discrepancies(session)
        assert rows == {key: (self.on_hand[key], self.reserved[key]) for key in self.on_hand}
        assert {key: units for key, units in held.items() if units} == {
            key: reserved for key, (_, reserved) in rows.items() if reserved
        }
        assert statuses == {i: h.status for i, h in self.holds.items()}
        expired: dict[Key, int] = defaultdict(int)
        for hold in self.holds.values():
            if hold.timed_out(now):
                expired[hold.key] += hold.quantity
        for (w, s), (on_hand, reserved) in rows.items():
            assert atp[s][w] == on_hand - reserved + expired[(w, s)] >= 0
        assert discrepancies == []

    def teardown(self) -> None:
        """Release what is still held, so later examples' sweeps see only their own holds."""
        with self.platform.hq.transaction() as session:
            for reference in self.references:
                stock.release(session, reference=reference, now=self._now())


def test_stock_agrees_with_its_model_whatever_the_sequence(
    vintry_platform: Platform, vintry_clock: ManualClock, stock_catalog: StockCatalog
) -> None:
    bound = type(
        "BoundStockMachine",
        (StockMachine,),
        {
            "platform": vintry_platform,
            "clock": vintry_clock,
            "catalog": stock_catalog,
            "warehouse_ids": (
                stock_catalog.warehouse("SM-WH-1"), stock_catalog.warehouse("SM-WH-2")
            ),
            "examples": itertools.count(1),
        },
    )
    run_state_machine_as_test(bound, settings=MACHINE_SETTINGS)
