"""Exact funnels: ordered steps within a conversion window, per dealer.

Semantics (also in the README, and checked against :mod:`vintry_analytics.reference` with
Hypothesis):

- A funnel is an ordered list of 1–8 event types, a conversion window ``W`` and a period
  ``[start, end)``. Only events inside the period count, for every step.
- A *chain* of a dealer is a sequence of its events ``e1..ek`` whose types are steps
  ``1..k``, whose times strictly increase (two events at the same millisecond are never in
  order), and with ``time(ek) - time(e1) <= W``: the window opens at the first step's event.
  An event is used at most once per chain, so a type may appear as several steps (a second
  product view after the cart is a later, distinct event).
- The dealer's **level** is the longest chain it has; it counts as reaching steps
  ``1..level``. Repeated attempts do not count twice: each dealer (or dealer and SKU, in the
  SKU breakdown) is one entrant.
- The dealer's **representative chain** — the one its times between steps come from — is,
  among its longest chains, the one with the latest start, and from that start the earliest
  event of each step. The median time between steps ``k-1`` and ``k`` is taken over the
  dealers reaching step ``k``.

How a site's events are searched (every way agrees with the reference; the tests check each):

- **Seeks, inside the database** (SQLite): one query (:func:`chain_query`) finds every
  entrant's representative chain, driven by index seeks on ``(dealer, type, occurred_ms)``;
  only the entrants leave the database. From a start the chain is the earliest event of each
  later step, and the window closes later for a later start, so a dealer's best start is,
  for some step-2 event, the latest step-1 event before it — or its very last step-1 event
  when it never gets further. The query pairs each event of the rarer of steps 1 and 2 with
  its partner (one seek each), keeps one start per first step-2 event, follows the chain
  one seek per further step, and keeps per entrant the highest level, then the latest start.
  It costs about one seek per event of that rarer step, so it pays when the funnel narrows
  (a purchase funnel: carts are a tenth of product views).
- **A grouped read** (PostgreSQL; SQLite when steps 1 and 2 are about as frequent): one
  grouped query reads, per entrant and step type, the sorted times over the covering index
  ``(dealer, type, occurred_ms, sku)``, and :func:`best_path` searches them in Python with
  binary searches, later starts first, stopping at a complete chain. PostgreSQL runs a
  correlated subquery at several microseconds, so the seeks cost it about twice its scan of
  the events, while its grouped read costs less than that scan.

:func:`choose_plan` picks one per query (the plugin's README, "Funnels", has the figures).
"""

from __future__ import annotations

import bisect
import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BindParameter, TextClause, bindparam, select, text
from sqlalchemy.orm import Session
from vintry.sites.read_models import SiteDealer
from vintry_sdk import SiteContext

from vintry_analytics.fanout import OnSite, tick
from vintry_analytics.vocabulary import SPECS

MAX_STEPS = 8
UNKNOWN_TIER = "unknown"


@dataclass(frozen=True)
class FunnelQuery:
    """What a funnel counts: the step types in order, the window and the period (epoch ms)."""

    steps: tuple[str, ...]
    window_ms: int
    start_ms: int
    end_ms: int
    dealers: frozenset[str] | None = None
    """Only these dealers (None: all)."""


@dataclass(frozen=True)
class Path:
    """A dealer's result: how far it got and the times of its representative chain."""

    level: int
    times: tuple[int, ...]


def best_path(step_times: Sequence[Sequence[int]], window_ms: int) -> Path:
    """The level and representative chain of one dealer, from its sorted times per step.

    ``step_times[k]`` holds the times (sorted, ascending) of the dealer's events of step
    ``k + 1``; a type used by two steps may be the same list twice.
    """
    first = step_times[0]
    if not first:
        return Path(0, ())
    steps = len(step_times)
    if steps == 1:
        return Path(1, (first[-1],))
    candidates = {first[-1]}
    for moment in step_times[1]:
        index = bisect.bisect_left(first, moment)
        if index:
            candidates.add(first[index - 1])
    best = Path(0, ())
    for start in sorted(candidates, reverse=True):
        chain = [start]
        limit = start + window_ms
        moment = start
        for level in range(1, steps):
            times = step_times[level]
            index = bisect.bisect_right(times, moment)
            if index == len(times) or times[index] > limit:
                break
            moment = times[index]
            chain.append(moment)
        if len(chain) > best.level:
            best = Path(len(chain), tuple(chain))
            if best.level == steps:
                break
    return best


