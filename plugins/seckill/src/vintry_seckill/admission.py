"""Attempts: the atomic claim of flash-sale units, batched through a group committer.

An attempt that passes the cheap checks (the sale is live and for this dealer, and — with
Redis — the hot counter admitted it) becomes an :class:`AttemptJob`, written by
:func:`admit_batch` together with every other attempt on the same site database that
arrived meanwhile: **one transaction, one durable commit** for the batch
(:class:`vintry.db.group_commit.GroupCommitter`; the site setting ``group_commit`` off
writes each attempt in its own transaction, through the same function). In that
transaction, in this order (the order every writer of these tables takes):

1. the campaigns are read again — the decision never rests on a cached read;
2. holds of these sales whose time ran out are expired (``UPDATE … RETURNING``): their
   units return to the quota and to their dealers' allowance *in this same step*, so an
   expired hold never refuses a sale;
3. the sales' counter rows are locked (``FOR UPDATE`` on PostgreSQL; SQLite's write lock
   is held already) and the dealers' rows with them; each attempt is decided in arrival
   order against what the ones before it left;
4. one conditional update per sale moves ``taken`` (``WHERE taken + Δ <= quota``), one per
   dealer its units (``WHERE units + Δ <= limit_units``), with check constraints behind
   both; one multi-row insert writes the holds.

A row that no longer has what the locked read showed raises and rolls the batch back (a
bug, never a race). After the commit, the Redis hash (if any) receives the deltas the
database made without it, and the sold-out board is set or cleared.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from vintry.db.base import table
from vintry.db.group_commit import GroupCommitter
from vintry_sdk import (
    Conflict,
    DealerView,
    InvalidInput,
    Platform,
    SiteContext,
    VintryError,
    from_fen,
)

from vintry_seckill.board import board_for
from vintry_seckill.models import HoldStatus, SeckillCounter, SeckillDealerUnits, SeckillHold
from vintry_seckill.redis_counter import CounterState, RedisCounter, counter_for
from vintry_seckill.sales import Sale, not_found, read_sales, sale_cache, settings_for
from vintry_seckill.schemas import HoldOut

log = logging.getLogger("vintry_seckill")
MAX_BATCH = 64


@dataclass(frozen=True)
class AttemptJob:
    """One dealer's attempt on one sale, ready for the database."""

    site: SiteContext = field(repr=False, compare=False)
    campaign: str
    dealer: DealerView
    quantity: int
    hold: timedelta
    redis_gen: str | None = None
    """The generation of the Redis hash the attempt was checked against (None: no Redis)."""
    counted: bool = False
    """Whether that hash already counted the units (Redis admitted them)."""


@dataclass
class _SaleEffect:
    """What one batch did to one sale, for the Redis mirror and the sold-out board."""

    quota: int
    taken: int = 0
    next_expiry: datetime | None = None
    redis: dict[str | None, tuple[int, dict[str, int]]] = field(default_factory=dict)
    """Per Redis generation: the taken delta and dealer deltas the hash has not counted."""
    disagreed: bool = False
    """Redis admitted units the database refused: the hash is wrong and is reloaded."""

    def add(self, gen: str | None, dealer: str, units: int) -> None:
        taken, dealers = self.redis.get(gen, (0, {}))
        dealers[dealer] = dealers.get(dealer, 0) + units
        self.redis[gen] = (taken + units, dealers)


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def sold_out(code: str, remaining: int, quota: int) -> Conflict:
    """The 409 of a sale that cannot cover an attempt."""
    if remaining <= 0:
        return Conflict(
            f"flash sale {code!r} is sold out",
            code="seckill_sold_out",
            field="campaign",
            details={"remaining": 0, "quota": quota},
        )
    return Conflict(
        f"flash sale {code!r} has only {remaining} unit(s) left",
        code="seckill_not_enough_left",
        field="body.quantity",
        details={"remaining": remaining, "quota": quota},
    )


