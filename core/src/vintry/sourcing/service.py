"""Sourcing rules per site (stored, inherited, audited), dry runs, strategy health, KPIs.

A site's own rule set is a row of ``site_setting_overrides`` in the namespace
``sourcing_rules``; the set in force is the nearest one on the path root → site
(:class:`~vintry.sites.inheritance.NearestWinsRule`), else the kernel's built-in set.
Every change is validated (422 naming the rule and the field), audited with before and
after, and bumps the ``sourcing_rules`` counter so every worker's cache moves on.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vintry.accounts.principal import Actor
from vintry.audit.service import record_change
from vintry.contracts import DealerView
from vintry.db.counters import bump
from vintry.dealers import service as dealers
from vintry.errors import InvalidInput
from vintry.inventory import stock
from vintry.inventory.models import Warehouse
from vintry.money import from_fen
from vintry.orders.models import Order, OrderStatus, Shipment
from vintry.orders.pricing import LineInput, price_lines
from vintry.platform import Platform
from vintry.sites.inheritance import Layer, NearestWinsRule, resolve
from vintry.sites.models import SiteSettingOverride
from vintry.sourcing.planner import (
    RULES_NAMESPACE,
    SOURCING_RULES_COUNTER,
    SourcingPlanner,
    guard,
    plan_cost,
    request_from_snapshot,
    shipment_cost_of,
)
from vintry.sourcing.rules import BUILTIN_RULE_SET, parse_rule_set
from vintry.sourcing.schemas import (
    AllocationOut,
    CycleTimeOut,
    DryRunOut,
    FallbackOut,
    MatchAccuracyOut,
    RuleSetOut,
    StrategyOut,
    WarehouseConsidered,
)

REPLAY_BUDGET_MS = 5_000
"""The time budget a KPI replay gives the reference strategy (no order waits on it)."""


# --- rule sets -----------------------------------------------------------------------------


def rule_set_at(platform: Platform, code: str) -> RuleSetOut:
    """The rule set in force at site *code*, who set it, and the site's own."""
    directory = platform.directory()
    path = directory.path(code)
    with platform.hq.reading() as session:
        own = _own_sets(session, [node.id for node in path])
    chain = [Layer(node.code, own.get(node.id)) for node in path]
    resolved = resolve(NearestWinsRule[dict[str, Any]](), chain)
    value = (
        resolved.value if resolved.value is not None else BUILTIN_RULE_SET.model_dump(mode="json")
    )
    return RuleSetOut(
        site=code,
        decided_by=resolved.decided_by.get("*"),
        rule_set=value,
        own=own.get(path[-1].id),
    )