# --- reading a site's events ---------------------------------------------------------------

Key = tuple[str, str | None]
"""(dealer, SKU) — the SKU is None unless the funnel is broken down by SKU."""


class Plan(enum.StrEnum):
    """How one site's events are searched for a funnel; every plan gives the same paths."""

    GROUPED = "grouped"
    """One grouped read of the sorted times per entrant and type, searched in Python."""
    SEEK_FROM_STEP_2 = "seek-from-step-2"
    """Inside the database, one seek per step-2 event for the latest step-1 event before it."""
    SEEK_FROM_STEP_1 = "seek-from-step-1"
    """Inside the database, one seek per step-1 event for the first step-2 event after it."""


# What the plan choice reads: the first events of steps 1 and 2 in the period, and how much
# rarer the driving step must be for the seeks to pay. At 100k events a driving event costs
# the seeks about 2 µs of CPU (its seek, its share of the chain's, the grouping), an event of
# the grouped read about 0.65 µs (its read and the search): from about six times fewer
# driving events than grouped-read events, the seeks win.
PLAN_SAMPLE = 256
SEEK_ADVANTAGE = 6


def choose_plan(session: Session, query: FunnelQuery, *, by_sku: bool = False) -> Plan:
    """The cheapest plan for *query* in *session*'s database.

    PostgreSQL always reads grouped (see the module's docstring), as does a funnel over a
    few named dealers (the grouped read seeks each dealer's rows). On SQLite the seeks are
    driven from the rarer of steps 1 and 2 when it is at least :data:`SEEK_ADVANTAGE` times
    rarer. The two are compared over the same stretch from the period's start: up to the
    earlier of the times at which each reaches :data:`PLAN_SAMPLE` events (the whole period
    if neither does), so events bunched in time mislead neither count.
    """
    if session.get_bind().dialect.name != "sqlite" or query.dealers is not None:
        return Plan.GROUPED
    if len(query.steps) == 1:
        return Plan.SEEK_FROM_STEP_2  # only each entrant's last step-1 event: nothing to drive
    first, second = (_first_times(session, query, step, by_sku) for step in (1, 2))
    sampled = [times[-1] for times in (first, second) if len(times) == PLAN_SAMPLE]
    horizon = min(sampled, default=query.end_ms)
    ones, twos = (bisect.bisect_right(times, horizon) for times in (first, second))
    if SEEK_ADVANTAGE * twos <= ones:
        return Plan.SEEK_FROM_STEP_2
    if SEEK_ADVANTAGE * ones <= twos:
        return Plan.SEEK_FROM_STEP_1
    return Plan.GROUPED


def _first_times(session: Session, query: FunnelQuery, step: int, by_sku: bool) -> list[int]:
    """The times of the first :data:`PLAN_SAMPLE` events of *step* in the period (one range
    of the ``(type, occurred_ms)`` index, which holds no SKU: in the SKU breakdown a type the
    vocabulary gives no SKU counts as none, the others as always naming one)."""
    if by_sku and not _names_sku(query.steps[step - 1]):
        return []
    statement = text(
        "SELECT occurred_ms FROM analytics_events INDEXED BY ix_analytics_events_time "
        "WHERE type = :type AND occurred_ms >= :start AND occurred_ms < :end "
        "ORDER BY occurred_ms LIMIT :sample"
    )
    parameters = {
        "type": query.steps[step - 1],
        "start": query.start_ms,
        "end": query.end_ms,
        "sample": PLAN_SAMPLE,
    }
    return [int(moment) for moment in session.scalars(statement, parameters)]


def _names_sku(type_: str) -> bool:
    """Whether events of *type_* name a SKU (an unregistered type might)."""
    return next((spec.sku for kind, spec in SPECS.items() if kind.value == type_), True)


def site_paths(
    session: Session, query: FunnelQuery, *, by_sku: bool = False, plan: Plan | None = None
) -> dict[Key, Path]:
    """Every entrant's path at one site (keys that never did step 1 are left out).

    *plan* is :func:`choose_plan`'s unless given (the tests and the benchmark name one); the
    seek plans are SQLite's SQL, so naming one for another database is a programming error.
    """
    plan = plan or choose_plan(session, query, by_sku=by_sku)
    if plan is not Plan.GROUPED:
        if session.get_bind().dialect.name != "sqlite":
            raise ValueError(f"the {plan.value} plan runs on SQLite only")
        statement, parameters = chain_query(
            query, by_sku=by_sku, from_step_1=plan is Plan.SEEK_FROM_STEP_1
        )
        steps = len(query.steps)
        return {
            (row[0], row[1] if by_sku else None): _path_of(row[-steps:])
            for row in session.execute(statement, parameters)
        }
    paths: dict[Key, Path] = {}
    empty: list[int] = []
    for key, by_type in read_step_times(session, query, by_sku=by_sku).items():
        if query.steps[0] not in by_type:
            continue
        lists = [by_type.get(step, empty) for step in query.steps]
        paths[key] = best_path(lists, query.window_ms)
    return paths


