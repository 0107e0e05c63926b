"""The demo's order history: about ninety days of dealers ordering, through the real services.

Orders are *planned* deterministically — a seeded generator picks, per region, dealers
(platinum dealers more often), SKUs in whole cases, a time in Chinese business hours and a
fate — then *played* in time order on a :class:`~vintry.clock.ManualClock` that starts
:data:`HISTORY_DAYS` days before now and only moves forward. Each order is placed with
:func:`vintry.orders.placement.place_order` (idempotency key ``demo-<region>-<n>``), then
each step schedules the next one, as a discrete-event simulation:

* most are paid on credit within their pay-by time, shipped from the warehouses that hold
  them (a second warehouse a day later), tracked through a transfer hub and signed for;
* some are cancelled by the dealer before paying, some expire unpaid (the expiry sweep
  cancels them), some are paid and then cancelled and refunded by HQ;
* some delivered orders come back: damaged packaging most often — above all for one
  mid-range SKU in one region (:data:`RETURN_HOTSPOT`), the pattern HQ's insight should
  find — then quality, wrong item, or another reason; HQ restocks, writes off or rejects.

A step that would fall after now is not played, so the newest orders are still on their way,
waiting to ship, or (two of them) unpaid. Dealers get a credit line by tier first (the
built-in ``credit`` payment method), audited like HQ's ``PUT /dealers/{code}/credit``.

Idempotent: an order whose key was used before is skipped with all its steps, and existing
credit lines are left alone, so a second run creates nothing.
"""

from __future__ import annotations

import enum
import heapq
import json
import random
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import select

from vintry.accounts.principal import Actor
from vintry.audit.service import record_change
from vintry.builtin import dealer_credit
from vintry.catalog.models import Sku
from vintry.clock import ManualClock, ensure_utc
from vintry.dealers.models import Dealer
from vintry.demo.data import PROMOTION_SKUS, DemoDealer, DemoRegion, demo_dealers
from vintry.errors import VintryError
from vintry.inventory.models import Warehouse
from vintry.money import from_fen, to_fen
from vintry.orders import lifecycle, returns
from vintry.orders.models import (
    DealerCredit,
    IdempotencyRecord,
    Order,
    OrderAllocation,
    OrderLine,
    Shipment,
)
from vintry.orders.placement import place_order
from vintry.orders.schemas import OrderLineIn, PlaceOrder
from vintry.platform import Platform

__all__ = [
    "HISTORY_DAYS",
    "HOTSPOT_ORDERS",
    "OPEN_ORDERS",
    "RETURN_HOTSPOT",
    "Fate",
    "HistoryReport",
    "PlannedOrder",
    "PlannedReturn",
    "plan_history",
    "seed_order_history",
]

HISTORY_DAYS = 90
KEY_PREFIX = "demo-"
PROMOTION_SKU_CODES = tuple(row["sku_code"] for row in PROMOTION_SKUS)
"""SKUs the demo's campaigns use (the gift, the near-expiry lot), left out of the history."""

RETURN_HOTSPOT = ("guangdong", "YL-P30-52-500")
"""(region, SKU) whose deliveries come back with damaged packaging far more than average."""
HOTSPOT_ORDERS = 3
"""The hotspot's region orders this many times more than the others, so its pattern shows."""
CREDIT_BY_TIER = {"platinum": 3_000_000, "gold": 1_500_000, "silver": 800_000, "bronze": 400_000}
"""Each demo dealer's credit limit in yuan, by tier."""
TIER_WEIGHT = {"platinum": 4, "gold": 3, "silver": 2, "bronze": 1}
"""How often a dealer of each tier orders, relative to the others."""
RECENT_SHARE, RECENT_DAYS = 1 / 6, 4
"""The share of orders placed in the last days of the history."""
OPEN_ORDERS = (("beijing", timedelta(minutes=8)), ("shanghai", timedelta(minutes=15)))
"""Orders placed shortly before now and left unpaid (region, how long ago)."""

_SEED = zlib.crc32(b"vintry demo order history")


class Fate(enum.StrEnum):
    """How a planned order's life goes (as far as now allows)."""

    DELIVERED = "delivered"
    DEALER_CANCELLED = "dealer_cancelled"
    EXPIRED = "expired"
    REFUNDED = "refunded"
    OPEN = "open"


