"""The HQ transaction of placement, for a batch of orders at once (group commit).

Each worker process has two committers per platform that write the same batches: the
API's placement, a coroutine, awaits its :class:`Job` through
:class:`~vintry.db.group_commit.AsyncGroupCommitter` (:func:`submit_async`); the
callers on threads (checkout, the saga, the hand-over) submit through
:class:`~vintry.db.group_commit.GroupCommitter` (:func:`submit`). The batch a job lands in
is written in **one HQ transaction**:

1. (only after an idempotency conflict) the batch's existing idempotency records are read;
2. the stock rows of every SKU the batch orders, in every warehouse that may ship them, are
   read — locked on PostgreSQL (``FOR UPDATE``, key order), under SQLite's write lock —
   with the units of holds whose time ran out counted as available;
3. each order is sourced, in submission order, against what the orders before it left
   (the sourcing hook sees exactly what it may take); one that cannot be covered gets its
   409 ``out_of_stock`` answer and takes nothing;
4. one ``UPDATE … FROM (VALUES …)`` holds every row's units (expired holds on those rows are
   released first), then one multi-row ``INSERT`` each for reservations, ledger movements,
   orders, lines, allocations and outbox events;
5. the idempotency records are inserted *completed*, with the exact response bytes, with
   ``ON CONFLICT DO NOTHING``: a key some other request completed (a retry, a concurrent
   duplicate in another process) makes the batch roll back and run again in step 1's
   careful mode, where that job gets the stored answer (or 422 for another body).

An order either commits with its stock, lines, event and idempotency record, or none of
them exist. Refusals (a SKU not offered, out of stock) are stored like successes, so a
retry gets the same answer. The saga path (sites with claim hooks) submits jobs that
complete an in-progress record written earlier instead of inserting one.
"""

from __future__ import annotations

import json
import logging
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import bindparam, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from vintry.contracts import DealerView, SourcingPlan, SourcingRequest
from vintry.db.base import table
from vintry.db.bulk import BulkInsert
from vintry.db.counters import WAREHOUSES_COUNTER
from vintry.db.group_commit import Arrival, AsyncGroupCommitter, GroupCommitter
from vintry.errors import Conflict, InvalidInput, ServiceUnavailable, VintryError
from vintry.events.outbox import EventType, event_row
from vintry.inventory import stock
from vintry.inventory.models import Warehouse
from vintry.inventory.service import eligible_warehouse_ids
from vintry.money import from_fen
from vintry.orders.models import (
    IdempotencyRecord,
    IdempotencyStatus,
    Order,
    OrderAllocation,
    OrderLine,
    OrderStatus,
    OutboxEvent,
)
from vintry.orders.pricing import PricedCart, yuan_text
from vintry.platform import SITES_COUNTER, Platform, SiteContext
from vintry.sites.directory import SiteDirectory
from vintry.sourcing.planner import PlanRefused, SourcingPlanner, check_plan

log = logging.getLogger("vintry.orders")
MAX_BATCH = 32
GATHER_SECONDS = 0.002
"""How long a batch waits, at most, for orders still being priced (see
:mod:`vintry.db.group_commit`): about the time
pricing takes, well under a durable commit."""
CAREFUL_ATTEMPTS = 3


@dataclass(frozen=True)
class PlacementResult:
    """The HTTP status and exact body of a placement (first time or replayed)."""

    status: int
    body: bytes
    replayed: bool = False


@dataclass(frozen=True)
class Key:
    """An idempotency key in its scope, and the fingerprint of the body it came with."""

    scope: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class PreparedOrder:
    """An order priced and numbered, ready for the HQ transaction."""

    site: SiteContext
    directory: SiteDirectory
    dealer_id: int
    dealer: DealerView
    priced: PricedCart
    number: str
    note: str | None
    hold_minutes: int


@dataclass(frozen=True)
class Job:
    """One placement's write: an order to place, or a refusal to store, under *key*.

    ``record_id`` names the in-progress idempotency record the saga path wrote first;
    ``None`` means the record is inserted with the outcome."""

    key: Key
    request_id: str | None
    order: PreparedOrder | None = None
    refusal: VintryError | None = None
    record_id: int | None = None


