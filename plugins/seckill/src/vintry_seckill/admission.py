"""Attempts: the atomic claim of flash-sale units, batched through a group committer.

An attempt is served on the event loop: the cheap checks (the sale is live and for this
dealer, within the limits — from the worker's sale cache — and, with Redis, the hot counter
admitted it) run there, and what passes becomes an :class:`AttemptJob` handed to the site's
:class:`vintry.db.group_commit.AsyncGroupCommitter`. Its writer thread writes the job with
every other attempt on the same site database that arrived meanwhile — **one transaction,
one durable commit** for the batch (:func:`~vintry_seckill.attempt_batch.write_batch`) —
and the request awaits its outcome without holding a thread. On a SQLite site without a
Redis counter the batch runs on the event loop itself (a local file: a writer thread
would fight the loop for the interpreter lock); otherwise on the committer's writer
thread. The site setting ``group_commit`` off writes each attempt in its own transaction,
through the same function, on a worker thread.

After the commit, the Redis hash (if any) receives the deltas the database made without
it, and the sold-out board is set or cleared.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from vintry.db.group_commit import Arrival, AsyncGroupCommitter
from vintry_sdk import (
    DealerView,
    InvalidInput,
    Platform,
    SiteContext,
    VintryError,
)

from vintry_seckill.attempt_batch import (
    AttemptJob,
    Outcome,
    SaleEffect,
    next_expiry,
    over_limit,
    sold_out,
    write_batch,
)
from vintry_seckill.board import board_for
from vintry_seckill.models import SeckillCounter, SeckillDealerUnits
from vintry_seckill.redis_counter import CounterState, RedisCounter, counter_for
from vintry_seckill.sales import Sale, sale_cache, settings_for
from vintry_seckill.schemas import HoldOut

log = logging.getLogger("vintry_seckill")
MAX_BATCH = 64
GATHER_SECONDS = 0.005
"""How long a batch may wait for attempts announced before it (being authenticated and
parsed on the event loop) to join it."""
REFUSALS_REDIS_COUNTED = frozenset(
    {"seckill_sold_out", "seckill_not_enough_left", "seckill_limit_reached"}
)


def admit_batch(site: SiteContext, jobs: Sequence[AttemptJob]) -> list[Outcome]:
    """Decide and write *jobs* in one site transaction; an outcome per job, in order."""
    now = site.platform.clock.now()
    with site.database.engine.begin() as connection:
        outcomes, effects = write_batch(connection, jobs, now)
    for job, outcome in zip(jobs, outcomes, strict=True):
        if job.counted and isinstance(outcome, VintryError):
            # Redis counted units the database did not take: give them back there.
            effect = effects.get(job.campaign)
            if effect is None:
                effect = effects[job.campaign] = SaleEffect(quota=0, taken=-1)
            effect.add(job.redis_gen, job.dealer.code, -job.quantity)
            if outcome.code in REFUSALS_REDIS_COUNTED:
                effect.disagreed = True
    _after_commit(site, effects, now)
    return outcomes


# --- after the commit: the Redis mirror and the sold-out board ---------------------------


def _after_commit(site: SiteContext, effects: dict[str, SaleEffect], now: datetime) -> None:
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
    Platform, dict[str, AsyncGroupCommitter[AttemptJob, HoldOut]]
] = weakref.WeakKeyDictionary()
_committers_lock = threading.Lock()


def committer(platform: Platform, site: str) -> AsyncGroupCommitter[AttemptJob, HoldOut]:
    """The attempt committer of site *site*'s database in this process."""
    with _committers_lock:
        per_site = _committers.setdefault(platform, {})
        found = per_site.get(site)
        if found is None:
            # Every job of a committer is of the same site: the batch runs with the first's
            # context (no second refresh of the site tree).
            found = AsyncGroupCommitter(
                lambda jobs: admit_batch(jobs[0].site, jobs),
                max_batch=MAX_BATCH,
                gather_seconds=GATHER_SECONDS,
                name=f"seckill-{site}",
                inline=_local,
            )
            per_site[site] = found
    return found


def _local(job: AttemptJob) -> bool:
    """Whether the job's batch may run on the event loop: its site database is SQLite (a
    local file), and no Redis counter is mirrored after the commit (a network call)."""
    site = job.site
    return site.database.backend == "sqlite" and redis_counter(site) is None


def _admit_one(site: SiteContext, job: AttemptJob) -> HoldOut:
    outcome = admit_batch(site, [job])[0]
    if isinstance(outcome, VintryError):
        raise outcome
    return outcome


async def _read_sale(site: SiteContext, code: str) -> Sale:
    cache = sale_cache(site.platform)
    found = cache.peek(site, code)
    if found is not None:
        return found
    if site.database.backend == "sqlite":  # a local read that never waits for writers
        return cache.get(site, code)
    return await run_in_threadpool(cache.get, site, code)


async def attempt(
    site: SiteContext,
    dealer: DealerView,
    code: str,
    quantity: int,
    arrival: tuple[str, Arrival] | None = None,
) -> HoldOut:
    """Hold *quantity* units of sale *code* for *dealer*, or raise why not.

    *arrival* is the attempt's announcement to a site's committer (see
    :func:`announce`), if it was made."""
    settings = settings_for(site)
    now = site.platform.clock.now()
    sale = await _read_sale(site, code)
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
        job = await _ask_redis(counter, site, sale, job, now)
    if settings.group_commit:
        announced = arrival[1] if arrival is not None and arrival[0] == site.code else None
        return await committer(site.platform, site.code).submit(job, announced)
    return await run_in_threadpool(_admit_one, site, job)


async def _ask_redis(
    counter: RedisCounter, site: SiteContext, sale: Sale, job: AttemptJob, now: datetime
) -> AttemptJob:
    """:func:`_through_redis` on the event loop for the verdicts that need nothing else (an
    admission, a recheck, a refusal the board confirms); the rest, which load the hash or
    read the database, go to :func:`_through_redis` on a worker thread."""
    if _dropped:
        return await run_in_threadpool(_through_redis, counter, site, sale, job, now)
    key = RedisCounter.key(site.database.url, sale.code)
    hold_ms = int(job.hold.total_seconds() * 1000)
    try:
        verdict = await counter.admit_async(key, job.dealer.code, job.quantity, now, hold_ms)
    except Exception:
        log.warning("seckill: Redis unavailable at %s; counting in SQL", site.code, exc_info=True)
        _forget_later(key)
        return job
    if verdict.outcome == "admitted":
        return replace(job, redis_gen=verdict.gen, counted=True)
    if verdict.outcome == "recheck":
        return replace(job, redis_gen=verdict.gen or None)
    if verdict.outcome == "over_limit":
        raise over_limit(sale.code, job.dealer.code, verdict.number, sale.config.per_dealer_limit)
    if verdict.outcome == "sold_out" and board_for(site.platform).is_marked(
        site.code, sale.code, now
    ):
        raise sold_out(sale.code, verdict.number, sale.config.quantity)
    return await run_in_threadpool(_through_redis, counter, site, sale, job, now)


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
