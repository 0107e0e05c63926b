"""Sourcing an order: the site's rule picks a strategy, a guard runs it, the kernel checks it.

This runs inside the HQ transaction of placement, under its write lock, once per order of
a batch, so it reads nothing per order: the site's rule set is cached per site under the
``sourcing_rules`` and ``sites`` change counters, the warehouses' distances under the
``warehouses`` and ``sites`` counters (:mod:`vintry.cache`).

The **guard** makes a strategy's failure the strategy's problem, never the order's:

- a strategy of a plugin runs on a worker thread with the rule's ``time_budget_ms``; one
  that raises (anything but a ``VintryError``, which is its answer — ``out_of_stock``), runs
  past its budget, or returns a plan the kernel refuses (a line not covered, a warehouse
  not allowed, more units than available, a split under ``no_split``) is a **fault**: the
  order is sourced by the site's default rule instead, and if that fails too by the
  kernel's built-in ``priority-nearest``; the fault is logged on ``vintry.sourcing`` with
  the plugin and the site, counted in ``platform.plugin_faults``, and written into the
  order's sourcing record (``fallback``);
- a strategy with :data:`PAUSE_AFTER` faults in a row is **paused** for
  :data:`PAUSE_FOR` (by the platform clock): its orders go straight to the fallback until
  then. ``GET /api/v1/sourcing/strategies`` and ``vintry sourcing strategies`` report
  each strategy's calls, faults, last error and pause. The record is per worker process:
  each worker pauses on its own evidence.

A strategy that overruns cannot be stopped (Python cannot kill a thread): its thread is
abandoned and replaced, and whatever it returns later is dropped.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from vintry.builtin.sourcing import distance_km
from vintry.contracts import DealerView, SourcingPlan, SourcingRequest, WarehouseOption
from vintry.db.counters import WAREHOUSES_COUNTER
from vintry.errors import Conflict, VintryError
from vintry.platform import SITES_COUNTER, Platform, SiteContext
from vintry.sites.inheritance import Layer, NearestWinsRule, resolve
from vintry.sites.models import SiteSettingOverride
from vintry.sourcing.rules import (
    BUILTIN_RULE_SET,
    BUILTIN_STRATEGY,
    OrderFacts,
    RuleMatch,
    SourcingRuleSet,
    StrategyChoice,
    choose,
)

log = logging.getLogger("vintry.sourcing")

SOURCING_RULES_COUNTER = "sourcing_rules"
"""Bumped with every change of a site's rule set."""
RULES_NAMESPACE = "sourcing_rules"
"""The ``site_setting_overrides`` namespace a site's own rule set is stored under."""
PAUSE_AFTER = 3
PAUSE_FOR = timedelta(minutes=15)
DEFAULT_SHIPMENT_COST = 500.0
"""What one more shipment costs, in unit-kilometres (the ``shipment_cost`` parameter)."""


# --- what a strategy may ask about the order it is sourcing --------------------------------


@dataclass(frozen=True)
class SourcingContext:
    """The order a strategy is being called for: its site (with ``site.config(...)``), the
    platform clock's time, the rule that chose the strategy, and whether this is a dry run."""

    site: SiteContext
    now: datetime
    rule: str
    dry_run: bool = False


_current: ContextVar[SourcingContext | None] = ContextVar("vintry_current_sourcing", default=None)


def current_sourcing() -> SourcingContext:
    """The sourcing a strategy is being called for (inside a strategy only).

    A strategy reads its plugin's configuration at the order's site with
    ``current_sourcing().site.config("<plugin>")``: cached, no database round trip.
    """
    context = _current.get()
    if context is None:
        raise RuntimeError("current_sourcing() is only available inside a sourcing strategy")
    return context


# --- the cost every strategy is measured with ------------------------------------------------