class InProgress(Exception):
    """The key is held by a request on the saga path that has not finished."""


class _KeyTaken(Exception):
    """An idempotency record of the batch already existed: run it again, carefully."""


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def error_body(error: VintryError, request_id: str | None = None) -> bytes:
    """The error model's body for *error*, as the API would send it."""
    if request_id is None:
        from vintry.context import current_request_id

        request_id = current_request_id.get()
    return _dumps(
        {
            "error": {
                "code": error.code,
                "message": error.message,
                "field": error.field,
                "request_id": request_id,
                "details": error.details,
            }
        }
    )


# --- the committer of each platform -------------------------------------------------

_committers: weakref.WeakKeyDictionary[Platform, GroupCommitter[Job, PlacementResult]] = (
    weakref.WeakKeyDictionary()
)
_async_committers: weakref.WeakKeyDictionary[
    Platform, AsyncGroupCommitter[Job, PlacementResult]
] = weakref.WeakKeyDictionary()
_committers_lock = threading.Lock()
C = TypeVar("C")


def _of_platform(
    registry: weakref.WeakKeyDictionary[Platform, C],
    platform: Platform,
    make: Callable[[Callable[[Sequence[Job]], list[PlacementResult | BaseException]]], C],
) -> C:
    """*platform*'s committer in *registry*, made on first use with *make*(its batch)."""
    found = registry.get(platform)
    if found is None:
        with _committers_lock:
            found = registry.get(platform)
            if found is None:
                found = registry[platform] = make(lambda jobs: _run(platform, jobs))
    return found


def committer(platform: Platform) -> GroupCommitter[Job, PlacementResult]:
    """The order committer of *platform* in this process."""
    return _of_platform(
        _committers,
        platform,
        lambda run: GroupCommitter(run, max_batch=MAX_BATCH, gather_seconds=GATHER_SECONDS),
    )


def submit(platform: Platform, job: Job, arrival: Arrival | None = None) -> PlacementResult:
    """Write *job* in the next batch; its answer, or :class:`InProgress`. *arrival* is the
    job's announcement (``committer(platform).arriving()``) made while it was priced."""
    return committer(platform).submit(job, arrival)


def async_committer(platform: Platform) -> AsyncGroupCommitter[Job, PlacementResult]:
    """The order committer of *platform* for coroutines (the API's placement), in this
    process: the same batches as :func:`committer`'s, written on the event loop when HQ is
    SQLite, else on a writer thread."""
    return _of_platform(
        _async_committers,
        platform,
        lambda run: AsyncGroupCommitter(
            run,
            max_batch=MAX_BATCH,
            gather_seconds=GATHER_SECONDS,
            gathering="loop",
            inline=platform.hq.backend == "sqlite",
        ),
    )


async def submit_async(platform: Platform, job: Job) -> PlacementResult:
    """:func:`submit` for a coroutine: awaits *job*'s batch without holding a thread."""
    return await async_committer(platform).submit(job)


def _run(platform: Platform, jobs: Sequence[Job]) -> list[PlacementResult | BaseException]:
    try:
        return _attempt(platform, jobs, careful=False)
    except _KeyTaken:
        return _careful(platform, jobs)
    except VintryError:
        raise
    except Exception:
        if len(jobs) == 1:
            raise
        # One job's unexpected failure (a constraint, a deadlock victim) must not fail
        # its neighbours: each runs alone, and only the culprit gets the error.
        log.warning("a batch of %d orders failed; writing them one by one", len(jobs))
        return [_alone(platform, job) for job in jobs]


def _careful(platform: Platform, jobs: Sequence[Job]) -> list[PlacementResult | BaseException]:
    for _ in range(CAREFUL_ATTEMPTS):
        try:
            return _attempt(platform, jobs, careful=True)
        except _KeyTaken:
            continue  # PostgreSQL: another process completed a key between read and write
    return [
        Conflict(
            "a request with this Idempotency-Key is still being processed; retry shortly",
            code="idempotency_in_progress",
            field="header.idempotency-key",
        )
        for _ in jobs
    ]


