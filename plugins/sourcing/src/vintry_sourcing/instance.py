"""A sourcing request as numbers: the cost model every strategy of this plugin shares.

Shipping ``u`` units from a warehouse ``k`` kilometres away costs ``u x k``; every warehouse
used adds ``shipment_cost`` (one more parcel to pick, pack and carry). Because a unit's cost
depends only on its warehouse, the cheapest way to ship an order from a given *set* of
warehouses is to fill each line from the nearest warehouses of the set first
(:meth:`SourcingInstance.assign`): choosing the set is the whole problem.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from vintry_sdk import Allocation, Conflict, SourcingPlan, SourcingRequest

EARTH_RADIUS_KM = 6371.0088
DEFAULT_SHIPMENT_COST = 500.0


def haversine_km(a: tuple[Decimal, Decimal], b: tuple[Decimal, Decimal]) -> float:
    """Great-circle distance between two (latitude, longitude) points, in kilometres."""
    lat1, lon1, lat2, lon2 = (math.radians(float(v)) for v in (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


@dataclass(frozen=True)
class SourcingInstance:
    """The request reduced to what the strategies compute with.

    ``warehouses`` keeps only those holding some unit of some line, each with its distance
    (the kernel's ``distance_km``, else measured from the destination, else 0), priority
    and the units it can give each line (never more than the line wants).
    """

    skus: tuple[str, ...]
    demand: tuple[int, ...]
    codes: tuple[str, ...]
    km: tuple[float, ...]
    priority: tuple[int, ...]
    stock: tuple[tuple[int, ...], ...]
    """``stock[w][s]``: units warehouse ``w`` can give line ``s``."""
    shipment_cost: float
    no_split: bool

    @classmethod
    def of(cls, request: SourcingRequest) -> SourcingInstance:
        """Build the instance of *request* (parameters ``shipment_cost``, ``no_split``)."""
        skus = tuple(sorted(request.lines))
        demand = tuple(request.lines[sku] for sku in skus)
        rows = []
        for option in request.warehouses:
            units = tuple(
                min(max(option.available.get(sku, 0), 0), wanted)
                for sku, wanted in zip(skus, demand, strict=True)
            )
            if not any(units):
                continue
            if option.distance_km is not None:
                km = float(option.distance_km)
            elif request.destination is not None:
                km = haversine_km(request.destination, (option.latitude, option.longitude))
            else:
                km = 0.0
            rows.append((option.code, km, option.priority, units))
        rows.sort(key=lambda row: (row[1], row[0]))  # nearest first: what assign() relies on
        cost = request.parameters.get("shipment_cost", DEFAULT_SHIPMENT_COST)
        return cls(
            skus=skus,
            demand=demand,
            codes=tuple(row[0] for row in rows),
            km=tuple(row[1] for row in rows),
            priority=tuple(row[2] for row in rows),
            stock=tuple(row[3] for row in rows),
            shipment_cost=float(cost) if isinstance(cost, int | float) else DEFAULT_SHIPMENT_COST,
            no_split=bool(request.parameters.get("no_split", False)),
        )

    @property
    def size(self) -> int:
        """How many warehouses hold something."""
        return len(self.codes)

    def shortfall(self) -> list[tuple[str, int, int]]:
        """Lines all warehouses together cannot cover: (SKU, wanted, available)."""
        short = []
        for s, sku in enumerate(self.skus):
            have = sum(row[s] for row in self.stock)
            if have < self.demand[s]:
                short.append((sku, self.demand[s], have))
        return short

    def covers(self, chosen: Iterable[int]) -> bool:
        """Whether the warehouses *chosen* can ship every line together."""
        members = list(chosen)
        return all(
            sum(self.stock[w][s] for w in members) >= wanted for s, wanted in enumerate(self.demand)
        )

    def holds_all(self, w: int) -> bool:
        """Whether warehouse *w* alone holds the whole order."""
        return all(
            units >= wanted for units, wanted in zip(self.stock[w], self.demand, strict=True)
        )

    def assign(self, chosen: Iterable[int]) -> tuple[float, list[tuple[int, int, int]]] | None:
        """The cheapest allocation from the set *chosen*: (cost, [(w, s, units)]), or None
        when the set cannot cover the order. Warehouses the fill leaves unused are dropped
        (and not charged)."""
        members = sorted(chosen)  # indices are in distance order already
        allocation: list[tuple[int, int, int]] = []
        cost = 0.0
        used: set[int] = set()
        for s, wanted in enumerate(self.demand):
            left = wanted
            for w in members:
                take = min(left, self.stock[w][s])
                if take:
                    allocation.append((w, s, take))
                    cost += take * self.km[w]
                    used.add(w)
                    left -= take
                    if not left:
                        break
            if left:
                return None
        return cost + self.shipment_cost * len(used), allocation

    def cost_of(self, allocation: Sequence[tuple[int, int, int]]) -> float:
        """The cost of an allocation (units x km, plus one shipment cost per warehouse)."""
        moved = sum(units * self.km[w] for w, _s, units in allocation)
        return moved + self.shipment_cost * len({w for w, _s, _u in allocation})

    def plan(
        self, strategy: str, allocation: Sequence[tuple[int, int, int]], explanation: str
    ) -> SourcingPlan:
        """The :class:`SourcingPlan` of *allocation*, with the cost in the explanation."""
        allocations = tuple(
            Allocation(sku=self.skus[s], warehouse=self.codes[w], quantity=units)
            for w, s, units in sorted(allocation, key=lambda item: (item[1], self.km[item[0]]))
        )
        used = sorted({self.codes[w] for w, _s, _u in allocation})
        cost = self.cost_of(allocation)
        return SourcingPlan(
            strategy=strategy,
            allocations=allocations,
            explanation=f"{explanation}; ships from {', '.join(used)} "
            f"({len(used)} shipment{'s' if len(used) != 1 else ''}, cost {cost:,.1f})",
        )

    def out_of_stock(self) -> Conflict:
        """The refusal when the lines cannot be covered under the constraints."""
        short = self.shortfall()
        if short:
            sku, wanted, have = short[0]
            return Conflict(
                f"{sku}: {have} of {wanted} unit(s) available across eligible warehouses",
                code="out_of_stock",
                field="quantity",
                details={"sku": sku, "requested": wanted, "available": have},
            )
        return Conflict(
            "no single eligible warehouse holds the whole order, and the rule forbids splitting",
            code="out_of_stock",
            field="lines",
            details={"no_split": True},
        )
