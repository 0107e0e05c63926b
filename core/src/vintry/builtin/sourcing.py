"""Built-in plugin: the ``priority-nearest`` sourcing strategy.

Warehouses are tried by priority (1 first), then by distance to the destination (great
circle), then by code. Each line takes what it can from the first warehouse and the rest
from the next, so when one warehouse lacks stock the order is split across warehouses.
"""

from __future__ import annotations

import math
from decimal import Decimal

from vintry.contracts import (
    Allocation,
    SourcingPlan,
    SourcingRegistration,
    SourcingRequest,
    WarehouseOption,
)
from vintry.errors import Conflict
from vintry.hookspecs import hookimpl

STRATEGY = "priority-nearest"
EARTH_RADIUS_KM = 6371.0088


def distance_km(a: tuple[Decimal, Decimal], b: tuple[Decimal, Decimal]) -> float:
    """Great-circle distance between two (latitude, longitude) points, in kilometres."""
    lat1, lon1, lat2, lon2 = (math.radians(float(v)) for v in (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def priority_nearest(request: SourcingRequest) -> SourcingPlan:
    """Cover every line from warehouses in (priority, distance, code) order, splitting."""
    destination = request.destination

    def rank(option: WarehouseOption) -> tuple[int, float, str]:
        far = distance_km(destination, (option.latitude, option.longitude)) if destination else 0.0
        return (option.priority, far, option.code)

    ordered = sorted(request.warehouses, key=rank)
    allocations: list[Allocation] = []
    notes: list[str] = []
    for sku, wanted in sorted(request.lines.items()):
        remaining = wanted
        for option in ordered:
            take = min(remaining, option.available.get(sku, 0))
            if take > 0:
                allocations.append(Allocation(sku=sku, warehouse=option.code, quantity=take))
                remaining -= take
            if remaining == 0:
                break
        if remaining:
            have = wanted - remaining
            raise Conflict(
                f"{sku}: {have} of {wanted} unit(s) available across eligible warehouses",
                code="out_of_stock",
                field="quantity",
                details={"sku": sku, "requested": wanted, "available": have},
            )
        used = [a.warehouse for a in allocations if a.sku == sku]
        notes.append(f"{sku} from {', '.join(used)}" + (" (split)" if len(used) > 1 else ""))
    order_text = ", ".join(f"{o.code} (p{o.priority})" for o in ordered[:5])
    return SourcingPlan(
        strategy=STRATEGY,
        allocations=tuple(allocations),
        explanation=f"by priority then distance: {order_text}; " + "; ".join(notes),
    )


@hookimpl
def vintry_register_sourcing_strategies(register: SourcingRegistration) -> None:
    """Offer ``priority-nearest`` to every site."""
    register(STRATEGY, priority_nearest)
