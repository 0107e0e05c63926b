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

The scan reads, per dealer and step type, the sorted times of its events in one grouped
query (covering index ``dealer, type, occurred_ms``), then finds the level with binary
searches: from a start, the chain is fixed by the first step-2 event after it, so only the
latest start before each step-2 event can be a dealer's best, and later starts are tried
first so that a dealer completing the funnel stops the search.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BindParameter, bindparam, select, text
from sqlalchemy.orm import Session
from vintry.sites.read_models import SiteDealer
from vintry_sdk import SiteContext

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


def site_paths(session: Session, query: FunnelQuery, *, by_sku: bool = False) -> dict[Key, Path]:
    """Every entrant's path at one site (keys that never did step 1 are left out)."""
    paths: dict[Key, Path] = {}
    empty: list[int] = []
    for key, by_type in read_step_times(session, query, by_sku=by_sku).items():
        if query.steps[0] not in by_type:
            continue
        lists = [by_type.get(step, empty) for step in query.steps]
        paths[key] = best_path(lists, query.window_ms)
    return paths


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
    site: SiteContext, query: FunnelQuery, breakdown: Breakdown = None
) -> SiteFunnel:
    """Tally the funnel over one site's events (the site's own database only)."""
    steps = len(query.steps)
    overall = FunnelTally(steps)
    groups: dict[str, FunnelTally] = {}
    with site.database.reading() as session:
        paths = site_paths(session, query, by_sku=breakdown == "sku")
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
    on_site: Callable[[str], None] | None = None,
) -> tuple[FunnelTally, dict[str, FunnelTally]]:
    """The funnel across *sites* (a fan-out: each site's database in turn)."""
    parts = []
    for site in sites:
        parts.append(funnel_at_site(site, query, breakdown))
        if on_site is not None:
            on_site(site.code)
    return combine(parts, len(query.steps))


def paths_by_dealer(paths: Mapping[Key, Path]) -> dict[str, Path]:
    """Paths keyed by dealer alone (for funnels without the SKU breakdown)."""
    return {dealer: path for (dealer, _sku), path in paths.items()}
