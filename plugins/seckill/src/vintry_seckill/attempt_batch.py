"""The write of a batch of attempts: one site transaction, a handful of statements.

:func:`write_batch` decides and writes every attempt of a batch (see
:mod:`vintry_seckill.admission` for where batches come from). In its transaction, in this
order — the order every writer of these tables takes:

1. the campaigns are read again — the decision never rests on a cached read;
2. holds of these sales whose time ran out are expired (``UPDATE … RETURNING``): their
   units return to the quota and to their dealers' allowance *in this same step*, so an
   expired hold never refuses a sale;
3. the sales' counter rows are locked (``FOR UPDATE`` in key order on PostgreSQL; SQLite's
   write lock is held from ``BEGIN IMMEDIATE``), then the dealers' rows; each attempt is
   decided in arrival order against what the ones before it left;
4. one conditional update per sale moves ``taken`` (``WHERE taken + Δ <= quota``,
   ``RETURNING`` the new value, which must be what the locked read predicted); one upsert
   moves every dealer's units (``WHERE units + Δ <= limit_units`` on an existing row,
   ``RETURNING`` each), with check constraints behind both; one multi-row insert writes the
   holds.

A row that no longer has what the locked read showed raises and rolls the batch back (a
bug, never a race). The statements are Core, built once with bound parameters (SQLAlchemy
caches their compiled form): no ORM entity is loaded or synchronised, so a batch's fixed
cost is its few round trips and its commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from vintry.campaigns.models import Campaign
from vintry.clock import ensure_utc
from vintry.db.base import table
from vintry_sdk import Conflict, DealerView, SiteContext, VintryError, from_fen

from vintry_seckill.campaign_type import SECKILL, SeckillConfig
from vintry_seckill.models import HoldStatus, SeckillCounter, SeckillDealerUnits, SeckillHold
from vintry_seckill.sales import Sale, not_found
from vintry_seckill.schemas import HoldOut

HELD = HoldStatus.HELD.value


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
class SaleEffect:
    """What one batch did to one sale, for the Redis mirror and the sold-out board."""

    quota: int
    taken: int = 0
    next_expiry: datetime | None = None
    redis: dict[str | None, tuple[int, dict[str, int]]] = field(default_factory=dict)
    """Per Redis generation: the taken delta and dealer deltas the hash has not counted."""
    disagreed: bool = False
    """Redis admitted units the database refused: the hash is wrong and is reloaded."""
    expired: bool = False
    """Holds of the sale expired in this batch (the hash's next expiry moves on)."""
    rechecked: bool = False
    """An attempt Redis sent to the database uncounted (its next expiry may be stale)."""

    def add(self, gen: str | None, dealer: str, units: int) -> None:
        """Record *units* (negative: given back) the hash of *gen* has not counted."""
        taken, dealers = self.redis.get(gen, (0, {}))
        dealers[dealer] = dealers.get(dealer, 0) + units
        self.redis[gen] = (taken + units, dealers)


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


# --- the statements, built once ----------------------------------------------------------

_campaigns = table(Campaign)
_counters = table(SeckillCounter)
_dealers = table(SeckillDealerUnits)
_holds = table(SeckillHold)

_READ_SALES = select(_campaigns).where(
    _campaigns.c.code.in_(bindparam("codes", expanding=True)), _campaigns.c.type == SECKILL
)
_EXPIRE_OF = (
    update(_holds)
    .where(
        _holds.c.campaign_code.in_(bindparam("codes", expanding=True)),
        _holds.c.status == HELD,
        _holds.c.expires_at <= bindparam("now"),
    )
    .values(status=HoldStatus.EXPIRED.value, closed_at=bindparam("now"))
    .returning(_holds.c.campaign_code, _holds.c.dealer_code, _holds.c.quantity)
)
_EXPIRE_ALL = (
    update(_holds)
    .where(_holds.c.status == HELD, _holds.c.expires_at <= bindparam("now"))
    .values(status=HoldStatus.EXPIRED.value, closed_at=bindparam("now"))
    .returning(_holds.c.campaign_code, _holds.c.dealer_code, _holds.c.quantity)
)
_RETURN_TO_COUNTER = (
    update(_counters)
    .where(
        _counters.c.campaign_code == bindparam("code"),
        _counters.c.taken >= bindparam("delta"),
    )
    .values(taken=_counters.c.taken - bindparam("delta"), updated_at=bindparam("now"))
)
_RETURN_TO_DEALER = (
    update(_dealers)
    .where(
        _dealers.c.campaign_code == bindparam("code"),
        _dealers.c.dealer_code == bindparam("dealer"),
        _dealers.c.units >= bindparam("delta"),
    )
    .values(units=_dealers.c.units - bindparam("delta"))
)
_TAKE = (
    update(_counters)
    .where(
        _counters.c.campaign_code == bindparam("code"),
        _counters.c.taken + bindparam("delta") <= _counters.c.quota,
    )
    .values(taken=_counters.c.taken + bindparam("delta"), updated_at=bindparam("now"))
    .returning(_counters.c.taken)
)
_INSERT_HOLDS = insert(_holds).returning(
    _holds.c.id,
    _holds.c.campaign_code,
    _holds.c.dealer_code,
    _holds.c.quantity,
    _holds.c.expires_at,
)
_NEXT_EXPIRY = select(func.min(_holds.c.expires_at)).where(
    _holds.c.campaign_code == bindparam("code"), _holds.c.status == HELD
)


@dataclass(frozen=True)
class _DialectStatements:
    """The statements whose SQL differs between SQLite and PostgreSQL."""

    lock_counters: Select[Any]
    create_counters: Any
    lock_dealers: Select[Any]
    add_units: Any


def _dialect_statements(postgres: bool) -> _DialectStatements:
    lock_counters = (
        select(
            _counters.c.campaign_code,
            _counters.c.sku,
            _counters.c.price_fen,
            _counters.c.quota,
            _counters.c.per_dealer_limit,
            _counters.c.taken,
        )
        .where(_counters.c.campaign_code.in_(bindparam("codes", expanding=True)))
        .order_by(_counters.c.campaign_code)
    )
    lock_dealers = (
        select(_dealers.c.campaign_code, _dealers.c.dealer_code, _dealers.c.units)
        .where(
            tuple_(_dealers.c.campaign_code, _dealers.c.dealer_code).in_(
                bindparam("pairs", expanding=True)
            )
        )
        .order_by(_dealers.c.campaign_code, _dealers.c.dealer_code)
    )
    if postgres:
        lock_counters = lock_counters.with_for_update()
        lock_dealers = lock_dealers.with_for_update()
    dialect_insert = pg_insert if postgres else sqlite_insert
    create_counters = dialect_insert(_counters).on_conflict_do_nothing(
        index_elements=["campaign_code"]
    )
    upsert = dialect_insert(_dealers)
    add_units = upsert.on_conflict_do_update(
        index_elements=["campaign_code", "dealer_code"],
        set_={"units": _dealers.c.units + upsert.excluded.units},
        where=_dealers.c.units + upsert.excluded.units <= _dealers.c.limit_units,
    ).returning(_dealers.c.campaign_code, _dealers.c.dealer_code, _dealers.c.units)
    return _DialectStatements(lock_counters, create_counters, lock_dealers, add_units)


_STATEMENTS = {"postgresql": _dialect_statements(True), "sqlite": _dialect_statements(False)}


# --- steps other writers share -----------------------------------------------------------


def expire_holds(
    session: Session | Connection, codes: Iterable[str] | None, now: datetime
) -> list[tuple[str, str, int]]:
    """Expire the held holds past their time (of *codes*, or of every sale when None) and
    give their units back to the counters and dealers; returns (campaign, dealer, units)
    per expired hold. Runs in the caller's transaction."""
    if codes is None:
        rows = session.execute(_EXPIRE_ALL, {"now": now}).all()
    else:
        rows = session.execute(_EXPIRE_OF, {"codes": sorted(set(codes)), "now": now}).all()
    expired = [(c, d, int(q)) for c, d, q in rows]
    give_back(session, expired, now)
    return expired


def give_back(
    session: Session | Connection, units: Sequence[tuple[str, str, int]], now: datetime
) -> None:
    """Return *units* (campaign, dealer, units) to their counters and dealers, conditionally
    (never below zero; check constraints behind). Runs in the caller's transaction."""
    if not units:
        return
    per_sale: dict[str, int] = defaultdict(int)
    per_dealer: dict[tuple[str, str], int] = defaultdict(int)
    for code, dealer, quantity in units:
        per_sale[code] += quantity
        per_dealer[(code, dealer)] += quantity
    session.execute(
        _RETURN_TO_COUNTER,
        [{"code": code, "delta": q, "now": now} for code, q in sorted(per_sale.items())],
    )
    session.execute(
        _RETURN_TO_DEALER,
        [{"code": c, "dealer": d, "delta": q} for (c, d), q in sorted(per_dealer.items())],
    )


def next_expiry(session: Session | Connection, code: str) -> datetime | None:
    """When the earliest unordered hold of sale *code* expires (None: none is held)."""
    found: datetime | None = session.execute(_NEXT_EXPIRY, {"code": code}).scalar()
    # SQLite's aggregate may come back naive: stored naive, as UTC.
    return None if found is None else ensure_utc(found)


# --- the batch ---------------------------------------------------------------------------

Outcome = HoldOut | VintryError


def write_batch(
    connection: Connection, jobs: Sequence[AttemptJob], now: datetime
) -> tuple[list[Outcome], dict[str, SaleEffect]]:
    """Decide and write *jobs* in *connection*'s transaction: an outcome per job, in order,
    and what the batch did to each sale."""
    outcomes: list[Outcome | None] = [None] * len(jobs)
    effects: dict[str, SaleEffect] = {}
    sales = _read_sales(connection, sorted({job.campaign for job in jobs}))
    for index, job in enumerate(jobs):
        sale = sales.get(job.campaign)
        outcomes[index] = not_found(job.campaign) if sale is None else sale.refusal(job.dealer, now)
    active = [i for i, outcome in enumerate(outcomes) if outcome is None]
    if active:
        live = {jobs[i].campaign: sales[jobs[i].campaign] for i in active}
        _decide_and_write(connection, jobs, active, live, outcomes, effects, now)
    return [outcome for outcome in outcomes if outcome is not None], effects


_built: dict[str, tuple[tuple[Any, ...], Sale]] = {}
"""The last sale built per code, with the row it was built from (a row read again that is
equal in every column gives the same sale: rebuilding it would change nothing)."""


def _read_sales(connection: Connection, codes: list[str]) -> dict[str, Sale]:
    found: dict[str, Sale] = {}
    for row in connection.execute(_READ_SALES, {"codes": codes}):
        values = tuple(row)
        code = row.code
        built = _built.get(code)
        if built is not None and built[0] == values:
            found[code] = built[1]
            continue
        campaign = Campaign(**row._mapping)  # transient and read-only: never in a session
        sale = Sale(campaign, SeckillConfig.model_validate(campaign.config))
        if len(_built) > 1000:  # a bound, not a policy
            _built.clear()
        _built[code] = (values, sale)
        found[code] = sale
    return found


@dataclass(frozen=True)
class _Counter:
    sku: str
    price_fen: int
    quota: int
    per_dealer_limit: int
    taken: int


def _lock_counters(
    connection: Connection, statements: _DialectStatements, sales: dict[str, Sale], now: datetime
) -> dict[str, _Counter]:
    """The counters of *sales*, locked, created on a sale's first attempt."""
    codes = sorted(sales)

    def read() -> dict[str, _Counter]:
        rows = connection.execute(statements.lock_counters, {"codes": codes})
        return {code: _Counter(*rest) for code, *rest in rows}

    found = read()
    missing = [code for code in codes if code not in found]
    if missing:
        connection.execute(
            statements.create_counters,
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
            ],
        )
        found = read()
    return found