def _alone(platform: Platform, job: Job) -> PlacementResult | BaseException:
    try:
        return _careful(platform, [job])[0]
    except Exception as error:
        return error


# --- one batch ------------------------------------------------------------------------


@dataclass
class _Placed:
    index: int
    order: PreparedOrder
    plan: SourcingPlan
    holds: list[stock.Hold]
    warehouse_ids: dict[str, int]
    pay_by: datetime
    pricing: dict[str, Any]
    body: bytes = b""


def _attempt(
    platform: Platform, jobs: Sequence[Job], *, careful: bool
) -> list[PlacementResult | BaseException]:
    outcomes: list[PlacementResult | BaseException | None] = [None] * len(jobs)
    same_as: dict[int, int] = {}
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        existing = _existing(session, jobs) if careful else {}
        first: dict[tuple[str, str], int] = {}
        active: list[int] = []
        for index, job in enumerate(jobs):
            name = (job.key.scope, job.key.key)
            record = existing.get(name)
            if record is not None and record.id != job.record_id:
                outcomes[index] = _answer_from(record, job)
            elif name in first:
                same_as[index] = first[name]
            else:
                first[name] = index
                active.append(index)
        answers: dict[int, tuple[int, bytes]] = {}
        orders = [(i, jobs[i].order) for i in active if jobs[i].order is not None]
        if orders:
            answers.update(
                _write_orders(platform, session, [(i, o) for i, o in orders if o], jobs, now)
            )
        for index in active:
            refusal = jobs[index].refusal
            if refusal is not None:
                answers[index] = (refusal.status_code, error_body(refusal, jobs[index].request_id))
        _store_answers(session, jobs, active, answers, now)
        platform.fault_point("before_hq_commit")
    for index in active:
        status, body = answers[index]
        outcomes[index] = PlacementResult(status, body)
    for index, origin in same_as.items():
        outcomes[index] = _duplicate_of(jobs[index], jobs[origin], outcomes[origin])
    assert all(outcome is not None for outcome in outcomes)
    return [outcome for outcome in outcomes if outcome is not None]


def _existing(session: Session, jobs: Sequence[Job]) -> dict[tuple[str, str], IdempotencyRecord]:
    names = sorted({(job.key.scope, job.key.key) for job in jobs})
    rows = session.scalars(
        select(IdempotencyRecord).where(
            tuple_(IdempotencyRecord.scope, IdempotencyRecord.key).in_(names)
        )
    )
    return {(row.scope, row.key): row for row in rows}


def _answer_from(record: IdempotencyRecord, job: Job) -> PlacementResult | BaseException:
    if record.request_hash != job.key.fingerprint:
        return _reused()
    if record.status == IdempotencyStatus.COMPLETED.value:
        assert record.response_status is not None and record.response_body is not None
        return PlacementResult(record.response_status, bytes(record.response_body), replayed=True)
    return InProgress(record.id)


def _duplicate_of(
    job: Job, origin: Job, outcome: PlacementResult | BaseException | None
) -> PlacementResult | BaseException:
    """A job of the batch with the key of an earlier one: the earlier one's answer."""
    if job.key.fingerprint != origin.key.fingerprint:
        return _reused()
    if isinstance(outcome, PlacementResult):
        return PlacementResult(outcome.status, outcome.body, replayed=True)
    assert outcome is not None
    return outcome


def _reused() -> InvalidInput:
    return InvalidInput(
        "this Idempotency-Key was used with a different request body",
        code="idempotency_key_reused",
        field="header.idempotency-key",
    )