def _path_of(times: Sequence[int | None]) -> Path:
    """A chain's times, None past its level, as a path."""
    chain = tuple(moment for moment in times if moment is not None)
    return Path(len(chain), chain)


def read_step_times(
    session: Session, query: FunnelQuery, *, by_sku: bool = False
) -> dict[Key, dict[str, list[int]]]:
    """Sorted event times per key and event type, for the funnel's types and period.

    One grouped query: per (dealer[, SKU], type) the times as one comma-separated string,
    read through the dealer-first covering index. SQLite's planner would rather take the
    (type, time) index and sort for the GROUP BY, which is about twice as slow, so the index
    is named there (``INDEXED BY``; SQLAlchemy renders no table hints for SQLite).
    """
    sqlite = session.get_bind().dialect.name == "sqlite"
    keys = "dealer, sku, type" if by_sku else "dealer, type"
    times = "group_concat(occurred_ms, ',')" if sqlite else "string_agg(occurred_ms::text, ',')"
    hint = " INDEXED BY ix_analytics_events_funnel" if sqlite else ""
    conditions = ["type IN :types", "occurred_ms >= :start", "occurred_ms < :end"]
    parameters: dict[str, Any] = {
        "types": sorted(set(query.steps)),
        "start": query.start_ms,
        "end": query.end_ms,
    }
    bind: list[BindParameter[Any]] = [bindparam("types", expanding=True)]
    if by_sku:
        conditions.append("sku IS NOT NULL")
    if query.dealers is not None:
        conditions.append("dealer IN :dealers")
        parameters["dealers"] = sorted(query.dealers)
        bind.append(bindparam("dealers", expanding=True))
    statement = text(
        f"SELECT {keys}, {times} FROM analytics_events{hint} "
        f"WHERE {' AND '.join(conditions)} GROUP BY {keys}"
    ).bindparams(*bind)
    found: dict[Key, dict[str, list[int]]] = defaultdict(dict)
    for row in session.execute(statement, parameters):
        key: Key = (row[0], row[1] if by_sku else None)
        found[key][row[-2]] = sorted(map(int, row[-1].split(",")))
    return found


# The seeks name the funnel index: SQLite's planner may otherwise take the (type, time) one,
# which has no dealer to seek by. The drivers (one step's events over the period) do use that
# one: a single range of it, needing no planner statistics.
_SEEK = "analytics_events y INDEXED BY ix_analytics_events_funnel"
_DRIVER = "analytics_events x INDEXED BY ix_analytics_events_time"