def _decide_and_write(
    connection: Connection,
    jobs: Sequence[AttemptJob],
    active: list[int],
    live: dict[str, Sale],
    outcomes: list[Outcome | None],
    effects: dict[str, SaleEffect],
    now: datetime,
) -> None:
    statements = _STATEMENTS[connection.dialect.name]
    expired = expire_holds(connection, live, now)
    counters = _lock_counters(connection, statements, live, now)
    pairs = sorted({(jobs[i].campaign, jobs[i].dealer.code) for i in active})
    units: dict[tuple[str, str], int] = {
        (code, dealer): held
        for code, dealer, held in connection.execute(statements.lock_dealers, {"pairs": pairs})
    }
    gens: dict[str, set[str | None]] = defaultdict(set)
    for i in active:
        gens[jobs[i].campaign].add(jobs[i].redis_gen)
    for code, counter in counters.items():
        effects[code] = SaleEffect(quota=counter.quota, taken=counter.taken)
    for code, dealer, returned in expired:  # expire_holds already wrote these back
        effects[code].expired = True
        for gen in gens[code]:
            effects[code].add(gen, dealer, -returned)
    taken = {code: counter.taken for code, counter in counters.items()}
    delta: dict[str, int] = defaultdict(int)
    dealer_delta: dict[tuple[str, str], int] = defaultdict(int)
    admitted: list[int] = []
    for i in active:
        job = jobs[i]
        counter = counters[job.campaign]
        key = (job.campaign, job.dealer.code)
        left = counter.quota - taken[job.campaign]
        mine = units.get(key, 0)
        if job.redis_gen is not None and not job.counted:
            effects[job.campaign].rechecked = True
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
        moved = connection.execute(_TAKE, {"code": code, "delta": change, "now": now}).scalar()
        if moved != taken[code]:
            raise RuntimeError(f"the counter of {code} lacked the units its locked read showed")
    if dealer_delta:
        written = connection.execute(
            statements.add_units,
            [
                {
                    "campaign_code": code,
                    "dealer_code": dealer,
                    "units": change,
                    "limit_units": counters[code].per_dealer_limit,
                }
                for (code, dealer), change in sorted(dealer_delta.items())
            ],
        ).all()
        if sorted((c, d, int(u)) for c, d, u in written) != [
            (c, d, units[(c, d)]) for c, d in sorted(dealer_delta)
        ]:
            raise RuntimeError("a dealer lacked the allowance its locked read showed")
    if admitted:
        _write_holds(connection, jobs, admitted, counters, outcomes, now)
    for code, effect in effects.items():
        effect.taken = taken[code]
        # The earliest expiry bounds a sold-out mark, and moves the Redis hash's on when it
        # is told something (a hash told nothing keeps an expiry no later than the truth).
        told = effect.expired or effect.rechecked or any(
            gen is not None and (units or any(dealers.values()))
            for gen, (units, dealers) in effect.redis.items()
        )
        if effect.taken >= effect.quota or told:
            effect.next_expiry = next_expiry(connection, code)


