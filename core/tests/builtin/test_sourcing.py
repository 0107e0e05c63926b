"""The built-in ``priority-nearest`` strategy: priority first, then distance, splitting."""

from __future__ import annotations

from decimal import Decimal

import pytest
from vintry.builtin.sourcing import distance_km, priority_nearest
from vintry.contracts import DealerView, SourcingRequest, WarehouseOption
from vintry.errors import Conflict
from vintry.plugins import PluginHost

GUANGZHOU = (Decimal("23.1291"), Decimal("113.2644"))
SHENZHEN = (Decimal("22.5431"), Decimal("114.0579"))
BEIJING = (Decimal("39.9042"), Decimal("116.4074"))
DEALER = DealerView(code="D-1", name="Dealer", tier="gold", site="guangdong")


def _option(
    code: str, where: tuple[Decimal, Decimal], priority: int, **available: int
) -> WarehouseOption:
    return WarehouseOption(
        code=code,
        region=None,
        latitude=where[0],
        longitude=where[1],
        priority=priority,
        available={k.replace("_", "-"): v for k, v in available.items()},
    )


def _request(lines: dict[str, int], *options: WarehouseOption) -> SourcingRequest:
    return SourcingRequest(
        site="guangdong", dealer=DEALER, lines=lines, warehouses=options, destination=SHENZHEN
    )


def test_distance_is_the_great_circle() -> None:
    assert distance_km(GUANGZHOU, SHENZHEN) == pytest.approx(104, abs=3)
    assert distance_km(GUANGZHOU, BEIJING) == pytest.approx(1890, abs=15)


def test_priority_wins_over_distance_and_distance_breaks_ties() -> None:
    plan = priority_nearest(
        _request(
            {"FT-500": 2},
            _option("WH-BJ", BEIJING, 1, FT_500=10),
            _option("WH-GZ", GUANGZHOU, 2, FT_500=10),
            _option("WH-SZ", SHENZHEN, 2, FT_500=10),
        )
    )
    assert [(a.warehouse, a.quantity) for a in plan.allocations] == [("WH-BJ", 2)]
    tie = priority_nearest(
        _request(
            {"FT-500": 2},
            _option("WH-GZ", GUANGZHOU, 2, FT_500=10),
            _option("WH-SZ", SHENZHEN, 2, FT_500=10),
        )
    )
    assert [a.warehouse for a in tie.allocations] == ["WH-SZ"]


def test_a_line_splits_when_one_warehouse_lacks_stock() -> None:
    plan = priority_nearest(
        _request(
            {"FT-500": 7},
            _option("WH-SZ", SHENZHEN, 1, FT_500=4),
            _option("WH-GZ", GUANGZHOU, 1, FT_500=10),
        )
    )
    assert [(a.warehouse, a.quantity) for a in plan.allocations] == [("WH-SZ", 4), ("WH-GZ", 3)]
    assert "split" in plan.explanation


def test_lines_that_cannot_be_covered_are_out_of_stock() -> None:
    with pytest.raises(Conflict) as refused:
        priority_nearest(_request({"FT-500": 9}, _option("WH-SZ", SHENZHEN, 1, FT_500=4)))
    assert refused.value.code == "out_of_stock"
    assert refused.value.details == {"sku": "FT-500", "requested": 9, "available": 4}


def test_the_strategy_is_registered_by_a_builtin_plugin() -> None:
    host = PluginHost(entry_points=lambda: []).load()
    owner, strategy = host.sourcing_strategies()["priority-nearest"]
    assert owner == "vintry-sourcing-basic" and strategy is priority_nearest