def _own_sets(session: Session, site_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    rows = session.execute(
        select(SiteSettingOverride.site_id, SiteSettingOverride.values).where(
            SiteSettingOverride.namespace == RULES_NAMESPACE,
            SiteSettingOverride.site_id.in_(list(site_ids)),
        )
    )
    return {site_id: dict(values) for site_id, values in rows}


def set_rule_set(
    platform: Platform, code: str, data: dict[str, Any], *, actor: Actor
) -> RuleSetOut:
    """Replace site *code*'s own rule set with *data* (validated; audited)."""
    directory = platform.directory()
    node = directory.get(code)
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        rule_set = parse_rule_set(
            data,
            strategies=list(platform.plugins.sourcing_strategies()),
            warehouses=list(session.scalars(select(Warehouse.code))),
            sites=[n.code for n in directory.nodes.values()],
        )
        values = rule_set.model_dump(mode="json")
        row = session.get(SiteSettingOverride, (node.id, RULES_NAMESPACE))
        before = dict(row.values) if row is not None else None
        if before == values:
            return rule_set_at(platform, code)
        if row is None:
            session.add(
                SiteSettingOverride(
                    site_id=node.id, namespace=RULES_NAMESPACE, values=values, updated_at=now
                )
            )
        else:
            row.values = values
            row.updated_at = now
        bump(session, SOURCING_RULES_COUNTER)
        record_change(
            session,
            at=now,
            site_id=node.id,
            actor=actor,
            action="sourcing_rules.update",
            object_type="sourcing_rules",
            object_id=code,
            before=before,
            after=values,
        )
    return rule_set_at(platform, code)


def clear_rule_set(platform: Platform, code: str, *, actor: Actor) -> RuleSetOut:
    """Delete site *code*'s own rule set: it inherits again (audited)."""
    node = platform.directory().get(code)
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        row = session.get(SiteSettingOverride, (node.id, RULES_NAMESPACE))
        if row is not None:
            before = dict(row.values)
            session.delete(row)
            bump(session, SOURCING_RULES_COUNTER)
            record_change(
                session,
                at=now,
                site_id=node.id,
                actor=actor,
                action="sourcing_rules.delete",
                object_type="sourcing_rules",
                object_id=code,
                before=before,
                after=None,
            )
    return rule_set_at(platform, code)


# --- dry run -----------------------------------------------------------------------------


def dry_run(
    platform: Platform, code: str, dealer_code: str, lines: Sequence[tuple[str, int]]
) -> DryRunOut:
    """Which warehouses would ship this order now, and why; nothing is held or written."""
    from vintry.orders.order_writer import _reach  # the placement's own view of the reach

    directory, state = platform.refresh()
    site = platform.site(code, directory, state)
    now = platform.clock.now()
    wanted: dict[str, int] = {}
    for sku, quantity in lines:
        if sku in wanted:
            raise InvalidInput(f"{sku} appears twice", code="duplicate_sku", field="lines")
        wanted[sku] = quantity
    with platform.hq.reading() as session:
        dealer = dealers.get_dealer(session, directory, code, dealer_code)
        view = DealerView(
            code=dealer.code,
            name=dealer.name,
            tier=dealer.tier.value,
            tags=tuple(dealer.tags),
            site=code,
        )
        priced = price_lines(
            session,
            site,
            view,
            [LineInput(sku, quantity) for sku, quantity in wanted.items()],
            now,
            directory=directory,
        )
        reach = _reach(session, site, directory)
        sku_ids = {line.sku: line.sku_id for line in priced.lines}
        units: dict[str, int] = {}
        for line in priced.lines:
            units[line.sku] = units.get(line.sku, 0) + line.quantity
        levels = stock.available(
            session,
            sku_ids=sku_ids.values(),
            warehouse_ids=[d.id for d in reach.depots],
            now=now,
        )
        planner = SourcingPlanner(platform, session, now, dry_run=True)
        facts = planner.facts(
            site,
            view,
            from_fen(priced.total_fen),
            frozenset(line.category for line in priced.draft.lines),
            sum(units.values()),
        )
        sourced = planner.source(
            site,
            view,
            units,
            facts,
            reach.depots,
            reach.destination,
            lambda depot, sku: levels.get(sku_ids[sku], {}).get(depot),
        )
    record = sourced.record
    shipping = set(record["warehouses"])
    return DryRunOut(
        site=code,
        dealer=dealer.code,
        amount=from_fen(priced.total_fen),
        rule_set_from=rule_set_at(platform, code).decided_by,
        rule=record["rule"],
        why=record["why"],
        requested_strategy=record["requested_strategy"],
        strategy=sourced.plan.strategy,
        fallback=[FallbackOut(**entry) for entry in record["fallback"]],
        allocations=[
            AllocationOut(sku=a.sku, warehouse=a.warehouse, quantity=a.quantity)
            for a in sourced.plan.allocations
        ],
        explanation=sourced.plan.explanation,
        cost=record["cost"],
        warehouses=sorted(
            (
                WarehouseConsidered(
                    code=option.code,
                    region=option.region,
                    priority=option.priority,
                    distance_km=option.distance_km,
                    available=dict(option.available),
                    ships=option.code in shipping,
                )
                for option in sourced.request.warehouses
            ),
            key=lambda w: (not w.ships, w.distance_km or 0.0, w.code),
        ),
    )


# --- strategies ------------------------------------------------------------------------------


def strategies(platform: Platform) -> list[StrategyOut]:
    """Every registered strategy with its health in this worker."""
    keeper = guard(platform)
    builtin = platform.plugins.builtin_names()
    out = []
    for name, (owner, _strategy) in sorted(platform.plugins.sourcing_strategies().items()):
        health = keeper.health_of(name, owner)
        out.append(
            StrategyOut(
                name=name,
                plugin=owner,
                builtin=owner in builtin,
                calls=health.calls,
                faults=health.faults,
                consecutive_faults=health.consecutive_faults,
                last_fault=health.last_fault,
                last_fault_site=health.last_fault_site,
                last_fault_at=health.last_fault_at,
                paused_until=health.paused_until if health.paused(platform.clock.now()) else None,
            )
        )
    return out


# --- KPIs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Orders placed in [since, until) at the sites *site_ids*."""

    site_ids: Sequence[int]
    since: datetime | None = None
    until: datetime | None = None


def _placed_in(period: Period) -> Any:
    query = select(Order).where(Order.site_id.in_(list(period.site_ids)))
    if period.since is not None:
        query = query.where(Order.placed_at >= period.since)
    if period.until is not None:
        query = query.where(Order.placed_at < period.until)
    return query


def match_accuracy(
    platform: Platform, period: Period, *, reference: str, limit: int = 1000
) -> MatchAccuracyOut:
    """The share of orders whose plan costs no more than the *reference* strategy's on the
    same stock (each order's stored snapshot, replayed), and the share on the same set."""
    found = platform.plugins.sourcing_strategies().get(reference)
    if found is None:
        raise InvalidInput(
            f"strategy {reference!r} is not registered",
            code="unknown_strategy",
            field="reference",
        )
    strategy = found[1]
    evaluated = optimal = same = skipped = 0
    with platform.hq.reading() as session:
        orders = list(
            session.scalars(
                _placed_in(period)
                .where(Order.status != OrderStatus.CANCELLED.value)
                .order_by(Order.placed_at.desc())
                .limit(limit)
            )
        )
    for order in orders:
        record = order.sourcing or {}
        stored = record.get("snapshot")
        if not stored or "cost" not in record:
            skipped += 1
            continue
        parameters = {
            **record.get("parameters", {}),
            "time_budget_ms": REPLAY_BUDGET_MS,
            "time_limit_ms": REPLAY_BUDGET_MS,
        }
        request = request_from_snapshot(
            stored,
            site=str(order.site_id),
            dealer=DealerView(code="-", name="-", tier="-", site="-"),
            parameters=parameters,
        )
        try:
            best = strategy(request)
        except Exception:
            skipped += 1
            continue
        evaluated += 1
        best_cost = plan_cost(best, request, shipment_cost_of(parameters))
        if float(record["cost"]) <= best_cost + 1e-6:
            optimal += 1
        if set(record.get("warehouses", [])) == {a.warehouse for a in best.allocations}:
            same += 1
    return MatchAccuracyOut(
        reference=reference,
        evaluated=evaluated,
        optimal=optimal,
        same_set=same,
        accuracy=round(optimal / evaluated, 4) if evaluated else None,
        skipped=skipped,
    )


def cycle_time(platform: Platform, period: Period) -> CycleTimeOut:
    """Placement to the last shipment signed for, over the orders delivered."""
    with platform.hq.reading() as session:
        rows = session.execute(
            select(Order.placed_at, func.max(Shipment.delivered_at))
            .join(Shipment, Shipment.order_id == Order.id)
            .where(
                Order.id.in_(
                    _placed_in(period)
                    .where(Order.status == OrderStatus.DELIVERED.value)
                    .with_only_columns(Order.id)
                )
            )
            .group_by(Order.id, Order.placed_at)
        ).all()
    hours = sorted(
        (delivered - placed).total_seconds() / 3600 for placed, delivered in rows if delivered
    )
    if not hours:
        return CycleTimeOut(
            delivered=0, mean_hours=None, p50_hours=None, p90_hours=None, within_two_days=None
        )
    return CycleTimeOut(
        delivered=len(hours),
        mean_hours=round(statistics.fmean(hours), 2),
        p50_hours=round(_percentile(hours, 50), 2),
        p90_hours=round(_percentile(hours, 90), 2),
        within_two_days=round(sum(1 for h in hours if h <= 48) / len(hours), 4),
    )


def _percentile(ordered: Sequence[float], q: float) -> float:
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def subtree_ids(platform: Platform, code: str) -> list[int]:
    """Ids of site *code* and every site below it."""
    return [node.id for node in platform.directory().subtree(code)]