def plan_cost(plan: SourcingPlan, request: SourcingRequest, shipment_cost: float) -> float:
    """Units × kilometres from each warehouse, plus *shipment_cost* per warehouse used."""
    km = {option.code: option.distance_km or 0.0 for option in request.warehouses}
    moved = sum(a.quantity * km.get(a.warehouse, 0.0) for a in plan.allocations)
    return moved + shipment_cost * len({a.warehouse for a in plan.allocations})


def shipment_cost_of(parameters: Mapping[str, Any]) -> float:
    """The ``shipment_cost`` parameter, or :data:`DEFAULT_SHIPMENT_COST`."""
    value = parameters.get("shipment_cost")
    return float(value) if isinstance(value, int | float) else DEFAULT_SHIPMENT_COST


# --- checking a plan ---------------------------------------------------------------------------


class PlanRefused(Exception):
    """A plan the kernel will not reserve; the message says why."""


def check_plan(plan: SourcingPlan, request: SourcingRequest, *, no_split: bool = False) -> None:
    """Refuse a plan that does not cover every line exactly, uses a warehouse outside the
    request, takes more than a warehouse has, or splits under ``no_split``."""
    if not isinstance(plan, SourcingPlan):
        raise PlanRefused(f"the strategy returned {type(plan).__name__}, not a SourcingPlan")
    covered: dict[str, int] = defaultdict(int)
    taken: dict[tuple[str, str], int] = defaultdict(int)
    available = {option.code: option.available for option in request.warehouses}
    for allocation in plan.allocations:
        if allocation.warehouse not in available:
            raise PlanRefused(f"warehouse {allocation.warehouse!r} may not ship this order")
        covered[allocation.sku] += allocation.quantity
        taken[(allocation.warehouse, allocation.sku)] += allocation.quantity
    if dict(covered) != dict(request.lines):
        raise PlanRefused("the plan does not cover the order exactly")
    for (warehouse, sku), quantity in taken.items():
        if quantity > available[warehouse].get(sku, 0):
            raise PlanRefused(f"it took {quantity} of {sku} from {warehouse}, which has fewer")
    if no_split and len({a.warehouse for a in plan.allocations}) > 1:
        raise PlanRefused("the rule forbids splitting, but the plan uses several warehouses")


# --- the guard -------------------------------------------------------------------------------


@dataclass
class StrategyHealth:
    """How one strategy has fared in this worker process."""

    name: str
    owner: str
    calls: int = 0
    faults: int = 0
    consecutive_faults: int = 0
    last_fault: str | None = None
    last_fault_site: str | None = None
    last_fault_at: datetime | None = None
    paused_until: datetime | None = None

    def paused(self, now: datetime) -> bool:
        """Whether the strategy is paused at *now*."""
        return self.paused_until is not None and now < self.paused_until


class StrategyFault(Exception):
    """A strategy failed for an order: raised, overran, returned a refused plan, paused."""

    def __init__(self, strategy: str, owner: str | None, reason: str) -> None:
        super().__init__(reason)
        self.strategy = strategy
        self.owner = owner
        self.reason = reason


@dataclass
class _Call:
    function: Callable[[SourcingRequest], Any]
    request: SourcingRequest
    context: contextvars.Context
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class _Workers:
    """Daemon threads running strategy calls; a call that overruns keeps its thread (it
    cannot be stopped) and a new thread takes its place."""

    def __init__(self, size: int) -> None:
        self._calls: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        for _ in range(size):
            self._spawn()

    def _spawn(self) -> None:
        threading.Thread(target=self._serve, name="vintry-sourcing", daemon=True).start()

    def _serve(self) -> None:
        while True:
            call = self._calls.get()
            try:
                call.result = call.context.run(call.function, call.request)
            except BaseException as error:  # reported to the caller, who decides
                call.error = error
            finally:
                call.done.set()

    def run(self, call: _Call, timeout: float) -> bool:
        """Run *call*; False if it did not finish within *timeout* seconds."""
        self._calls.put(call)
        if call.done.wait(timeout):
            return True
        self._spawn()
        return False


