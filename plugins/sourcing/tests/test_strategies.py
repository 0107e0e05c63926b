"""Every strategy on hand-made instances whose best answers are known by hand.

Distances are given (``distance_km``), shipment cost 100 unless a test says otherwise, so
each cost below can be checked with pencil and paper: units x km + 100 per warehouse used.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from vintry_sdk import (
    Conflict,
    DealerView,
    SourcingPlan,
    SourcingRequest,
    WarehouseOption,
    plan_cost,
)

from vintry_sourcing import STRATEGIES
from vintry_sourcing.instance import SourcingInstance
from vintry_sourcing.solver import solve

DEALER = DealerView(code="D-1", name="Dealer", tier="gold", site="east")


def request(
    lines: dict[str, int],
    warehouses: list[tuple[str, float, int, dict[str, int]]],
    **parameters: Any,
) -> SourcingRequest:
    """Warehouses as (code, km, priority, stock)."""
    return SourcingRequest(
        site="east",
        dealer=DEALER,
        lines=lines,
        warehouses=tuple(
            WarehouseOption(
                code=code,
                region=None,
                latitude=Decimal(0),
                longitude=Decimal(0),
                priority=priority,
                available=stock,
                distance_km=km,
            )
            for code, km, priority, stock in warehouses
        ),
        parameters={"shipment_cost": 100, **parameters},
    )


def shipped(plan: SourcingPlan) -> dict[tuple[str, str], int]:
    """(warehouse, SKU) -> units."""
    out: dict[tuple[str, str], int] = {}
    for a in plan.allocations:
        out[(a.warehouse, a.sku)] = out.get((a.warehouse, a.sku), 0) + a.quantity
    return out


# A: near, has only X. B: far, has everything. C: middle, has Y.
SPLIT_OR_NOT = request(
    {"X": 4, "Y": 2},
    [
        ("A", 10.0, 2, {"X": 10}),
        ("B", 100.0, 1, {"X": 10, "Y": 10}),
        ("C", 30.0, 3, {"Y": 5}),
    ],
)


def test_priority_takes_the_first_warehouse_by_priority() -> None:
    plan = STRATEGIES["priority"](SPLIT_OR_NOT)
    assert shipped(plan) == {("B", "X"): 4, ("B", "Y"): 2}


def test_nearest_with_stock_prefers_the_nearest_holding_everything() -> None:
    plan = STRATEGIES["nearest-with-stock"](SPLIT_OR_NOT)
    assert shipped(plan) == {("B", "X"): 4, ("B", "Y"): 2}
    # Nobody holds everything: each line from the nearest that has it.
    none_whole = request({"X": 4, "Y": 2}, [("A", 10.0, 1, {"X": 10}), ("C", 30.0, 1, {"Y": 5})])
    assert shipped(STRATEGIES["nearest-with-stock"](none_whole)) == {("A", "X"): 4, ("C", "Y"): 2}


def test_cost_strategies_find_the_known_optimum() -> None:
    # A+C: 4x10 + 2x30 + 200 = 300; B alone: 6x100 + 100 = 700; A+B: 40+200+200 = 440.
    for name in ("cost-local-search", "cost-optimal"):
        plan = STRATEGIES[name](SPLIT_OR_NOT)
        assert shipped(plan) == {("A", "X"): 4, ("C", "Y"): 2}, name
        assert plan_cost(plan, SPLIT_OR_NOT, 100) == 300
    # A high shipment cost makes one parcel from B the best: 700 + 0 vs 60 + 40 + 2000.
    dear = SPLIT_OR_NOT.model_copy(update={"parameters": {"shipment_cost": 1000}})
    for name in ("cost-local-search", "cost-optimal", "fewest-splits"):
        assert shipped(STRATEGIES[name](dear)) == {("B", "X"): 4, ("B", "Y"): 2}, name


def test_fewest_splits_minimises_warehouses_then_cost() -> None:
    # No single warehouse covers X=5,Y=5,Z=5. Pairs that cover: (P, Q) and (R, S); (R, S)
    # is nearer. Triples are never considered once a pair covers.
    lines = {"X": 5, "Y": 5, "Z": 5}
    problem = request(
        lines,
        [
            ("P", 50.0, 1, {"X": 5, "Y": 5}),
            ("Q", 50.0, 1, {"Z": 5}),
            ("R", 20.0, 1, {"X": 5}),
            ("S", 20.0, 1, {"Y": 5, "Z": 5}),
            ("T", 1.0, 1, {"X": 2, "Y": 2, "Z": 2}),
        ],
    )
    plan = STRATEGIES["fewest-splits"](problem)
    assert {a.warehouse for a in plan.allocations} == {"R", "S"}
    assert "fewest warehouses: 2" in plan.explanation


def test_no_split_is_honoured_or_refused() -> None:
    whole = SPLIT_OR_NOT.model_copy(update={"parameters": {"shipment_cost": 100, "no_split": True}})
    for name, strategy in STRATEGIES.items():
        assert {a.warehouse for a in strategy(whole).allocations} == {"B"}, name
    nobody = request(
        {"X": 4, "Y": 2}, [("A", 10.0, 1, {"X": 10}), ("C", 30.0, 1, {"Y": 5})], no_split=True
    )
    for name, strategy in STRATEGIES.items():
        with pytest.raises(Conflict) as refused:
            strategy(nobody)
        assert refused.value.code == "out_of_stock", name


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_refuses_what_cannot_be_covered(name: str) -> None:
    short = request({"X": 30}, [("A", 1.0, 1, {"X": 10}), ("B", 2.0, 1, {"X": 10})])
    with pytest.raises(Conflict) as refused:
        STRATEGIES[name](short)
    assert refused.value.code == "out_of_stock"
    assert refused.value.details == {"sku": "X", "requested": 30, "available": 20}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_plan_covers_exactly_within_stock(name: str) -> None:
    plan = STRATEGIES[name](SPLIT_OR_NOT)
    covered: dict[str, int] = {}
    for a in plan.allocations:
        covered[a.sku] = covered.get(a.sku, 0) + a.quantity
        stock = next(w for w in SPLIT_OR_NOT.warehouses if w.code == a.warehouse).available
        assert a.quantity <= stock[a.sku]
    assert covered == SPLIT_OR_NOT.lines


def test_the_milp_proves_optimality_and_beats_or_ties_local_search() -> None:
    import random

    rng = random.Random(11)
    for _ in range(25):
        lines = {f"S{n}": rng.randint(1, 9) for n in range(rng.randint(2, 8))}
        warehouses = [
            (
                f"W{n}",
                rng.uniform(5, 900),
                1,
                {sku: rng.randint(1, 12) for sku in lines if rng.random() < 0.5},
            )
            for n in range(10)
        ]
        problem = request(lines, warehouses)
        instance = SourcingInstance.of(problem)
        if instance.shortfall():
            continue
        exact = solve(instance, 5_000)
        assert exact is not None and exact.optimal
        heuristic = STRATEGIES["cost-local-search"](problem)
        assert exact.cost <= plan_cost(heuristic, problem, 100) + 1e-6
        # brute force over every subset of warehouses agrees with HiGHS
        best = min(
            (
                found[0]
                for mask in range(1, 1 << instance.size)
                if (found := instance.assign([w for w in range(instance.size) if mask >> w & 1]))
            ),
        )
        assert abs(best - exact.cost) < 1e-6