@dataclass(frozen=True)
class SkuChoice:
    """An active SKU orders may name: its code, base price in fen and bottles per case."""

    code: str
    price_fen: int
    case_size: int


@dataclass(frozen=True)
class PlannedReturn:
    """Units of one SKU a dealer sends back, why, and what HQ decides."""

    sku: str
    units: int
    reason_code: str
    reason_text: str | None
    decision: str
    """``restock``, ``write_off`` or ``reject``."""


@dataclass(frozen=True)
class PlannedOrder:
    """One order of the history, decided before anything is played."""

    key: str
    region: str
    dealer: str
    placed_at: datetime
    lines: tuple[tuple[str, int], ...]
    fate: Fate
    returned: PlannedReturn | None = None

    @property
    def seed(self) -> int:
        """The seed of this order's own delays, whatever order the steps are played in."""
        return zlib.crc32(self.key.encode())


@dataclass
class HistoryReport:
    """What :func:`seed_order_history` did."""

    orders_created: int = 0
    orders_present: int = 0
    credit_created: int = 0
    credit_present: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    """The status each order created now ended in."""
    returns: Counter[str] = field(default_factory=Counter)
    """Returns requested now, by reason code."""
    problems: list[str] = field(default_factory=list)
    """Steps a service refused (none are expected): ``<key> <step>: <code>``."""


# --- planning ------------------------------------------------------------------------------


_OTHER_REASONS = (
    "banquet cancelled, cases unopened",
    "over-ordered for the Mid-Autumn season",
    "dealer closing a store",
)
_CANCEL_REASONS = ("ordered by mistake", "quantities changed", "duplicate order")


def plan_history(
    regions: Sequence[DemoRegion],
    skus: Sequence[SkuChoice],
    *,
    now: datetime,
    dealers_per_region: int,
    orders_per_region: int,
) -> list[PlannedOrder]:
    """The orders of the history, oldest first: the same plan for the same inputs.

    :param regions: the regional centers whose dealers order.
    :param skus: the active SKUs, by code.
    :param now: when the history ends (orders are placed over the days before it).
    :param dealers_per_region: the demo dealers of each region (see ``demo_dealers``).
    :param orders_per_region: orders per region; the return hotspot's region gets
        :data:`HOTSPOT_ORDERS` times as many, so its pattern stands out.
    """
    if not skus or dealers_per_region == 0 or orders_per_region == 0:
        return []
    rng = random.Random(_SEED)
    start = now - timedelta(days=HISTORY_DAYS)
    by_code = {sku.code: sku for sku in skus}
    hot_region, hot_sku = RETURN_HOTSPOT
    planned: list[PlannedOrder] = []
    for region in regions:
        dealers = demo_dealers(region, dealers_per_region)
        weights = [TIER_WEIGHT.get(dealer.tier, 1) for dealer in dealers]
        count = orders_per_region * (HOTSPOT_ORDERS if region.code == hot_region else 1)
        for number in range(1, count + 1):
            dealer = rng.choices(dealers, weights)[0]
            chosen = rng.sample(list(skus), k=min(len(skus), rng.choice((1, 1, 2, 2, 3))))
            if region.code == hot_region and hot_sku in by_code and rng.random() < 0.8:
                chosen = [by_code[hot_sku], *(s for s in chosen if s.code != hot_sku)][:3]
            lines = tuple(
                (sku.code, sku.case_size * rng.randint(1, 2 if sku.price_fen >= 200_000 else 4))
                for sku in sorted(chosen, key=lambda s: s.code)
            )
            fate = rng.choices(
                [Fate.DELIVERED, Fate.DEALER_CANCELLED, Fate.EXPIRED, Fate.REFUNDED],
                [84, 7, 5, 4],
            )[0]
            planned.append(
                PlannedOrder(
                    key=f"{KEY_PREFIX}{region.code}-{number:03d}",
                    region=region.code,
                    dealer=dealer.code,
                    placed_at=_business_hours(rng, start, now),
                    lines=lines,
                    fate=fate,
                    returned=_plan_return(rng, region.code, lines, by_code)
                    if fate is Fate.DELIVERED
                    else None,
                )
            )
    by_region = {region.code: region for region in regions}
    for region_code, ago in OPEN_ORDERS:
        open_region = by_region.get(region_code)
        if open_region is None:
            continue
        dealer = demo_dealers(open_region, dealers_per_region)[0]
        sku = skus[zlib.crc32(region_code.encode()) % len(skus)]
        planned.append(
            PlannedOrder(
                key=f"{KEY_PREFIX}{region_code}-open",
                region=region_code,
                dealer=dealer.code,
                placed_at=now - ago,
                lines=((sku.code, sku.case_size),),
                fate=Fate.OPEN,
            )
        )
    return sorted(planned, key=lambda order: (order.placed_at, order.key))