class StrategyGuard:
    """Runs strategies within their budgets and keeps each one's health."""

    def __init__(self, platform: Platform, workers: int = 4) -> None:
        self._platform_ref = weakref.ref(platform)
        self._workers = _Workers(workers)
        self._lock = threading.Lock()
        self.health: dict[str, StrategyHealth] = {}

    def health_of(self, name: str, owner: str) -> StrategyHealth:
        """The health record of strategy *name*."""
        with self._lock:
            found = self.health.get(name)
            if found is None:
                found = self.health[name] = StrategyHealth(name, owner)
            return found

    def call(
        self,
        name: str,
        owner: str,
        strategy: Callable[[SourcingRequest], Any],
        request: SourcingRequest,
        *,
        context: SourcingContext,
        budget_ms: int,
        inline: bool,
    ) -> Any:
        """*strategy*(*request*), or :class:`StrategyFault`. A ``VintryError`` the strategy
        raises is its answer and passes through."""
        token = _current.set(context)
        try:
            if inline:
                try:
                    return strategy(request)
                except VintryError:
                    raise
                except Exception as error:
                    raise StrategyFault(name, owner, _describe(error)) from error
            started = time.perf_counter()
            job = _Call(strategy, request, contextvars.copy_context())
            if not self._workers.run(job, budget_ms / 1000):
                waited = (time.perf_counter() - started) * 1000
                raise StrategyFault(
                    name, owner, f"exceeded its time budget of {budget_ms} ms ({waited:.0f} ms)"
                )
        finally:
            _current.reset(token)
        if job.error is not None:
            if isinstance(job.error, VintryError):
                raise job.error
            raise StrategyFault(name, owner, _describe(job.error)) from job.error
        return job.result

    def succeeded(self, name: str, owner: str) -> None:
        """Count a good call; a success ends a run of faults."""
        health = self.health_of(name, owner)
        with self._lock:
            health.calls += 1
            health.consecutive_faults = 0

    def failed(self, fault: StrategyFault, site: str, now: datetime) -> None:
        """Count, log and report *fault*; pause the strategy after too many in a row."""
        owner = fault.owner or "?"
        health = self.health_of(fault.strategy, owner)
        with self._lock:
            health.calls += 1
            health.faults += 1
            health.consecutive_faults += 1
            health.last_fault = fault.reason
            health.last_fault_site = site
            health.last_fault_at = now
            pause = health.consecutive_faults >= PAUSE_AFTER and not health.paused(now)
            if pause:
                health.paused_until = now + PAUSE_FOR
        platform = self._platform_ref()
        if platform is not None:
            platform.plugin_faults[owner] += 1
        log.warning(
            "sourcing strategy %r of plugin %s failed on site %s: %s; the site's default "
            "sourced the order",
            fault.strategy,
            owner,
            site,
            fault.reason,
        )
        if pause:
            log.error(
                "sourcing strategy %r of plugin %s is paused until %s after %d faults in a row",
                fault.strategy,
                owner,
                health.paused_until.isoformat() if health.paused_until else "?",
                health.consecutive_faults,
            )

    def resume(self, name: str) -> bool:
        """Lift a pause (an operator fixed the plugin); False if the strategy was not paused."""
        with self._lock:
            health = self.health.get(name)
            if health is None or health.paused_until is None:
                return False
            health.paused_until = None
            health.consecutive_faults = 0
            return True


def _describe(error: BaseException) -> str:
    return f"raised {type(error).__name__}: {error}"


_guards: weakref.WeakKeyDictionary[Platform, StrategyGuard] = weakref.WeakKeyDictionary()
_guards_lock = threading.Lock()


def guard(platform: Platform) -> StrategyGuard:
    """The strategy guard of *platform* in this process."""
    found = _guards.get(platform)
    if found is None:
        with _guards_lock:
            found = _guards.get(platform)
            if found is None:
                found = _guards[platform] = StrategyGuard(platform)
    return found