def _write_holds(
    connection: Connection,
    jobs: Sequence[AttemptJob],
    admitted: list[int],
    counters: dict[str, _Counter],
    outcomes: list[Outcome | None],
    now: datetime,
) -> None:
    """One multi-row insert; each job gets the id of a row of exactly its content (rows of
    the same content are interchangeable, so the order RETURNING gives them in is moot)."""
    expiries = [now + jobs[i].hold for i in admitted]
    rows = [
        {
            "campaign_code": jobs[i].campaign,
            "dealer_code": jobs[i].dealer.code,
            "quantity": jobs[i].quantity,
            "unit_price_fen": counters[jobs[i].campaign].price_fen,
            "status": HELD,
            "created_at": now,
            "expires_at": expires_at,
            "order_number": None,
            "closed_at": None,
        }
        for i, expires_at in zip(admitted, expiries, strict=True)
    ]
    ids: dict[tuple[str, str, int, datetime], list[int]] = defaultdict(list)
    for hold_id, code, dealer, quantity, expires_at in connection.execute(_INSERT_HOLDS, rows):
        ids[(code, dealer, int(quantity), ensure_utc(expires_at))].append(int(hold_id))
    for found in ids.values():
        found.sort()  # among interchangeable rows, the earlier job gets the lower id
    for i, expires_at in zip(admitted, expiries, strict=True):
        job = jobs[i]
        counter = counters[job.campaign]
        outcomes[i] = HoldOut(
            id=ids[(job.campaign, job.dealer.code, job.quantity, expires_at)].pop(0),
            campaign=job.campaign,
            dealer=job.dealer.code,
            sku=counter.sku,
            quantity=job.quantity,
            unit_price=from_fen(counter.price_fen),
            status="held",
            created_at=now,
            expires_at=expires_at,
        )


__all__ = [
    "AttemptJob",
    "Outcome",
    "SaleEffect",
    "expire_holds",
    "give_back",
    "next_expiry",
    "over_limit",
    "sold_out",
    "write_batch",
]