def _store_answers(
    session: Session,
    jobs: Sequence[Job],
    active: list[int],
    answers: dict[int, tuple[int, bytes]],
    now: datetime,
) -> None:
    new = [i for i in active if jobs[i].record_id is None]
    connection = session.connection()
    if new:
        rows = [
            {
                "scope": jobs[i].key.scope,
                "key": jobs[i].key.key,
                "request_hash": jobs[i].key.fingerprint,
                "status": IdempotencyStatus.COMPLETED.value,
                "response_status": answers[i][0],
                "response_body": answers[i][1],
                "created_at": now,
                "lease_until": now,
                "completed_at": now,
            }
            for i in sorted(new, key=lambda i: (jobs[i].key.scope, jobs[i].key.key))
        ]
        inserted = connection.execute(_INSERT_RECORDS[connection.dialect.name], rows).all()
        if len(inserted) != len(rows):
            raise _KeyTaken
    owned = [i for i in active if jobs[i].record_id is not None]
    if owned:
        connection.execute(
            _COMPLETE_RECORD,
            [
                {
                    "record_id": jobs[i].record_id,
                    "status": IdempotencyStatus.COMPLETED.value,
                    "response_status": answers[i][0],
                    "response_body": answers[i][1],
                    "completed_at": now,
                }
                for i in owned
            ],
        )


