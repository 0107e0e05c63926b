"""``cost-optimal``: the least-cost plan, solved exactly as a mixed-integer program.

::

    minimise    Σ_w Σ_s km_w · x_ws  +  shipment_cost · Σ_w y_w
    subject to  Σ_w x_ws = demand_s                  every line covered exactly
                x_ws ≤ min(stock_ws, demand_s) · y_w  a warehouse ships only if used
                Σ_w y_w ≤ 1                           (only under no_split)
                y_w ∈ {0, 1},  x_ws ≥ 0

HiGHS (``highspy``) solves it within a time box (the ``time_limit_ms`` parameter, at most
60 % of the rule's ``time_budget_ms``), warm-started with the local-search answer. The
chosen set of warehouses is then filled nearest first — optimal for a fixed set, since a
unit's cost depends only on its warehouse — so allocations are whole units. When the time
box ends before optimality is proven, or HiGHS is unavailable, the plan is the better of
HiGHS's incumbent and the local search, and the explanation says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vintry_sdk import SourcingPlan, SourcingRequest

from vintry_sourcing.instance import SourcingInstance
from vintry_sourcing.strategies import Allocation, local_search

COST_OPTIMAL = "cost-optimal"
DEFAULT_TIME_LIMIT_MS = 200
BUDGET_SHARE = 0.6
"""Of the rule's time budget, the share the solver may use (the rest: building, checking)."""

try:  # pragma: no branch - the dependency is declared; this guards a broken install
    import highspy
    import numpy as np
except ImportError:  # pragma: no cover
    highspy = None  # type: ignore[assignment]
    np = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Solution:
    """What the solver found: the allocation, its cost, and whether it is proven optimal."""

    cost: float
    allocation: Allocation
    optimal: bool
    note: str


def time_limit_ms(parameters: dict[str, Any]) -> float:
    """The solver's time box: ``time_limit_ms``, capped at 60 % of ``time_budget_ms``."""
    limit = parameters.get("time_limit_ms", DEFAULT_TIME_LIMIT_MS)
    limit = float(limit) if isinstance(limit, int | float) else DEFAULT_TIME_LIMIT_MS
    budget = parameters.get("time_budget_ms")
    if isinstance(budget, int | float):
        limit = min(limit, BUDGET_SHARE * float(budget))
    return max(limit, 1.0)


def solve(instance: SourcingInstance, limit_ms: float) -> Solution | None:
    """The least-cost allocation of *instance*, or None when nothing covers it."""
    heuristic = local_search(instance)
    if heuristic is None:
        return None
    if instance.size <= 1:
        return Solution(heuristic[0], heuristic[1], True, "a single warehouse can ship it")
    if highspy is None:  # pragma: no cover
        return Solution(heuristic[0], heuristic[1], False, "HiGHS unavailable: local search")
    chosen, optimal = _milp(instance, limit_ms, heuristic[1])
    if chosen is not None:
        found = instance.assign(chosen)
        if found is not None and found[0] <= heuristic[0] + 1e-9:
            note = "proven optimal (HiGHS)" if optimal else "time box reached: best found"
            return Solution(found[0], found[1], optimal, note)
    return Solution(heuristic[0], heuristic[1], False, "time box reached: local search")


def _milp(
    instance: SourcingInstance, limit_ms: float, start: Allocation
) -> tuple[list[int] | None, bool]:
    assert highspy is not None and np is not None
    n, m = instance.size, len(instance.skus)
    pairs = [(w, s) for w in range(n) for s in range(m) if instance.stock[w][s] > 0]
    x_count = len(pairs)
    columns = x_count + n
    cost = np.empty(columns)
    upper = np.empty(columns)
    starts = [0]
    index: list[int] = []
    value: list[float] = []
    # rows: m coverage rows, then one linking row per x, then (no_split) one count row
    link_row = m
    count_row = m + x_count
    for j, (w, s) in enumerate(pairs):
        cost[j] = instance.km[w]
        upper[j] = instance.stock[w][s]
        index += [s, link_row + j]
        value += [1.0, 1.0]
        starts.append(len(index))
    links: list[list[int]] = [[] for _ in range(n)]
    for j, (w, _s) in enumerate(pairs):
        links[w].append(j)
    for w in range(n):
        col = x_count + w
        cost[col] = instance.shipment_cost
        upper[col] = 1.0
        for j in links[w]:
            index.append(link_row + j)
            value.append(-float(upper[j]))
        if instance.no_split:
            index.append(count_row)
            value.append(1.0)
        starts.append(len(index))
    rows = m + x_count + (1 if instance.no_split else 0)
    lower_rows = np.concatenate(
        [np.array(instance.demand, dtype=float), np.full(x_count, -np.inf)]
        + ([np.array([0.0])] if instance.no_split else [])
    )
    upper_rows = np.concatenate(
        [np.array(instance.demand, dtype=float), np.zeros(x_count)]
        + ([np.array([1.0])] if instance.no_split else [])
    )
    lp = highspy.HighsLp()
    lp.num_col_ = columns
    lp.num_row_ = rows
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(columns)
    lp.col_upper_ = upper
    lp.row_lower_ = lower_rows
    lp.row_upper_ = upper_rows
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(value)
    lp.integrality_ = [highspy.HighsVarType.kContinuous] * x_count + [
        highspy.HighsVarType.kInteger
    ] * n
    solver = highspy.Highs()  # type: ignore[no-untyped-call]
    solver.setOptionValue("output_flag", False)
    solver.setOptionValue("threads", 1)
    solver.setOptionValue("time_limit", limit_ms / 1000)
    solver.setOptionValue("mip_rel_gap", 0.0)
    solver.setOptionValue("mip_abs_gap", 1e-6)
    solver.passModel(lp)
    solver.setSolution(_warm_start(instance, pairs, start))
    solver.run()
    status = solver.getModelStatus()
    solution = solver.getSolution()
    if not solution.value_valid:
        return None, False
    values = solution.col_value
    chosen = [w for w in range(n) if values[x_count + w] > 0.5]
    return chosen, status == highspy.HighsModelStatus.kOptimal


def _warm_start(instance: SourcingInstance, pairs: list[tuple[int, int]], start: Allocation) -> Any:
    assert highspy is not None
    units = {(w, s): float(u) for w, s, u in start}
    used = {w for w, _s, _u in start}
    warm = highspy.HighsSolution()
    warm.col_value = [units.get(pair, 0.0) for pair in pairs] + [
        1.0 if w in used else 0.0 for w in range(instance.size)
    ]
    warm.value_valid = True
    return warm


def cost_optimal(request: SourcingRequest) -> SourcingPlan:
    """The least-cost plan, exact with HiGHS within the time box (see the module)."""
    instance = SourcingInstance.of(request)
    found = solve(instance, time_limit_ms(dict(request.parameters)))
    if found is None:
        raise instance.out_of_stock()
    return instance.plan(COST_OPTIMAL, found.allocation, f"least cost, {found.note}")