def chain_query(
    query: FunnelQuery, *, by_sku: bool = False, from_step_1: bool = False
) -> tuple[TextClause, dict[str, Any]]:
    """The SQLite statement (and its parameters) giving each entrant's representative chain.

    One row per entrant: its key (``dealer``, or ``dealer, sku``), a ranking column, then the
    chain's times ``t1..tn``, None past its level. The common table expressions, in order:

    - ``starts`` — each entrant's last step-1 event in the period, its chain if it gets no
      further. Without the SKU breakdown the dealers are walked one index seek each (a
      recursive ``min(dealer) > previous``, which needs no planner statistics);
    - ``pairs`` and ``c2`` — chains of two steps, each from the latest step-1 event before a
      first step-2 event within the window. From step 2 (*from_step_1* false): each step-2
      event with the latest step-1 event before it, then per start the earliest such event
      within the window. From step 1: each step-1 event with the first step-2 event after it
      within the window, then per step-2 event the latest such start. Both give the same rows;
      a start left out is a level-1 chain ``starts`` holds at the same or a later time;
    - ``c3..cn`` — the earliest event of each further step after the previous one, inside
      the window and the period: one seek each, none once the chain has stopped.

    The final step keeps per entrant the chain of the highest level, then the latest start:
    ``max(level × span + (t1 − start))`` orders by exactly that (``0 ≤ t1 − start < span``,
    in integers), and SQLite takes the other columns from the row holding the maximum.
    """
    steps = len(query.steps)
    key = ("dealer", "sku") if by_sku else ("dealer",)
    keys = ", ".join(key)
    parameters: dict[str, Any] = {
        "start": query.start_ms,
        "end": query.end_ms,
        "window": query.window_ms,
        "span": max(query.end_ms - query.start_ms, 1),
    }
    parameters.update({f"s{index}": step for index, step in enumerate(query.steps, start=1)})
    bind: list[BindParameter[Any]] = []
    if query.dealers is not None:
        parameters["dealers"] = sorted(query.dealers)
        bind.append(bindparam("dealers", expanding=True))

    def scope(alias: str) -> str:
        """The conditions on any event that counts: a SKU (in that breakdown), the dealers."""
        conditions = [f"{alias}.sku IS NOT NULL"] if by_sku else []
        if query.dealers is not None:
            conditions.append(f"{alias}.dealer IN :dealers")
        return "".join(f" AND {condition}" for condition in conditions)

    def seek(aggregate: str, alias: str, step: int, bounds: str) -> str:
        """The time of one event of *step* for the entrant of row *alias*, within *bounds*."""
        same = " AND ".join(f"y.{column} = {alias}.{column}" for column in key)
        return (
            f"(SELECT {aggregate}(y.occurred_ms) FROM {_SEEK} "
            f"WHERE {same} AND y.type = :s{step} AND {bounds})"
        )

    in_period = "occurred_ms >= :start AND occurred_ms < :end"
    if by_sku:
        ctes = [
            f"starts AS MATERIALIZED (SELECT {keys}, max(e.occurred_ms) AS t1 "
            "FROM analytics_events e INDEXED BY ix_analytics_events_funnel "
            f"WHERE e.type = :s1 AND e.{in_period}{scope('e')} GROUP BY {keys})"
        ]
    else:
        ctes = [
            "walk(dealer) AS (SELECT min(e.dealer) FROM analytics_events e "
            f"WHERE 1 = 1{scope('e')} UNION ALL "
            "SELECT (SELECT min(e.dealer) FROM analytics_events e "
            f"WHERE e.dealer > w.dealer{scope('e')}) FROM walk w WHERE w.dealer IS NOT NULL)",
            f"starts AS MATERIALIZED (SELECT w.dealer, {seek('max', 'w', 1, 'y.' + in_period)} "
            "AS t1 FROM walk w WHERE w.dealer IS NOT NULL)",
        ]
    driver = f"{_DRIVER} WHERE x.{in_period}{scope('x')}"
    x_keys = ", ".join(f"x.{column}" for column in key)
    if steps > 1 and from_step_1:
        after = "y.occurred_ms > x.occurred_ms AND y.occurred_ms <= x.occurred_ms + :window"
        ctes += [
            f"pairs AS MATERIALIZED (SELECT {x_keys}, x.occurred_ms AS t1, "
            f"{seek('min', 'x', 2, after + ' AND y.occurred_ms < :end')} AS t2 "
            f"FROM {driver} AND x.type = :s1)",
            f"c2 AS MATERIALIZED (SELECT {keys}, max(t1) AS t1, t2 FROM pairs "
            f"WHERE t2 IS NOT NULL GROUP BY {keys}, t2)",
        ]
    elif steps > 1:
        before = "y.occurred_ms >= :start AND y.occurred_ms < x.occurred_ms"
        ctes += [
            f"pairs AS MATERIALIZED (SELECT {x_keys}, x.occurred_ms AS t2, "
            f"{seek('max', 'x', 1, before)} AS t1 FROM {driver} AND x.type = :s2)",
            f"c2 AS MATERIALIZED (SELECT {keys}, t1, min(t2) AS t2 FROM pairs "
            f"WHERE t2 - t1 <= :window GROUP BY {keys}, t1)",
        ]
    for step in range(3, steps + 1):
        bounds = (
            f"y.occurred_ms > c.t{step - 1} AND y.occurred_ms <= c.t1 + :window "
            "AND y.occurred_ms < :end"
        )
        ctes.append(
            f"c{step} AS MATERIALIZED (SELECT c.*, CASE WHEN c.t{step - 1} IS NOT NULL THEN "
            f"{seek('min', 'c', step, bounds)} END AS t{step} FROM c{step - 1} c)"
        )
    times = ", ".join(f"t{step}" for step in range(1, steps + 1))
    unfinished = "NULL, " * (steps - 1)
    chains = f"SELECT {keys}, t1, {unfinished}1 AS level FROM starts WHERE t1 IS NOT NULL"
    if steps > 1:
        level = "".join(f" + (t{step} IS NOT NULL)" for step in range(3, steps + 1))
        chains = f"SELECT {keys}, {times}, 2{level} AS level FROM c{steps} UNION ALL {chains}"
    statement = text(
        f"WITH RECURSIVE {', '.join(ctes)}, chains AS ({chains}) "
        f"SELECT {keys}, max(level * :span + (t1 - :start)) AS rank, {times} "
        f"FROM chains GROUP BY {keys}"
    ).bindparams(*bind)
    return statement, parameters


