"""Routes of sourcing: the addressed site's rule set, dry runs, strategies and KPIs.

All act on the site the request addresses (its domain or ``/sites/<code>/``), inside the
caller's tenant: an operator reads and replaces its own subtree's rules, HQ everyone's.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query

from vintry.accounts.permissions import Permission
from vintry.api.security import RequestScope, authorize
from vintry.sourcing import service
from vintry.sourcing.schemas import (
    DryRunIn,
    DryRunOut,
    KpisOut,
    RuleSetIn,
    RuleSetOut,
    StrategyOut,
)

router = APIRouter(prefix="/api/v1/sourcing", tags=["sourcing"])


@router.get("/rules", response_model=RuleSetOut, summary="The sourcing rules in force here")
def get_rules(scope: RequestScope = Depends(authorize(Permission.SETTINGS_READ))) -> RuleSetOut:
    """The rule set in force at the addressed site, the site that set it, and its own."""
    return service.rule_set_at(scope.platform, scope.site.code)


@router.put(
    "/rules",
    response_model=RuleSetOut,
    summary="Replace this site's own sourcing rules",
    responses={422: {"description": "invalid_sourcing_rules, unknown_strategy, ..."}},
)
def put_rules(
    rule_set: RuleSetIn, scope: RequestScope = Depends(authorize(Permission.SETTINGS_WRITE))
) -> RuleSetOut:
    """Replace the addressed site's own rule set (its subtree inherits it); audited.

    Refused with 422 naming the rule and the field: ``invalid_sourcing_rules`` (shape,
    ranges), ``unknown_strategy``, ``unknown_warehouse``, ``unknown_site``.
    """
    return service.set_rule_set(
        scope.platform, scope.site.code, rule_set.model_dump(), actor=scope.actor
    )


@router.delete("/rules", response_model=RuleSetOut, summary="Inherit the parent's rules again")
def delete_rules(
    scope: RequestScope = Depends(authorize(Permission.SETTINGS_WRITE)),
) -> RuleSetOut:
    """Delete the addressed site's own rule set; audited."""
    return service.clear_rule_set(scope.platform, scope.site.code, actor=scope.actor)


@router.post(
    "/dry-run",
    response_model=DryRunOut,
    summary="Which warehouses would ship this order, and why",
    responses={409: {"description": "out_of_stock"}},
)
def dry_run(
    request: DryRunIn, scope: RequestScope = Depends(authorize(Permission.SETTINGS_READ))
) -> DryRunOut:
    """Price and source an order of a dealer of the addressed site, as placing it would now,
    holding and writing nothing: the rule that matched and why, the strategy, any fallback,
    the allocations, their cost and every warehouse the rule allowed."""
    return service.dry_run(
        scope.platform,
        scope.site.code,
        request.dealer,
        [(line.sku, line.quantity) for line in request.lines],
    )


@router.get(
    "/strategies", response_model=list[StrategyOut], summary="Registered strategies and faults"
)
def list_strategies(
    scope: RequestScope = Depends(authorize(Permission.PLUGINS_READ)),
) -> list[StrategyOut]:
    """Every registered strategy, its plugin, and its calls, faults and pause in the worker
    that answers (each worker pauses a failing strategy on its own evidence)."""
    return service.strategies(scope.platform)


@router.get("/kpis", response_model=KpisOut, summary="Sourcing accuracy and cycle time")
def kpis(
    since: datetime | None = None,
    until: datetime | None = None,
    reference: str = Query(default="cost-optimal", max_length=64),
    limit: int = Query(default=1000, ge=1, le=10_000),
    scope: RequestScope = Depends(authorize(Permission.SETTINGS_READ)),
) -> KpisOut:
    """Over the orders of the addressed subtree placed in [since, until): the share sourced
    at the least cost (replayed against *reference* on each order's stored stock snapshot,
    newest *limit* orders) and placement-to-delivery time."""
    period = service.Period(service.subtree_ids(scope.platform, scope.site.code), since, until)
    return KpisOut(
        site=scope.site.code,
        since=since,
        until=until,
        match_accuracy=service.match_accuracy(
            scope.platform, period, reference=reference, limit=limit
        ),
        cycle_time=service.cycle_time(scope.platform, period),
    )