# --- a site's rules, cached --------------------------------------------------------------------


@dataclass(frozen=True)
class SiteRules:
    """The rule set in force at a site and the site that set it (None: the kernel's)."""

    rule_set: SourcingRuleSet
    decided_by: str | None
    region: str | None


def rules_for(site: SiteContext, session: Session) -> SiteRules:
    """The rule set in force at *site*, read once per change of the rules or the tree."""
    version = site.versions(SOURCING_RULES_COUNTER, SITES_COUNTER)
    cacheable = min(version) >= 0
    cache = site.platform.cache("sourcing_rules")
    found = cache.get(site.code, version) if cacheable else None
    if found is not None:
        return found  # type: ignore[no-any-return]
    ids = {node.id: node.code for node in site.path}
    own = {
        ids[site_id]: values
        for site_id, values in session.execute(
            select(SiteSettingOverride.site_id, SiteSettingOverride.values).where(
                SiteSettingOverride.namespace == RULES_NAMESPACE,
                SiteSettingOverride.site_id.in_(list(ids)),
            )
        )
    }
    chain = [Layer(node.code, own.get(node.code)) for node in site.path]
    resolved = resolve(NearestWinsRule[Mapping[str, Any]](), chain)
    decided_by = resolved.decided_by.get("*")
    rule_set = (
        SourcingRuleSet.model_validate(resolved.value)
        if resolved.value is not None
        else BUILTIN_RULE_SET
    )
    region = next((node.code for node in reversed(site.path) if node.kind.value == "region"), None)
    rules = SiteRules(rule_set, decided_by, region)
    if cacheable:
        cache.put(site.code, version, rules)
    return rules