# The statements of the batch, built once: a statement object that is reused keeps its
# cache key, so a batch neither rebuilds them nor re-keys SQLAlchemy's compiled cache, and
# they run on the session's connection (Core executemany), not through the ORM.
_INSERT_RECORDS = {
    name: upsert(table(IdempotencyRecord))
    .on_conflict_do_nothing(index_elements=["scope", "key"])
    .returning(table(IdempotencyRecord).c.id)
    for name, upsert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_COMPLETE_RECORD = update(table(IdempotencyRecord)).where(
    table(IdempotencyRecord).c.id == bindparam("record_id")
)  # SET: the columns each parameter set names
_INSERT_ORDERS = BulkInsert(table(Order), returning=("number", "id"))
_INSERT_LINES = BulkInsert(table(OrderLine), returning=("id", "order_id", "line_no"))
_INSERT_ALLOCATIONS = BulkInsert(table(OrderAllocation))
_INSERT_EVENTS = BulkInsert(table(OutboxEvent))


# --- orders ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Depot:
    id: int
    code: str
    region: str | None
    region_site_id: int | None
    latitude: Any
    longitude: Any
    priority: int


@dataclass(frozen=True)
class _Reach:
    """The warehouses that may ship a site's orders, and where the site is."""

    depots: tuple[_Depot, ...]
    destination: tuple[Any, Any] | None


def _reach(session: Session, site: SiteContext, directory: SiteDirectory) -> _Reach:
    version = site.versions(WAREHOUSES_COUNTER, SITES_COUNTER)
    cacheable = min(version) >= 0 and directory.version == version[1]
    cache = site.platform.cache("order_reach")
    found = cache.get(site.code, version) if cacheable else None
    if found is not None:
        return found  # type: ignore[no-any-return]
    ids = eligible_warehouse_ids(session, directory, site.code)
    rows = list(session.scalars(select(Warehouse).where(Warehouse.id.in_(ids))))
    depots = tuple(
        _Depot(
            id=w.id,
            code=w.code,
            region=directory.by_id(w.region_site_id).code if w.region_site_id else None,
            region_site_id=w.region_site_id,
            latitude=w.latitude,
            longitude=w.longitude,
            priority=w.priority,
        )
        for w in sorted(rows, key=lambda w: w.id)
    )
    region_id = next((node.id for node in reversed(site.path) if node.kind.value == "region"), None)
    destination = next(
        (
            (d.latitude, d.longitude)
            for d in sorted(depots, key=lambda d: d.priority)
            if d.region_site_id == region_id
        ),
        None,
    )
    reach = _Reach(depots=depots, destination=destination)
    if cacheable:
        cache.put(site.code, version, reach)
    return reach


def _write_orders(
    platform: Platform,
    session: Session,
    orders: list[tuple[int, PreparedOrder]],
    jobs: Sequence[Job],
    now: datetime,
) -> dict[int, tuple[int, bytes]]:
    answers: dict[int, tuple[int, bytes]] = {}
    reach = {o.site.code: _reach(session, o.site, o.directory) for _, o in orders}
    rows = stock.lock_rows(
        session,
        sku_ids={line.sku_id for _, o in orders for line in o.priced.lines},
        warehouse_ids={d.id for r in reach.values() for d in r.depots},
        now=now,
    )
    left = {key: state.available for key, state in rows.items()}
    strategy = SourcingPlanner(platform, session, now)  # each order's rule picks its strategy
    placed: list[_Placed] = []
    for index, order in orders:
        site_reach = reach[order.site.code]
        try:
            plan = _source(strategy, order, site_reach, left)
        except VintryError as error:
            answers[index] = (error.status_code, error_body(error, jobs[index].request_id))
            continue
        ids = {d.code: d.id for d in site_reach.depots}
        sku_ids = {line.sku: line.sku_id for line in order.priced.lines}
        holds = [stock.Hold(ids[a.warehouse], sku_ids[a.sku], a.quantity) for a in plan.allocations]
        for hold in holds:
            left[(hold.warehouse_id, hold.sku_id)] -= hold.quantity
        placed.append(
            _Placed(
                index=index,
                order=order,
                plan=plan,
                holds=holds,
                warehouse_ids=ids,
                pay_by=now + timedelta(minutes=order.hold_minutes),
                pricing=order.priced.breakdown(),
            )
        )
    if not placed:
        return answers
    reservation_ids = stock.hold_many(
        session, holds=[(p.order.number, p.holds, p.pay_by) for p in placed], rows=rows, now=now
    )
    for p in placed:
        p.body = _dumps(_order_payload(p, now))
    connection = session.connection()
    order_ids: dict[str, int] = {
        number: order_id
        for number, order_id in _INSERT_ORDERS.execute(
            connection, [_order_row(p, now) for p in placed]
        )
    }
    line_ids = {
        (order_id, line_no): line_id
        for line_id, order_id, line_no in _INSERT_LINES.execute(
            connection,
            [
                {
                    "order_id": order_ids[p.order.number],
                    "line_no": line.index + 1,
                    "sku_id": line.sku_id,
                    "sku_code": line.sku,
                    "name": line.name,
                    "quantity": line.quantity,
                    "base_unit_fen": line.base_unit_fen,
                    "unit_fen": line.unit_fen,
                    "discount_fen": line.discount_fen,
                    "total_fen": line.total_fen,
                    "shipped_quantity": 0,
                    "returned_quantity": 0,
                }
                for p in placed
                for line in p.order.priced.lines
            ],
        )
    }
    allocations = []
    for p in placed:
        order_id = order_ids[p.order.number]
        line_no = {line.sku: line.index + 1 for line in p.order.priced.lines}
        sku_ids = {line.sku: line.sku_id for line in p.order.priced.lines}
        for a in p.plan.allocations:
            warehouse_id = p.warehouse_ids[a.warehouse]
            allocations.append(
                {
                    "order_id": order_id,
                    "line_id": line_ids[(order_id, line_no[a.sku])],
                    "warehouse_id": warehouse_id,
                    "quantity": a.quantity,
                    "reservation_id": reservation_ids[
                        (p.order.number, warehouse_id, sku_ids[a.sku])
                    ],
                }
            )
    _INSERT_ALLOCATIONS.execute(connection, allocations)
    _INSERT_EVENTS.execute(
        connection,
        [
            event_row(
                type=EventType.ORDER_PLACED,
                site=p.order.site.code,
                payload={
                    "number": p.order.number,
                    "dealer": p.order.dealer.code,
                    "total": yuan_text(p.order.priced.total_fen),
                },
                now=now,
            )
            for p in placed
        ],
    )
    for p in placed:
        answers[p.index] = (201, p.body)
    return answers


def _source(
    strategy: SourcingPlanner, order: PreparedOrder, reach: _Reach, left: dict[tuple[int, int], int]
) -> SourcingPlan:
    """Source *order* by its site's rules against what the batch left (no SQL: the rules,
    the warehouses and their distances are cached per site and version)."""
    skus = {line.sku: line.sku_id for line in order.priced.lines}
    lines: dict[str, int] = defaultdict(int)
    for line in order.priced.lines:
        lines[line.sku] += line.quantity
    facts = strategy.facts(
        order.site,
        order.dealer,
        from_fen(order.priced.total_fen),
        frozenset(line.category for line in order.priced.draft.lines),
        sum(lines.values()),
    )
    sourced = strategy.source(
        order.site,
        order.dealer,
        lines,
        facts,
        reach.depots,
        reach.destination,
        lambda depot, sku: left.get((depot, skus[sku])),
    )
    _check_plan(sourced.plan, sourced.request)
    # The plan was validated when it was built and checked just above: not validated again.
    return RecordedPlan.model_construct(**dict(sourced.plan), record=sourced.record)


class RecordedPlan(SourcingPlan):
    """A plan with the record stored with its order (rule, fallbacks, KPI snapshot)."""

    record: dict[str, Any]


def _sourcing_record(plan: SourcingPlan, *, stored: bool) -> dict[str, Any]:
    """What the order keeps of its sourcing; the response leaves out the KPI snapshot."""
    if not isinstance(plan, RecordedPlan):
        return {"strategy": plan.strategy, "explanation": plan.explanation}
    if stored:
        return plan.record
    return {key: value for key, value in plan.record.items() if key != "snapshot"}


def _check_plan(plan: SourcingPlan, request: SourcingRequest) -> None:
    """The kernel's last word before reserving: the guard checked the plan already, this
    keeps a refused one from ever reaching the stock rows."""
    try:
        check_plan(plan, request)
    except PlanRefused as refused:
        raise ServiceUnavailable(f"sourcing failed: {refused}", code="sourcing_failed") from None


def _order_row(p: _Placed, now: datetime) -> dict[str, Any]:
    priced = p.order.priced
    return {
        "number": p.order.number,
        "site_id": p.order.site.node.id,
        "dealer_id": p.order.dealer_id,
        "status": OrderStatus.PLACED.value,
        "subtotal_fen": priced.subtotal_fen,
        "discount_fen": priced.discount_fen,
        "total_fen": priced.total_fen,
        "pricing": p.pricing,
        "sourcing": _sourcing_record(p.plan, stored=True),
        "note": p.order.note,
        "placed_at": now,
        "pay_by": p.pay_by,
        "paid_at": None,
        "cancelled_at": None,
        "cancel_reason": None,
        "updated_at": now,
    }


def _order_payload(p: _Placed, now: datetime) -> dict[str, Any]:
    priced = p.order.priced
    allocations: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in p.plan.allocations:
        allocations[a.sku].append({"warehouse": a.warehouse, "quantity": a.quantity})
    return {
        "number": p.order.number,
        "site": p.order.site.code,
        "dealer": p.order.dealer.code,
        "status": OrderStatus.PLACED.value,
        "subtotal": yuan_text(priced.subtotal_fen),
        "discount": yuan_text(priced.discount_fen),
        "total": yuan_text(priced.total_fen),
        "placed_at": now.isoformat(),
        "pay_by": p.pay_by.isoformat(),
        "lines": [
            {
                "line_no": line.index + 1,
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "base_unit_price": yuan_text(line.base_unit_fen),
                "unit_price": yuan_text(line.unit_fen),
                "discount": yuan_text(line.discount_fen),
                "total": yuan_text(line.total_fen),
                "allocations": allocations[line.sku],
            }
            for line in priced.lines
        ],
        "pricing": p.pricing,
        "sourcing": _sourcing_record(p.plan, stored=False),
    }


# --- for the other writer of orders: the hand-over of held stock (orders/handover.py) ---

PlacedOrder = _Placed
"""An order as the HQ transaction writes it: what :func:`order_row` and
:func:`order_payload` read."""


def order_row(placed: _Placed, now: datetime) -> dict[str, Any]:
    """The ``orders`` row of *placed*, as placement writes it."""
    return _order_row(placed, now)


def order_payload(placed: _Placed, now: datetime) -> dict[str, Any]:
    """The JSON body placement answers for *placed* (stored for idempotent replays)."""
    return _order_payload(placed, now)


def response_bytes(value: Any) -> bytes:
    """*value* as the exact bytes placement stores and sends (compact UTF-8 JSON)."""
    return _dumps(value)