def _business_hours(rng: random.Random, start: datetime, now: datetime) -> datetime:
    """A moment of a working day in China (09:00–19:00, UTC+8) between *start* and *now*;
    one order in six falls in the last few days, so some are still on their way."""
    days = rng.randint(0, HISTORY_DAYS - 1)
    if rng.random() < RECENT_SHARE:
        days = rng.randint(HISTORY_DAYS - RECENT_DAYS, HISTORY_DAYS - 1)
    day = start + timedelta(days=days)
    moment = day.replace(hour=rng.randint(1, 10), minute=rng.randint(0, 59), second=0)
    moment = moment.replace(microsecond=0)
    while moment > now - timedelta(hours=1):
        moment -= timedelta(days=1)
    return max(moment, start)


def _plan_return(
    rng: random.Random,
    region: str,
    lines: tuple[tuple[str, int], ...],
    skus: dict[str, SkuChoice],
) -> PlannedReturn | None:
    hot_region, hot_sku = RETURN_HOTSPOT
    codes = [code for code, _units in lines]
    hot = region == hot_region and hot_sku in codes
    if rng.random() >= (0.75 if hot else 0.08):
        return None
    sku = hot_sku if hot else rng.choice(codes)
    ordered = dict(lines)[sku]
    units = rng.randint(1, min(ordered, skus[sku].case_size))
    reason = (
        "damaged_packaging"
        if hot
        else rng.choices(["damaged_packaging", "quality", "wrong_item", "other"], [4, 3, 2, 2])[0]
    )
    text = rng.choice(_OTHER_REASONS) if reason == "other" else None
    decision = {
        "damaged_packaging": rng.choices(["write_off", "restock", "reject"], [7, 2, 1])[0],
        "quality": rng.choices(["write_off", "reject"], [3, 1])[0],
        "wrong_item": "restock",
        "other": rng.choice(["restock", "reject"]),
    }[reason]
    return PlannedReturn(sku, units, reason, text, decision)


# --- playing -------------------------------------------------------------------------------


Step = Callable[[], list[tuple[timedelta, "Step"]]]
"""One action of the simulation; it returns the follow-ups it schedules (delay, step)."""


@contextmanager
def _running_on(platform: Platform, clock: ManualClock) -> Iterator[None]:
    """Run the services on *clock*: they read ``platform.clock``. Only for a platform
    nothing else uses meanwhile (the ``vintry demo`` process)."""
    real = platform.clock
    platform.clock = clock
    try:
        yield
    finally:
        platform.clock = real


