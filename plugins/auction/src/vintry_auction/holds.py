"""The lot's stock, held in HQ under one reservation reference per auction.

A lot is held when its auction is published (:func:`hold_lot`), through the kernel's
``hold_stock``: one conditional update per (warehouse, SKU) row, so a lot is held only if
the units are there, and no one else can sell them meanwhile. The hold expires on its own
(``hold_expires_at``: after the latest possible close plus the site's margin), so a lot the
plugin never got to release returns to stock anyway.

A sale's units go to the buyer's order through the kernel's ``place_held``, which moves
them from the lot's hold to the order's inside the order's own HQ transaction: they are
never free in between, so no competing order can take them (see ``service.settle_sale``).
What is held under the lot's reference is therefore always the units still for sale plus
those of sales not yet settled; the plugin gives back only the former when a lot closes or
a sale fails (:func:`release_units`), and everything when the auction is cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vintry_sdk import SiteContext, VintryError, hold_stock, release_stock


@dataclass(frozen=True)
class LotStock:
    """What opening a lot found out about its SKU at the site."""

    sku_id: int | None
    list_unit_fen: int | None
    held: bool
    note: str | None = None


def reference_for(site: SiteContext, campaign: str) -> str:
    """The reservation reference of an auction's lot (unique across sites)."""
    return f"auction:{site.code}:{campaign}"


def hold_lot(
    site: SiteContext,
    *,
    reference: str,
    sku: str,
    warehouse: str | None,
    units: int,
    expires_at: datetime,
) -> LotStock:
    """Hold *units* of *sku* for the lot, all or none; idempotent on *reference*. A lot that
    cannot be held says why in ``note`` (it is tried again by the sweep)."""
    try:
        held = hold_stock(
            site,
            reference=reference,
            sku=sku,
            quantity=units,
            expires_at=expires_at,
            warehouse=warehouse,
        )
    except VintryError as refused:  # not offered here, or not enough stock
        return LotStock(None, None, False, refused.message)
    return LotStock(held.sku_id, held.unit_fen, True)


def release_units(site: SiteContext, *, reference: str, sku: str, units: int) -> int:
    """Give back *units* of the lot (unsold at the close, or a failed sale's); the units of
    sales still settling stay held. Returns the units released."""
    if units <= 0:
        return 0
    return release_stock(site, reference=reference, sku=sku, quantity=units)


def release_lot(site: SiteContext, *, reference: str) -> int:
    """Release whatever the lot still holds; returns the units (idempotent)."""
    return release_stock(site, reference=reference)