def over_limit(code: str, dealer: str, units: int, limit: int) -> Conflict:
    """The 409 of a dealer whose limit the attempt would cross."""
    return Conflict(
        f"dealer {dealer!r} already holds or bought {units} of the {limit} unit(s) "
        f"flash sale {code!r} allows per dealer",
        code="seckill_limit_reached",
        field="body.quantity",
        details={"units": units, "limit": limit},
    )


# --- the batch ---------------------------------------------------------------------------


def expire_holds(
    session: Session, codes: Iterable[str] | None, now: datetime
) -> list[tuple[str, str, int]]:
    """Expire the held holds past their time (of *codes*, or of every sale when None) and
    give their units back to the counters and dealers; returns (campaign, dealer, units)
    per expired hold. Runs in the caller's transaction."""
    condition = and_(SeckillHold.status == HoldStatus.HELD.value, SeckillHold.expires_at <= now)
    if codes is not None:
        condition = and_(SeckillHold.campaign_code.in_(sorted(set(codes))), condition)
    rows = session.execute(
        update(SeckillHold)
        .where(condition)
        .values(status=HoldStatus.EXPIRED.value, closed_at=now)
        .returning(SeckillHold.campaign_code, SeckillHold.dealer_code, SeckillHold.quantity)
    ).all()
    expired = [(c, d, int(q)) for c, d, q in rows]
    give_back(session, expired, now)
    return expired


def give_back(session: Session, units: Sequence[tuple[str, str, int]], now: datetime) -> None:
    """Return *units* (campaign, dealer, units) to their counters and dealers, conditionally
    (never below zero; check constraints behind). Runs in the caller's transaction."""
    per_sale: dict[str, int] = defaultdict(int)
    per_dealer: dict[tuple[str, str], int] = defaultdict(int)
    for code, dealer, quantity in units:
        per_sale[code] += quantity
        per_dealer[(code, dealer)] += quantity
    for code, quantity in sorted(per_sale.items()):
        session.execute(
            update(SeckillCounter)
            .where(SeckillCounter.campaign_code == code, SeckillCounter.taken >= quantity)
            .values(taken=SeckillCounter.taken - quantity, updated_at=now)
        )
    for (code, dealer), quantity in sorted(per_dealer.items()):
        session.execute(
            update(SeckillDealerUnits)
            .where(
                SeckillDealerUnits.campaign_code == code,
                SeckillDealerUnits.dealer_code == dealer,
                SeckillDealerUnits.units >= quantity,
            )
            .values(units=SeckillDealerUnits.units - quantity)
        )