def dealer_tiers(session: Session) -> dict[str, str]:
    """Dealer code → tier, from the site's read model of its dealers."""
    return {code: tier for code, tier in session.execute(select(SiteDealer.code, SiteDealer.tier))}


# --- counting -------------------------------------------------------------------------------


@dataclass
class FunnelTally:
    """Counts and step durations of a set of entrants; tallies of sites merge exactly."""

    steps: int
    reached: list[int] = field(default_factory=list)
    durations: list[list[int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.reached:
            self.reached = [0] * self.steps
            self.durations = [[] for _ in range(self.steps)]

    def add(self, path: Path) -> None:
        """Count one entrant."""
        for level in range(path.level):
            self.reached[level] += 1
            if level:
                self.durations[level].append(path.times[level] - path.times[level - 1])

    def merge(self, other: FunnelTally) -> None:
        """Add *other*'s entrants (another site's, say)."""
        for level in range(self.steps):
            self.reached[level] += other.reached[level]
            self.durations[level].extend(other.durations[level])


def median(values: Sequence[int]) -> float | None:
    """The median of *values* (the mean of the middle two for an even count), or None."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


@dataclass
class SiteFunnel:
    """One site's entrants, tallied overall and by the requested breakdown."""

    site: str
    overall: FunnelTally
    groups: dict[str, FunnelTally]


Breakdown = str | None
"""``None``, ``"site"``, ``"tier"`` or ``"sku"``."""
BREAKDOWNS = ("site", "tier", "sku")


def funnel_at_site(
    site: SiteContext, query: FunnelQuery, breakdown: Breakdown = None, *, plan: Plan | None = None
) -> SiteFunnel:
    """Tally the funnel over one site's events (the site's own database only), with *plan*
    or the one :func:`choose_plan` picks."""
    steps = len(query.steps)
    overall = FunnelTally(steps)
    groups: dict[str, FunnelTally] = {}
    with site.database.reading() as session:
        paths = site_paths(session, query, by_sku=breakdown == "sku", plan=plan)
        tiers = dealer_tiers(session) if breakdown == "tier" else {}
    for (dealer, sku), path in paths.items():
        overall.add(path)
        if breakdown is None:
            continue
        if breakdown == "site":
            group = site.code
        elif breakdown == "tier":
            group = tiers.get(dealer, UNKNOWN_TIER)
        else:
            group = sku or ""
        groups.setdefault(group, FunnelTally(steps)).add(path)
    return SiteFunnel(site.code, overall, groups)


def combine(parts: Iterable[SiteFunnel], steps: int) -> tuple[FunnelTally, dict[str, FunnelTally]]:
    """Merge sites' tallies into one overall tally and one per group."""
    overall = FunnelTally(steps)
    groups: dict[str, FunnelTally] = {}
    for part in parts:
        overall.merge(part.overall)
        for key, tally in part.groups.items():
            groups.setdefault(key, FunnelTally(steps)).merge(tally)
    return overall, groups


def funnel_over_sites(
    sites: Sequence[SiteContext],
    query: FunnelQuery,
    breakdown: Breakdown = None,
    *,
    on_site: OnSite = None,
) -> tuple[FunnelTally, dict[str, FunnelTally]]:
    """The funnel across *sites* (a fan-out: each site's database in turn)."""
    parts = []
    for site in sites:
        parts.append(funnel_at_site(site, query, breakdown))
        tick(on_site, site.code)
    return combine(parts, len(query.steps))


def paths_by_dealer(paths: Mapping[Key, Path]) -> dict[str, Path]:
    """Paths keyed by dealer alone (for funnels without the SKU breakdown)."""
    return {dealer: path for (dealer, _sku), path in paths.items()}