def seed_order_history(
    platform: Platform,
    regions: Sequence[DemoRegion],
    *,
    actor: Actor,
    dealers_per_region: int,
    orders_per_region: int = 2,
    on_order: Callable[[int, int], None] | None = None,
) -> HistoryReport:
    """Give the demo dealers credit and play the planned order history (see the module).

    :param platform: the seeded deployment (regions, dealers, catalog and stock exist).
    :param regions: the regional centers whose dealers order.
    :param actor: who HQ's changes (credit limits, shipments, decisions) are recorded as.
    :param dealers_per_region: the demo dealers of each region.
    :param orders_per_region: orders planned per region (0: no history).
    :param on_order: told ``(orders handled, orders planned)`` after each placement.
    :returns: what was created, what was already there, and how the orders ended.
    """
    report = HistoryReport()
    end = platform.clock.now()
    with platform.hq.reading() as session:
        skus = [
            SkuChoice(code, price, case_size)
            for code, price, case_size in session.execute(
                select(Sku.code, Sku.base_price_fen, Sku.case_size)
                .where(Sku.active.is_(True), Sku.code.not_in(PROMOTION_SKU_CODES))
                .order_by(Sku.code)
            )
        ]
        used = set(
            session.scalars(
                select(IdempotencyRecord.key).where(IdempotencyRecord.key.startswith(KEY_PREFIX))
            )
        )
    plan = plan_history(
        regions,
        skus,
        now=end,
        dealers_per_region=dealers_per_region,
        orders_per_region=orders_per_region,
    )
    clock = ManualClock(end - timedelta(days=HISTORY_DAYS))
    with _running_on(platform, clock):
        _give_credit(platform, regions, dealers_per_region, actor, report)
        if not plan:
            return report
        player = _Player(platform, actor, regions, dealers_per_region, report)
        # (when, tie-breaker, step, whether it is an order's placement)
        queue: list[tuple[datetime, int, Step, bool]] = []
        sequence = 0
        for order in plan:
            if order.key in used:
                report.orders_present += 1
                continue
            sequence += 1
            queue.append((order.placed_at, sequence, player.placement(order), True))
        heapq.heapify(queue)
        handled = report.orders_present
        if on_order is not None:
            on_order(handled, len(plan))
        while queue:
            at, _seq, step, placing = heapq.heappop(queue)
            clock.set(max(at, clock.now()))
            for delay, follow_up in step():
                if at + delay <= end:  # later steps have not happened yet
                    sequence += 1
                    heapq.heappush(queue, (at + delay, sequence, follow_up, False))
            if placing:
                handled += 1
                if on_order is not None:
                    on_order(handled, len(plan))
        report.statuses.update(player.final_statuses())
    return report


def _give_credit(
    platform: Platform,
    regions: Sequence[DemoRegion],
    dealers_per_region: int,
    actor: Actor,
    report: HistoryReport,
) -> None:
    """A credit line for every demo dealer that has none, by tier; audited like the API."""
    tiers = {
        dealer.code: dealer.tier
        for region in regions
        for dealer in demo_dealers(region, dealers_per_region)
    }
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        have = set(session.scalars(select(DealerCredit.dealer_id)))
        dealers = session.execute(
            select(Dealer.id, Dealer.code, Dealer.site_id).where(Dealer.code.in_(list(tiers)))
        ).all()
        for dealer_id, code, site_id in sorted(dealers, key=lambda row: row[1]):
            if dealer_id in have:
                report.credit_present += 1
                continue
            limit_fen = to_fen(CREDIT_BY_TIER.get(tiers[code], 400_000))
            dealer_credit.set_limit(session, dealer_id, limit_fen, now)
            record_change(
                session,
                at=now,
                site_id=site_id,
                actor=actor,
                action="dealer.credit_limit",
                object_type="dealer_credit",
                object_id=code,
                before={"limit": "0.00", "used": "0.00"},
                after={"limit": str(from_fen(limit_fen)), "used": "0.00"},
            )
            report.credit_created += 1


