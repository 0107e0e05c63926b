"""Each member's units, held in HQ under a reference of its own while its group is open.

The kernel's stock functions hold with one conditional update per (warehouse, SKU) row, so a
join never promises units that are not there. A hold expires on its own some time after its
group (the site's ``hold_margin_minutes``), so a hold the plugin never got to release returns
to stock anyway. When the group succeeds, a member's hold is released just before its order
holds the same units (two HQ transactions: see the README's note on the hand-over).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from vintry.catalog import price_book
from vintry.inventory import stock
from vintry.inventory.models import Reservation, ReservationStatus, Warehouse
from vintry.inventory.service import eligible_warehouse_ids
from vintry_sdk import Conflict, InvalidInput, SiteContext


def reference_for(site: SiteContext, group: str, dealer: str) -> str:
    """The reservation reference of one member's units (unique across sites)."""
    return f"groupbuy:{site.code}:{group}:{dealer}"


def _held(session: Session, reference: str) -> int:
    return sum(
        session.scalars(
            select(Reservation.quantity).where(
                Reservation.reference == reference,
                Reservation.status == ReservationStatus.HELD.value,
            )
        )
    )


def hold_member(
    site: SiteContext,
    *,
    reference: str,
    sku: str,
    warehouse: str | None,
    units: int,
    expires_at: datetime,
) -> None:
    """Hold *units* of *sku* for a member, all or none (409 ``out_of_stock``); idempotent."""
    platform = site.platform
    now = platform.clock.now()
    directory = platform.directory()  # before the transaction: it reads on its own connection
    with platform.hq.transaction() as session:
        entry = price_book.lookup(session, site, directory, [sku]).get(sku)
        if entry is None or not entry.offered:
            raise InvalidInput(
                f"SKU {sku!r} is not offered at site {site.code!r}",
                code="sku_not_offered",
                field="sku",
            )
        if _held(session, reference) > 0:
            return
        eligible = eligible_warehouse_ids(session, directory, site.code)
        query = select(Warehouse.id).where(Warehouse.id.in_(eligible))
        if warehouse is not None:
            query = query.where(Warehouse.code == warehouse)
        order = list(session.scalars(query.order_by(Warehouse.priority, Warehouse.id)))
        available = stock.available(session, sku_ids=[entry.sku_id], warehouse_ids=order, now=now)
        holds: list[stock.Hold] = []
        wanted = units
        for warehouse_id in order:
            take = min(wanted, available[entry.sku_id].get(warehouse_id, 0))
            if take > 0:
                holds.append(stock.Hold(warehouse_id, entry.sku_id, take))
                wanted -= take
        if wanted > 0:
            raise Conflict(
                f"only {units - wanted} unit(s) of {sku} available, {units} requested",
                code="out_of_stock",
                field="quantity",
                details={"available": units - wanted, "requested": units},
            )
        stock.reserve(session, reference=reference, holds=holds, now=now, expires_at=expires_at)


def release_member(site: SiteContext, *, reference: str) -> int:
    """Release a member's hold; returns the units (0 when already released)."""
    platform = site.platform
    with platform.hq.transaction() as session:
        return int(stock.release(session, reference=reference, now=platform.clock.now()))
