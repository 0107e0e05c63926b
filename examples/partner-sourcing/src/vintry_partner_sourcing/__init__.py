"""A partner's sourcing strategy: **first-expiry-first-out** by batch.

Liquor with a best-before date (low-alcohol lines, gift boxes with perishables) should leave
the warehouse whose lots expire first. This plugin registers one strategy,
``first-expiry-first-out``, that a site's sourcing rules can name::

    {"rules": [{"name": "fefo-gift-boxes", "when": {"categories": ["GIFTS"]},
                "strategy": "first-expiry-first-out"}],
     "default": {"strategy": "cost-local-search"}}

For each line it takes units from the warehouses whose earliest lot of that SKU expires
first (ties and unknown lots: nearest first), as the kernel's eligible warehouses and the
rule's ``no_split`` allow. The lots come from the plugin's settings at the order's site,
read through ``vintry_sdk.current_sourcing()`` (cached by the kernel, no database round
trip under the order's write lock).
"""

from __future__ import annotations

from datetime import date, timedelta

from vintry_sdk import (
    Allocation,
    Conflict,
    SettingsRegistration,
    SourcingPlan,
    SourcingRegistration,
    SourcingRequest,
    WarehouseOption,
    current_sourcing,
    hookimpl,
)

from vintry_partner_sourcing.config import Lot, PartnerSourcingSettings

__all__ = [
    "PLUGIN_NAME",
    "STRATEGY",
    "first_expiry_first_out",
    "vintry_register_settings",
    "vintry_register_sourcing_strategies",
]

# Must equal the entry-point name in pyproject.toml.
PLUGIN_NAME = "partner-sourcing"
STRATEGY = "first-expiry-first-out"
NO_EXPIRY = date.max


def _lots_in_force() -> tuple[list[Lot], date, date]:
    """The lots configured at the order's site, today, and the horizon (outside a kernel
    call — a unit test — nothing is configured)."""
    try:
        context = current_sourcing()
    except RuntimeError:
        return [], date.today(), NO_EXPIRY
    settings = PartnerSourcingSettings.model_validate(context.site.config(PLUGIN_NAME))
    today = context.now.date()
    return list(settings.lots), today, today + timedelta(days=settings.horizon_days)


def first_expiry_first_out(
    request: SourcingRequest, lots: list[Lot] | None = None, today: date | None = None
) -> SourcingPlan:
    """Each line from the warehouses whose lots of the SKU expire first.

    *lots* and *today* default to the plugin's settings at the order's site and the
    platform clock's date. Lots already expired are never shipped from first: they rank
    after every warehouse with a valid lot (a warehouse's units are not split by lot here;
    its earliest valid lot ranks it).
    """
    configured, now, horizon = _lots_in_force()
    lots = configured if lots is None else lots
    today = now if today is None else today
    earliest: dict[tuple[str, str], date] = {}
    for lot in lots:
        if lot.expires_on < today:
            continue
        expiry = lot.expires_on if lot.expires_on <= horizon else NO_EXPIRY
        key = (lot.warehouse, lot.sku)
        earliest[key] = min(earliest.get(key, NO_EXPIRY), expiry)

    def rank(option: WarehouseOption, sku: str) -> tuple[date, float, str]:
        return (earliest.get((option.code, sku), NO_EXPIRY), option.distance_km or 0.0, option.code)

    no_split = bool(request.parameters.get("no_split", False))
    if no_split:
        whole = [
            option
            for option in request.warehouses
            if all(option.available.get(sku, 0) >= units for sku, units in request.lines.items())
        ]
        if not whole:
            raise Conflict(
                "no single eligible warehouse holds the whole order",
                code="out_of_stock",
                field="lines",
                details={"no_split": True},
            )
        best = min(whole, key=lambda o: min(rank(o, sku) for sku in request.lines))
        return SourcingPlan(
            strategy=STRATEGY,
            allocations=tuple(
                Allocation(sku=sku, warehouse=best.code, quantity=units)
                for sku, units in sorted(request.lines.items())
            ),
            explanation=f"first expiry, no split: {best.code}",
        )
    allocations: list[Allocation] = []
    notes: list[str] = []
    for sku, wanted in sorted(request.lines.items()):
        left = wanted
        for option in sorted(request.warehouses, key=lambda o: rank(o, sku)):
            take = min(left, option.available.get(sku, 0))
            if take <= 0:
                continue
            allocations.append(Allocation(sku=sku, warehouse=option.code, quantity=take))
            first_lot = earliest.get((option.code, sku))
            notes.append(
                f"{sku} x{take} from {option.code}"
                + (f" (lot expires {first_lot})" if first_lot and first_lot != NO_EXPIRY else "")
            )
            left -= take
            if not left:
                break
        if left:
            have = wanted - left
            raise Conflict(
                f"{sku}: {have} of {wanted} unit(s) available across eligible warehouses",
                code="out_of_stock",
                field="quantity",
                details={"sku": sku, "requested": wanted, "available": have},
            )
    return SourcingPlan(
        strategy=STRATEGY,
        allocations=tuple(allocations),
        explanation="first expiry first out: " + "; ".join(notes),
    )


def _strategy(request: SourcingRequest) -> SourcingPlan:
    return first_expiry_first_out(request)


@hookimpl
def vintry_register_settings(register: SettingsRegistration) -> None:
    """Declare the lots each site's strategy reads."""
    register(PartnerSourcingSettings)


@hookimpl
def vintry_register_sourcing_strategies(register: SourcingRegistration) -> None:
    """Offer ``first-expiry-first-out`` to every site's sourcing rules."""
    register(STRATEGY, _strategy)