def _lock_counters(
    session: Session, sales: dict[str, Sale], now: datetime
) -> dict[str, SeckillCounter]:
    """The counters of *sales*, locked, created on a sale's first attempt."""
    postgres = session.get_bind().dialect.name == "postgresql"

    def read() -> dict[str, SeckillCounter]:
        query = select(SeckillCounter).where(SeckillCounter.campaign_code.in_(sorted(sales)))
        if postgres:
            query = query.order_by(SeckillCounter.campaign_code).with_for_update()
        return {row.campaign_code: row for row in session.scalars(query)}

    found = read()
    missing = [code for code in sorted(sales) if code not in found]
    if missing:
        session.execute(
            _insert(session)(table(SeckillCounter))
            .values(
                [
                    {
                        "campaign_code": code,
                        "sku": sales[code].config.sku,
                        "price_fen": sales[code].config.price_fen,
                        "quota": sales[code].config.quantity,
                        "per_dealer_limit": sales[code].config.per_dealer_limit,
                        "taken": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for code in missing
                ]
            )
            .on_conflict_do_nothing(index_elements=["campaign_code"])
        )
        found = read()
    return found


def _lock_dealers(
    session: Session, pairs: set[tuple[str, str]]
) -> dict[tuple[str, str], SeckillDealerUnits]:
    if not pairs:
        return {}
    query = select(SeckillDealerUnits).where(
        tuple_(SeckillDealerUnits.campaign_code, SeckillDealerUnits.dealer_code).in_(
            sorted(pairs)
        )
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.order_by(
            SeckillDealerUnits.campaign_code, SeckillDealerUnits.dealer_code
        ).with_for_update()
    return {(row.campaign_code, row.dealer_code): row for row in session.scalars(query)}


def next_expiry(session: Session, code: str) -> datetime | None:
    """When the earliest unordered hold of sale *code* expires (None: none is held)."""
    found: datetime | None = session.scalar(
        select(func.min(SeckillHold.expires_at)).where(
            SeckillHold.campaign_code == code, SeckillHold.status == HoldStatus.HELD.value
        )
    )
    if found is not None and found.tzinfo is None:  # SQLite returns an aggregate naive
        from datetime import UTC

        found = found.replace(tzinfo=UTC)
    return found


def admit_batch(site: SiteContext, jobs: Sequence[AttemptJob]) -> list[HoldOut | VintryError]:
    """Decide and write *jobs* in one site transaction; an outcome per job, in order."""
    now = site.platform.clock.now()
    outcomes: list[HoldOut | VintryError | None] = [None] * len(jobs)
    effects: dict[str, _SaleEffect] = {}
    codes = sorted({job.campaign for job in jobs})
    with site.database.transaction() as session:
        sales = read_sales(session, codes)
        for index, job in enumerate(jobs):
            sale = sales.get(job.campaign)
            outcomes[index] = (
                not_found(job.campaign) if sale is None else sale.refusal(job.dealer, now)
            )
        active = [i for i, outcome in enumerate(outcomes) if outcome is None]
        live = {jobs[i].campaign: sales[jobs[i].campaign] for i in active}
        if live:
            _decide_and_write(session, site, jobs, active, live, outcomes, effects, now)
    for index, outcome in enumerate(outcomes):
        job = jobs[index]
        if job.counted and isinstance(outcome, VintryError):
            # Redis counted units the database did not take: give them back there.
            effect = effects.get(job.campaign)
            if effect is None:
                effect = effects[job.campaign] = _SaleEffect(quota=0, taken=-1)
            effect.add(job.redis_gen, job.dealer.code, -job.quantity)
            if outcome.code in {"seckill_sold_out", "seckill_not_enough_left",
                                "seckill_limit_reached"}:
                effect.disagreed = True
    _after_commit(site, effects, now)
    return [outcome for outcome in outcomes if outcome is not None]


def _decide_and_write(
    session: Session,
    site: SiteContext,
    jobs: Sequence[AttemptJob],
    active: list[int],
    live: dict[str, Sale],
    outcomes: list[HoldOut | VintryError | None],
    effects: dict[str, _SaleEffect],
    now: datetime,
) -> None:
    expired = expire_holds(session, live, now)
    counters = _lock_counters(session, live, now)
    pairs = {(jobs[i].campaign, jobs[i].dealer.code) for i in active}
    dealer_rows = _lock_dealers(session, pairs)
    gens: dict[str, set[str | None]] = defaultdict(set)
    for i in active:
        gens[jobs[i].campaign].add(jobs[i].redis_gen)
    for code, counter in counters.items():
        effects[code] = _SaleEffect(quota=counter.quota, taken=counter.taken)
    for code, dealer, returned in expired:  # expire_holds already wrote these back
        for gen in gens[code]:
            effects[code].add(gen, dealer, -returned)
    taken = {code: counter.taken for code, counter in counters.items()}
    units = {key: row.units for key, row in dealer_rows.items()}
    delta: dict[str, int] = defaultdict(int)
    dealer_delta: dict[tuple[str, str], int] = defaultdict(int)
    admitted: list[int] = []
    for i in active:
        job = jobs[i]
        counter = counters[job.campaign]
        key = (job.campaign, job.dealer.code)
        left = counter.quota - taken[job.campaign]
        mine = units.get(key, 0)
        if job.quantity > left:
            outcomes[i] = sold_out(job.campaign, left, counter.quota)
        elif mine + job.quantity > counter.per_dealer_limit:
            outcomes[i] = over_limit(job.campaign, job.dealer.code, mine, counter.per_dealer_limit)
        else:
            taken[job.campaign] += job.quantity
            units[key] = mine + job.quantity
            delta[job.campaign] += job.quantity
            dealer_delta[key] += job.quantity
            admitted.append(i)
            if not job.counted:
                effects[job.campaign].add(job.redis_gen, job.dealer.code, job.quantity)
    for code, change in sorted(delta.items()):
        moved = session.execute(
            update(SeckillCounter)
            .where(
                SeckillCounter.campaign_code == code,
                SeckillCounter.taken + change <= SeckillCounter.quota,
            )
            .values(taken=SeckillCounter.taken + change, updated_at=now)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise RuntimeError(f"the counter of {code} lacked the units its locked read showed")
    existing = [(key, change) for key, change in sorted(dealer_delta.items()) if key in dealer_rows]
    for (code, dealer), change in existing:
        moved = session.execute(
            update(SeckillDealerUnits)
            .where(
                SeckillDealerUnits.campaign_code == code,
                SeckillDealerUnits.dealer_code == dealer,
                SeckillDealerUnits.units + change <= SeckillDealerUnits.limit_units,
            )
            .values(units=SeckillDealerUnits.units + change)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise RuntimeError(f"dealer {dealer} of {code} lacked the allowance its read showed")
    new = [(key, change) for key, change in sorted(dealer_delta.items()) if key not in dealer_rows]
    if new:
        session.execute(
            insert(table(SeckillDealerUnits)),
            [
                {
                    "campaign_code": code,
                    "dealer_code": dealer,
                    "units": change,
                    "limit_units": counters[code].per_dealer_limit,
                }
                for (code, dealer), change in new
            ],
        )
    if admitted:
        rows = [
            {
                "campaign_code": jobs[i].campaign,
                "dealer_code": jobs[i].dealer.code,
                "quantity": jobs[i].quantity,
                "unit_price_fen": counters[jobs[i].campaign].price_fen,
                "status": HoldStatus.HELD.value,
                "created_at": now,
                "expires_at": now + jobs[i].hold,
                "order_number": None,
                "closed_at": None,
            }
            for i in admitted
        ]
        ids = session.execute(
            insert(table(SeckillHold)).returning(SeckillHold.id, sort_by_parameter_order=True),
            rows,
        ).scalars().all()
        for i, hold_id, row in zip(admitted, ids, rows, strict=True):
            counter = counters[jobs[i].campaign]
            outcomes[i] = HoldOut(
                id=int(hold_id),
                campaign=jobs[i].campaign,
                dealer=jobs[i].dealer.code,
                sku=counter.sku,
                quantity=jobs[i].quantity,
                unit_price=from_fen(counter.price_fen),
                status="held",
                created_at=now,
                expires_at=row["expires_at"],
            )
    for code, effect in effects.items():
        effect.taken = taken[code]
        if effect.taken >= effect.quota or any(gen is not None for gen in gens[code]):
            effect.next_expiry = next_expiry(session, code)


# --- after the commit: the Redis mirror and the sold-out board ---------------------------


def _after_commit(site: SiteContext, effects: dict[str, _SaleEffect], now: datetime) -> None:
    settings = settings_for(site)
    counter = redis_counter(site)
    board = board_for(site.platform)
    for code, effect in effects.items():
        if counter is not None:
            mirror(counter, site, code, effect.redis, now, effect.next_expiry, effect.disagreed)
        if effect.taken < 0:  # only compensations: the counter was not read
            continue
        if effect.taken >= effect.quota and settings.sold_out_recheck_seconds > 0:
            until = now + timedelta(seconds=settings.sold_out_recheck_seconds)
            if effect.next_expiry is not None:
                until = min(until, effect.next_expiry)
            board.mark(site.code, code, until=until, quota=effect.quota)
        else:
            board.clear(site.code, code)


def mirror(
    counter: RedisCounter,
    site: SiteContext,
    code: str,
    deltas: dict[str | None, tuple[int, dict[str, int]]],
    now: datetime,
    expiry: datetime | None,
    disagreed: bool = False,
) -> None:
    """Apply to the sale's Redis hash the deltas the database made without it (per hash
    generation they were measured against); drop the hash when the two disagreed."""
    key = RedisCounter.key(site.database.url, code)
    try:
        if disagreed:
            counter.drop(key)
            return
        for gen, (taken, dealers) in deltas.items():
            if gen is not None and (taken or any(dealers.values()) or expiry is not None):
                counter.apply(key, gen, taken=taken, dealers=dealers, now=now, next_expiry=expiry)
    except Exception:
        # The database has it; a hash that missed a delta is dropped and loaded again.
        log.warning("seckill: Redis mirror of %s at %s failed", code, site.code, exc_info=True)
        _forget_later(key)


_dropped: set[str] = set()
_dropped_lock = threading.Lock()


def _forget_later(key: str) -> None:
    with _dropped_lock:
        _dropped.add(key)


def _drop_pending(counter: RedisCounter) -> None:
    with _dropped_lock:
        keys = list(_dropped)
        _dropped.clear()
    for key in keys:
        counter.drop(key)


def redis_counter(site: SiteContext) -> RedisCounter | None:
    """The Redis counter for *site*, or None where attempts are counted in SQL only."""
    url = site.platform.settings.redis_url
    backend = settings_for(site).counter_backend
    if backend == "sql" or not url:
        if backend == "redis" and not url:
            log.warning("seckill at %s: counter_backend is redis but VINTRY_REDIS_URL is unset",
                        site.code)
        return None
    return counter_for(url)


def load_into_redis(counter: RedisCounter, site: SiteContext, sale: Sale) -> str:
    """Load the sale's counter from the database into Redis; returns the hash's generation."""
    key = RedisCounter.key(site.database.url, sale.code)
    with site.database.reading() as session:
        row = session.get(SeckillCounter, sale.code)
        dealers = {
            d: u
            for d, u in session.execute(
                select(SeckillDealerUnits.dealer_code, SeckillDealerUnits.units).where(
                    SeckillDealerUnits.campaign_code == sale.code, SeckillDealerUnits.units > 0
                )
            )
        }
        expiry = next_expiry(session, sale.code)
    from vintry.clock import ensure_utc

    state = CounterState(
        quota=row.quota if row else sale.config.quantity,
        taken=row.taken if row else 0,
        limit=row.per_dealer_limit if row else sale.config.per_dealer_limit,
        dealers=dealers,
        next_expiry=expiry,
        # A day past the sale's end: late orders' cancellations still find it.
        keep_for=max(ensure_utc(sale.campaign.ends_at) - site.platform.clock.now(), timedelta(0))
        + timedelta(days=1),
    )
    return counter.load(key, state)


# --- one attempt ---------------------------------------------------------------------------

_committers: weakref.WeakKeyDictionary[
    Platform, dict[str, GroupCommitter[AttemptJob, HoldOut]]
] = weakref.WeakKeyDictionary()
_committers_lock = threading.Lock()


def committer(site: SiteContext) -> GroupCommitter[AttemptJob, HoldOut]:
    """The attempt committer of *site*'s database in this process."""
    platform = site.platform
    with _committers_lock:
        per_site = _committers.setdefault(platform, {})
        found = per_site.get(site.code)
        if found is None:
            # Every job of a committer is of the same site: the batch runs with the first's
            # context (no second refresh of the site tree).
            found = GroupCommitter(
                lambda jobs: admit_batch(jobs[0].site, jobs), max_batch=MAX_BATCH
            )
            per_site[site.code] = found
    return found


def _write(site: SiteContext, job: AttemptJob, batched: bool) -> HoldOut:
    if batched:
        return committer(site).submit(job)
    outcome = admit_batch(site, [job])[0]
    if isinstance(outcome, VintryError):
        raise outcome
    return outcome


def attempt(site: SiteContext, dealer: DealerView, code: str, quantity: int) -> HoldOut:
    """Hold *quantity* units of sale *code* for *dealer*, or raise why not."""
    settings = settings_for(site)
    now = site.platform.clock.now()
    sale = sale_cache(site.platform).get(site, code)
    refusal = sale.refusal(dealer, now)
    if refusal is not None:
        raise refusal
    if quantity > settings.max_units_per_attempt:
        raise InvalidInput(
            f"an attempt may ask for at most {settings.max_units_per_attempt} unit(s)",
            code="quantity_too_large",
            field="body.quantity",
            details={"max": settings.max_units_per_attempt},
        )
    if quantity > sale.config.per_dealer_limit:
        raise over_limit(code, dealer.code, 0, sale.config.per_dealer_limit)
    job = AttemptJob(site, code, dealer, quantity, sale.hold_time(settings))
    counter = redis_counter(site)
    if counter is not None:
        job = _through_redis(counter, site, sale, job, now)
    return _write(site, job, settings.group_commit)


def _through_redis(
    counter: RedisCounter, site: SiteContext, sale: Sale, job: AttemptJob, now: datetime
) -> AttemptJob:
    """Ask the Redis hash first: a refusal is answered here, an admission goes on to the
    database counted; anything uncertain goes on to the database uncounted."""
    key = RedisCounter.key(site.database.url, sale.code)
    hold_ms = int(job.hold.total_seconds() * 1000)
    try:
        _drop_pending(counter)
        verdict = counter.admit(key, job.dealer.code, job.quantity, now, hold_ms)
        if verdict.outcome == "missing":
            if not counter.lock(key):
                return job  # another worker is loading it: the database decides this one
            try:
                load_into_redis(counter, site, sale)
            finally:
                counter.unlock(key)
            verdict = counter.admit(key, job.dealer.code, job.quantity, now, hold_ms)
    except Exception:
        log.warning("seckill: Redis unavailable at %s; counting in SQL", site.code, exc_info=True)
        _forget_later(key)
        return job
    if verdict.outcome == "admitted":
        return replace(job, redis_gen=verdict.gen, counted=True)
    if verdict.outcome in {"recheck", "missing"}:
        return replace(job, redis_gen=verdict.gen or None)
    board = board_for(site.platform)
    if verdict.outcome == "over_limit":
        raise over_limit(sale.code, job.dealer.code, verdict.number, sale.config.per_dealer_limit)
    # Sold out in Redis. Confirmed against the database once per worker and recheck period,
    # so a hash that drifted high (a lost delta) cannot refuse sales the quota still has.
    if board.is_marked(site.code, sale.code, now) or _confirm_sold_out(site, sale, job, now):
        raise sold_out(sale.code, verdict.number, sale.config.quantity)
    counter.drop(key)
    return job


def _confirm_sold_out(site: SiteContext, sale: Sale, job: AttemptJob, now: datetime) -> bool:
    settings = settings_for(site)
    with site.database.reading() as session:
        row = session.get(SeckillCounter, sale.code)
        expiry = next_expiry(session, sale.code)
    if row is None:
        return False
    left = row.quota - row.taken
    if expiry is not None and expiry <= now:
        return False  # holds are due to expire: the database batch returns them
    if left >= job.quantity:
        return False
    if left <= 0 and settings.sold_out_recheck_seconds > 0:
        until = now + timedelta(seconds=settings.sold_out_recheck_seconds)
        if expiry is not None:
            until = min(until, expiry)
        board_for(site.platform).mark(site.code, sale.code, until=until, quota=row.quota)
    return True
