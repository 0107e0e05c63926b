"""Built-in plugin: the ``simulated`` carrier, for the demo and the tests.

It moves a shipment through the kernel's tracking nodes on a timetable computed from the
distance and the service level: handling at the warehouse, a transfer hub half way along
the line haul, out for delivery one last-mile leg before arrival, then signed for. The
kernel records each planned node once its clock reaches it (``lifecycle.advance_shipments``),
so tests move a manual clock and watch the shipment travel; the arrival estimate is
recomputed after every node from what actually happened, as a real carrier's would be.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from vintry.contracts import (
    Carrier,
    CarrierRegistration,
    ServiceLevel,
    ShipmentProgress,
    TrackingNodeView,
)
from vintry.hookspecs import hookimpl

CARRIER = "simulated"
SERVICE_LEVELS = (
    ServiceLevel(
        name="standard", title="Standard", km_per_day=500, handling_hours=12, last_mile_hours=6
    ),
    ServiceLevel(
        name="express", title="Express", km_per_day=900, handling_hours=4, last_mile_hours=4
    ),
    ServiceLevel(
        name="economy", title="Economy", km_per_day=300, handling_hours=24, last_mile_hours=8
    ),
)
_LEVELS = {level.name: level for level in SERVICE_LEVELS}


def _level(progress: ShipmentProgress) -> ServiceLevel:
    return _LEVELS.get(progress.service_level, SERVICE_LEVELS[0])


def _haul(level: ServiceLevel, km: float) -> timedelta:
    return timedelta(days=km / level.km_per_day)


def estimate_arrival(progress: ShipmentProgress) -> datetime:
    """The arrival after the latest node: the rest of the journey at the service's pace.

    ``signed_for`` is the arrival itself; ``out_for_delivery`` leaves only the last mile;
    ``in_transfer`` leaves half the line haul (the hub is half way) and the last mile; at
    ``left_warehouse`` the whole journey is ahead.
    """
    level = _level(progress)
    last = progress.last
    last_mile = timedelta(hours=level.last_mile_hours)
    if last.node == "signed_for":
        return last.at
    if last.node == "out_for_delivery":
        return last.at + last_mile
    if last.node == "in_transfer":
        return last.at + _haul(level, progress.distance_km / 2) + last_mile
    handling = timedelta(hours=level.handling_hours)
    return last.at + handling + _haul(level, progress.distance_km) + last_mile


def planned_nodes(progress: ShipmentProgress) -> Sequence[TrackingNodeView]:
    """The timetable from departure: hub, out for delivery, signed for."""
    level = _level(progress)
    hub = (
        progress.shipped_at
        + timedelta(hours=level.handling_hours)
        + _haul(level, progress.distance_km / 2)
    )
    out = hub + _haul(level, progress.distance_km / 2)
    signed = out + timedelta(hours=level.last_mile_hours)
    return (
        TrackingNodeView(node="in_transfer", at=hub, location="transfer hub"),
        TrackingNodeView(node="out_for_delivery", at=out, location="delivery station"),
        TrackingNodeView(node="signed_for", at=signed, location="dealer"),
    )


@hookimpl
def vintry_register_carriers(register: CarrierRegistration) -> None:
    """Offer the ``simulated`` carrier (standard, express, economy)."""
    register(
        Carrier(
            name=CARRIER,
            title="Simulated carrier",
            service_levels=SERVICE_LEVELS,
            estimate_arrival=estimate_arrival,
            planned_nodes=planned_nodes,
        )
    )
