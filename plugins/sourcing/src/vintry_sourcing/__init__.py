"""Sourcing strategies for Vintry: which warehouses ship an order.

A Vintry plugin: plain functions marked ``@hookimpl``, found through the ``vintry`` entry
point ``sourcing``. It registers five strategies that every site's sourcing rules can name
(``PUT /api/v1/sourcing/rules``; see ``docs/sourcing.md``):

==========================  ============================================================
``priority``                warehouses by priority, then distance; split where one runs short
``nearest-with-stock``      the nearest warehouse holding the whole order, else nearest first
``fewest-splits``           the fewest warehouses covering the order, the cheapest of those
``cost-local-search``       near-least cost (units x km + a cost per shipment), fast: the
                            production default
``cost-optimal``            the least cost, exact with HiGHS in a time box
==========================  ============================================================

Each honours the kernel's constraints (the eligible warehouses it passes, ``no_split``) and
reads ``shipment_cost`` and ``time_limit_ms`` from the rule's parameters, else from this
plugin's settings at the order's site (:mod:`vintry_sourcing.config`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from vintry_sdk import (
    SettingsRegistration,
    SourcingPlan,
    SourcingRegistration,
    SourcingRequest,
    SourcingStrategy,
    current_sourcing,
    hookimpl,
)

from vintry_sourcing.config import SourcingSettings
from vintry_sourcing.solver import COST_OPTIMAL, cost_optimal
from vintry_sourcing.strategies import (
    COST_LOCAL_SEARCH,
    FEWEST_SPLITS,
    NEAREST,
    PRIORITY,
    cost_local_search,
    fewest_splits,
    nearest_with_stock,
    priority,
)

__all__ = [
    "PLUGIN_NAME",
    "STRATEGIES",
    "vintry_register_settings",
    "vintry_register_sourcing_strategies",
    "with_site_settings",
]

# Must equal the entry-point name in pyproject.toml: the kernel files the plugin's enablement
# and configuration under that name.
PLUGIN_NAME = "sourcing"

Strategy = Callable[[SourcingRequest], SourcingPlan]

STRATEGIES: dict[str, SourcingStrategy] = {
    PRIORITY: priority,
    NEAREST: nearest_with_stock,
    FEWEST_SPLITS: fewest_splits,
    COST_LOCAL_SEARCH: cost_local_search,
    COST_OPTIMAL: cost_optimal,
}
"""Every strategy of the plugin by the name sites' rules use."""


def with_site_settings(strategy: SourcingStrategy) -> SourcingStrategy:
    """*strategy*, with the plugin's settings at the order's site filling the parameters
    the rule left unset (called outside the kernel, it sees the parameters as they are)."""

    @functools.wraps(strategy)
    def sourced(request: SourcingRequest) -> SourcingPlan:
        try:
            settings = current_sourcing().site.config(PLUGIN_NAME)
        except RuntimeError:
            return strategy(request)
        defaults = SourcingSettings.model_validate(settings).model_dump()
        missing = {k: v for k, v in defaults.items() if k not in request.parameters}
        if missing:
            request = request.model_copy(update={"parameters": {**missing, **request.parameters}})
        return strategy(request)

    return sourced


@hookimpl
def vintry_register_settings(register: SettingsRegistration) -> None:
    """Declare the per-site defaults of the strategies' parameters."""
    register(SourcingSettings)


@hookimpl
def vintry_register_sourcing_strategies(register: SourcingRegistration) -> None:
    """Offer the five strategies to every site's sourcing rules."""
    for name, strategy in STRATEGIES.items():
        register(name, with_site_settings(strategy))