class _Player:
    """Plays each planned order's steps; each step schedules the next ones."""

    def __init__(
        self,
        platform: Platform,
        actor: Actor,
        regions: Sequence[DemoRegion],
        dealers_per_region: int,
        report: HistoryReport,
    ) -> None:
        self.platform = platform
        self.actor = actor
        self.report = report
        self.numbers: dict[str, str] = {}
        self.dealers: dict[str, DemoDealer] = {
            dealer.code: dealer
            for region in regions
            for dealer in demo_dealers(region, dealers_per_region)
        }
        self.regions = {region.code: region for region in regions}

    def final_statuses(self) -> Counter[str]:
        """The status every order placed by this run is in now."""
        if not self.numbers:
            return Counter()
        with self.platform.hq.reading() as session:
            statuses = session.scalars(
                select(Order.status).where(Order.number.in_(list(self.numbers.values())))
            )
            return Counter(statuses)

    def _attempt(self, order: PlannedOrder, name: str, action: Callable[[], object]) -> bool:
        """Run one service call; a refusal is recorded (the order's story stops there)."""
        try:
            action()
        except VintryError as error:
            self.report.problems.append(f"{order.key} {name}: {error.code}")
            return False
        return True

    # --- the steps -----------------------------------------------------------------------

    def placement(self, order: PlannedOrder) -> Step:
        """The first step: place the order as its dealer would."""

        def place() -> list[tuple[timedelta, Step]]:
            with self.platform.hq.reading() as session:
                dealer_id = session.scalar(select(Dealer.id).where(Dealer.code == order.dealer))
            if dealer_id is None:
                self.report.problems.append(f"{order.key} place: dealer_not_found")
                return []
            request = PlaceOrder(
                lines=[OrderLineIn(sku=sku, quantity=units) for sku, units in order.lines]
            )
            result = place_order(
                self.platform,
                site_code=order.region,
                dealer_id=dealer_id,
                request=request,
                idempotency_key=order.key,
                raw_body=request.model_dump_json().encode(),
            )
            body = json.loads(result.body)
            if result.status != 201:
                code = body.get("error", {}).get("code", result.status)
                self.report.problems.append(f"{order.key} place: {code}")
                return []
            self.report.orders_created += 1
            number = str(body["number"])
            self.numbers[order.key] = number
            return self._after_placement(order, number)

        return place

    def _after_placement(self, order: PlannedOrder, number: str) -> list[tuple[timedelta, Step]]:
        rng = random.Random(order.seed)
        with self.platform.hq.reading() as session:
            pay_by = session.scalar(select(Order.pay_by).where(Order.number == number))
        window = (
            ensure_utc(pay_by) - self.platform.clock.now()
            if pay_by is not None
            else timedelta(minutes=30)
        )
        soon = window * rng.uniform(0.15, 0.8)
        if order.fate is Fate.OPEN:
            return []
        if order.fate is Fate.EXPIRED:
            return [(window + timedelta(minutes=1), self._expire(order))]
        if order.fate is Fate.DEALER_CANCELLED:
            return [(soon, self._dealer_cancel(order, rng.choice(_CANCEL_REASONS)))]
        return [(soon, self._pay(order, rng))]

    def _pay(self, order: PlannedOrder, rng: random.Random) -> Step:
        def pay() -> list[tuple[timedelta, Step]]:
            number = self.numbers[order.key]
            if not self._attempt(
                order, "pay", lambda: lifecycle.pay(self.platform, number, method="credit")
            ):
                return []
            if order.fate is Fate.REFUNDED:
                later = timedelta(hours=rng.uniform(1, 6))
                return [(later, self._hq_cancel(order, "dealer asked: duplicate order"))]
            return [(timedelta(hours=rng.uniform(4, 30)), self._ship(order, rng, first=True))]

        return pay

    def _dealer_cancel(self, order: PlannedOrder, reason: str) -> Step:
        def cancel() -> list[tuple[timedelta, Step]]:
            self._attempt(
                order,
                "cancel",
                lambda: lifecycle.cancel(
                    self.platform,
                    self.numbers[order.key],
                    reason=reason,
                    allowed_from=lifecycle.DEALER_CANCELS_FROM,
                ),
            )
            return []

        return cancel

    def _hq_cancel(self, order: PlannedOrder, reason: str) -> Step:
        def cancel() -> list[tuple[timedelta, Step]]:
            self._attempt(
                order,
                "refund",
                lambda: lifecycle.cancel(
                    self.platform, self.numbers[order.key], reason=reason, actor=self.actor
                ),
            )
            return []

        return cancel

    def _expire(self, order: PlannedOrder) -> Step:
        def expire() -> list[tuple[timedelta, Step]]:
            # The sweep cancels whatever is due then, this order among them.
            lifecycle.expire_unpaid(self.platform)
            return []

        return expire

    def _allocations(self, number: str) -> dict[str, list[tuple[str, int]]]:
        """The order's units per warehouse code, warehouses in code order."""
        found: dict[str, list[tuple[str, int]]] = {}
        with self.platform.hq.reading() as session:
            rows = session.execute(
                select(Warehouse.code, OrderLine.sku_code, OrderAllocation.quantity)
                .join(Order, Order.id == OrderAllocation.order_id)
                .join(OrderLine, OrderLine.id == OrderAllocation.line_id)
                .join(Warehouse, Warehouse.id == OrderAllocation.warehouse_id)
                .where(Order.number == number)
                .order_by(Warehouse.code, OrderAllocation.id)
            )
            for warehouse, sku, units in rows:
                found.setdefault(warehouse, []).append((sku, units))
        return found

    def _ship(self, order: PlannedOrder, rng: random.Random, *, first: bool) -> Step:
        def ship() -> list[tuple[timedelta, Step]]:
            number = self.numbers[order.key]
            allocations = sorted(self._allocations(number).items())
            batch = allocations[:1] if first else allocations[1:]
            for warehouse, lines in batch:
                if not self._attempt(
                    order,
                    "ship",
                    partial(
                        lifecycle.ship,
                        self.platform,
                        number,
                        warehouse=warehouse,
                        lines=lines,
                        actor=self.actor,
                    ),
                ):
                    return []
            if first and len(allocations) > 1:
                # The rest leaves a day later: the order is partially shipped meanwhile.
                follow: list[tuple[timedelta, Step]] = [
                    (timedelta(days=1), self._ship(order, rng, first=False))
                ]
                return follow
            transit = timedelta(hours=rng.uniform(10, 20))
            signed = transit * 2 + timedelta(hours=rng.uniform(2, 30))
            return [
                (transit, self._track(order, rng, "in_transfer")),
                (transit * 2, self._track(order, rng, "out_for_delivery")),
                (signed, self._track(order, rng, "signed_for")),
            ]

        return ship

    def _track(self, order: PlannedOrder, rng: random.Random, node: str) -> Step:
        def track() -> list[tuple[timedelta, Step]]:
            number = self.numbers[order.key]
            region = self.regions[order.region]
            dealer = self.dealers[order.dealer]
            depot = region.warehouses[0].city if region.warehouses else dealer.city
            location = {
                "in_transfer": f"{rng.choice(['Wuhan', 'Zhengzhou', 'Chengdu'])} transfer hub",
                "out_for_delivery": f"{depot} depot",
                "signed_for": dealer.city,
            }[node]
            with self.platform.hq.reading() as session:
                shipments = list(
                    session.scalars(
                        select(Shipment.number)
                        .join(Order, Order.id == Shipment.order_id)
                        .where(Order.number == number, Shipment.delivered_at.is_(None))
                        .order_by(Shipment.id)
                    )
                )
            for shipment in shipments:
                if not self._attempt(
                    order,
                    f"track {node}",
                    partial(
                        lifecycle.track,
                        self.platform,
                        number,
                        shipment,
                        node=node,
                        location=location,
                        actor=self.actor,
                    ),
                ):
                    return []
            if node != "signed_for" or order.returned is None:
                return []
            return [(timedelta(days=rng.uniform(1, 5)), self._request_return(order, rng))]

        return track

    def _request_return(self, order: PlannedOrder, rng: random.Random) -> Step:
        planned = order.returned
        assert planned is not None

        def request() -> list[tuple[timedelta, Step]]:
            created: list[str] = []

            def ask() -> None:
                created.append(
                    returns.request_return(
                        self.platform,
                        self.numbers[order.key],
                        reason_code=planned.reason_code,
                        reason_text=planned.reason_text,
                        lines=[(planned.sku, planned.units)],
                    ).number
                )

            if not self._attempt(order, "return", ask):
                return []
            self.report.returns[planned.reason_code] += 1
            decide_in = timedelta(days=rng.uniform(1, 3))
            return [(decide_in, self._decide(order, created[0], planned))]

        return request

    def _decide(self, order: PlannedOrder, number: str, planned: PlannedReturn) -> Step:
        def decide() -> list[tuple[timedelta, Step]]:
            approve = planned.decision != "reject"
            self._attempt(
                order,
                "decide",
                lambda: returns.decide_return(
                    self.platform,
                    number,
                    approve=approve,
                    dispositions={planned.sku: planned.decision} if approve else None,
                    note=None if approve else "outside the return policy",
                    actor=self.actor,
                ),
            )
            return []

        return decide