class Depot(Protocol):
    """A warehouse that may ship a site's orders, as the order writer knows it."""

    @property
    def id(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def region(self) -> str | None: ...
    @property
    def latitude(self) -> Any: ...
    @property
    def longitude(self) -> Any: ...
    @property
    def priority(self) -> int: ...


def distances_for(
    site: SiteContext, depots: Sequence[Depot], destination: tuple[Any, Any] | None
) -> dict[str, float | None]:
    """Each depot's distance to *destination* (km), cached with the warehouses."""
    version = site.versions(WAREHOUSES_COUNTER, SITES_COUNTER)
    cacheable = min(version) >= 0
    cache = site.platform.cache("sourcing_distances")
    found = cache.get(site.code, version) if cacheable else None
    if found is not None and len(found) == len(depots):
        return found  # type: ignore[no-any-return]
    measured: dict[str, float | None] = {
        depot.code: (
            round(distance_km(destination, (depot.latitude, depot.longitude)), 3)
            if destination is not None
            else None
        )
        for depot in depots
    }
    if cacheable:
        cache.put(site.code, version, measured)
    return measured


# --- planning one order ----------------------------------------------------------------------


@dataclass(frozen=True)
class Fallback:
    """A strategy that failed for the order, and why."""

    strategy: str
    plugin: str | None
    reason: str


@dataclass(frozen=True)
class SourcedOrder:
    """The plan to reserve, and the record stored with the order."""

    plan: SourcingPlan
    record: dict[str, Any]
    request: SourcingRequest


@dataclass
class SourcingPlanner:
    """Sources the orders of one HQ transaction (or one dry run)."""

    platform: Platform
    session: Session
    now: datetime
    dry_run: bool = False

    def facts(
        self,
        site: SiteContext,
        dealer: DealerView,
        amount: Decimal,
        categories: frozenset[str],
        quantity: int,
    ) -> OrderFacts:
        """The facts the rules of *site* look at."""
        rules = rules_for(site, self.session)
        return OrderFacts(
            site=site.code,
            region=rules.region,
            dealer_tier=dealer.tier,
            dealer_tags=frozenset(dealer.tags),
            amount=amount,
            categories=categories,
            quantity=quantity,
        )

    def source(
        self,
        site: SiteContext,
        dealer: DealerView,
        lines: Mapping[str, int],
        facts: OrderFacts,
        depots: Sequence[Depot],
        destination: tuple[Any, Any] | None,
        available: Callable[[int, str], int | None],
    ) -> SourcedOrder:
        """Choose the rule, run its strategy under the guard, fall back on a fault.

        *available(depot_id, sku)* is what the depot has left for this order (None: no
        stock row). Raises a ``VintryError`` (``out_of_stock``) when the lines cannot be
        covered.
        """
        rules = rules_for(site, self.session)
        match = choose(rules.rule_set, facts)
        km = distances_for(site, depots, destination)
        attempts: list[tuple[str, StrategyChoice]] = [(match.rule, match.choice)]
        default = rules.rule_set.default
        if match.rule != "default" and default != match.choice:
            attempts.append(("default", default))
        if all(choice.strategy != BUILTIN_STRATEGY for _, choice in attempts):
            attempts.append(("built-in", StrategyChoice(strategy=BUILTIN_STRATEGY)))
        registered = self.platform.plugins.sourcing_strategies()
        builtin = self.platform.plugins.builtin_names()
        keeper = guard(self.platform)
        fallbacks: list[Fallback] = []
        for rule_name, choice in attempts:
            request = self._request(site, dealer, lines, choice, depots, destination, km, available)
            found = registered.get(choice.strategy)
            owner = found[0] if found else None
            try:
                if found is None:
                    raise StrategyFault(choice.strategy, None, "is not registered")
                health = keeper.health_of(choice.strategy, found[0])
                if health.paused(self.now) and health.paused_until is not None:
                    until = health.paused_until.isoformat()
                    raise StrategyFault(choice.strategy, found[0], f"is paused until {until}")
                plan = keeper.call(
                    choice.strategy,
                    found[0],
                    found[1],
                    request,
                    context=SourcingContext(site, self.now, rule_name, self.dry_run),
                    budget_ms=choice.time_budget_ms,
                    inline=found[0] in builtin,
                )
                try:
                    check_plan(plan, request, no_split=choice.no_split)
                except PlanRefused as refused:
                    if found[0] in builtin and choice.no_split:
                        plan = _single_warehouse(request)
                    else:
                        raise StrategyFault(
                            choice.strategy, found[0], f"returned a refused plan: {refused}"
                        ) from None
            except StrategyFault as fault:
                fallbacks.append(Fallback(fault.strategy, fault.owner, fault.reason))
                if found is None:
                    log.warning(
                        "sourcing strategy %r chosen by rule %r on site %s is not registered",
                        fault.strategy,
                        rule_name,
                        site.code,
                    )
                elif not self.dry_run and "is paused" not in fault.reason:
                    keeper.failed(fault, site.code, self.now)
                continue
            if not self.dry_run:
                keeper.succeeded(choice.strategy, owner or "?")
            return SourcedOrder(
                plan, self._record(plan, request, match, rule_name, choice, fallbacks), request
            )
        raise Conflict(  # the built-in strategy raises out_of_stock itself; this is a bug
            "no sourcing strategy could source the order", code="sourcing_failed"
        )

    def _request(
        self,
        site: SiteContext,
        dealer: DealerView,
        lines: Mapping[str, int],
        choice: StrategyChoice,
        depots: Sequence[Depot],
        destination: tuple[Any, Any] | None,
        km: Mapping[str, float | None],
        available: Callable[[int, str], int | None],
    ) -> SourcingRequest:
        allowed = set(choice.warehouses) if choice.warehouses is not None else None
        options = []
        for depot in depots:
            if allowed is not None and depot.code not in allowed:
                continue
            distance = km.get(depot.code)
            if (
                choice.max_distance_km is not None
                and distance is not None
                and distance > choice.max_distance_km
            ):
                continue
            stock: dict[str, int] = {}
            for sku in lines:
                units = available(depot.id, sku)
                if units is not None:
                    stock[sku] = units
            options.append(
                WarehouseOption(
                    code=depot.code,
                    region=depot.region,
                    latitude=depot.latitude,
                    longitude=depot.longitude,
                    priority=depot.priority,
                    available=stock,
                    distance_km=distance,
                )
            )
        parameters: dict[str, Any] = dict(choice.parameters)
        parameters.setdefault("no_split", choice.no_split)
        parameters.setdefault("time_budget_ms", choice.time_budget_ms)
        if choice.max_distance_km is not None:
            parameters.setdefault("max_distance_km", choice.max_distance_km)
        return SourcingRequest(
            site=site.code,
            dealer=dealer,
            lines=dict(lines),
            warehouses=tuple(options),
            destination=destination,
            parameters=parameters,
        )

    def _record(
        self,
        plan: SourcingPlan,
        request: SourcingRequest,
        match: RuleMatch,
        rule_name: str,
        choice: StrategyChoice,
        fallbacks: list[Fallback],
    ) -> dict[str, Any]:
        cost = shipment_cost_of(request.parameters)
        return {
            "strategy": plan.strategy,
            "explanation": plan.explanation,
            "rule": match.rule,
            "why": match.why,
            "requested_strategy": match.choice.strategy,
            "used_rule": rule_name,
            "parameters": dict(request.parameters),
            "warehouses": sorted({a.warehouse for a in plan.allocations}),
            "cost": round(plan_cost(plan, request, cost), 3),
            "fallback": [
                {"strategy": f.strategy, "plugin": f.plugin, "reason": f.reason} for f in fallbacks
            ],
            "snapshot": snapshot(request),
        }


def _single_warehouse(request: SourcingRequest) -> SourcingPlan:
    """The built-in answer under ``no_split``: the best-ranked warehouse holding it all."""
    from vintry.contracts import Allocation

    ranked = sorted(request.warehouses, key=lambda w: (w.priority, w.distance_km or 0.0, w.code))
    for option in ranked:
        if all(option.available.get(sku, 0) >= units for sku, units in request.lines.items()):
            return SourcingPlan(
                strategy=BUILTIN_STRATEGY,
                allocations=tuple(
                    Allocation(sku=sku, warehouse=option.code, quantity=units)
                    for sku, units in sorted(request.lines.items())
                ),
                explanation=f"no split: {option.code} holds every line",
            )
    raise Conflict(
        "no single eligible warehouse holds the whole order, and the rule forbids splitting",
        code="out_of_stock",
        field="lines",
        details={"no_split": True},
    )


def snapshot(request: SourcingRequest) -> dict[str, Any]:
    """What the KPIs need to source the order again: the lines, the parameters and every
    warehouse that had some of them (code, km, priority, region, units)."""
    return {
        "lines": dict(request.lines),
        "destination": (
            [str(request.destination[0]), str(request.destination[1])]
            if request.destination is not None
            else None
        ),
        "options": [
            [
                option.code,
                option.distance_km,
                option.priority,
                option.region,
                {sku: units for sku, units in option.available.items() if units > 0},
            ]
            for option in request.warehouses
            if any(units > 0 for units in option.available.values())
        ],
    }


def request_from_snapshot(
    stored: Mapping[str, Any], *, site: str, dealer: DealerView, parameters: Mapping[str, Any]
) -> SourcingRequest:
    """The request a stored :func:`snapshot` describes (for replays)."""
    # The kilometres were measured when the order was placed; the replay passes them as
    # they were and no destination, so no strategy measures again from placeholder points.
    return SourcingRequest(
        site=site,
        dealer=dealer,
        lines=dict(stored["lines"]),
        warehouses=tuple(
            WarehouseOption(
                code=code,
                region=region,
                latitude=Decimal(0),
                longitude=Decimal(0),
                priority=priority,
                available=dict(units),
                distance_km=km,
            )
            for code, km, priority, region, units in stored["options"]
        ),
        destination=None,
        parameters=dict(parameters),
    )
