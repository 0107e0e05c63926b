"""The lot's stock, held in HQ under one reservation reference per auction.

The kernel's stock functions make every step one conditional update per (warehouse, SKU)
row, so a lot is held only if the units are there and no one else can sell them meanwhile.
A hold expires on its own (``hold_expires_at``: after the latest possible close plus the
site's margin), so a lot the plugin never got to release returns to stock anyway.

Handing units to a buyer's order is *release, then order*: the units are free between the
two HQ transactions. A kernel hook that hands a held reservation to the order inside the
order's own transaction would close that window; until then a competing order may take
them, the buyer's order is then refused ``out_of_stock`` and the sale is marked failed (the
units go back to the lot if they can be held again). Nothing is ever oversold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from vintry.catalog import price_book
from vintry.inventory import stock
from vintry.inventory.models import Reservation, ReservationStatus, Stock, Warehouse
from vintry.inventory.service import eligible_warehouse_ids
from vintry.sites.directory import SiteDirectory
from vintry_sdk import SiteContext


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


def _warehouses(
    session: Session, site: SiteContext, directory: SiteDirectory, warehouse: str | None
) -> list[int]:
    eligible = eligible_warehouse_ids(session, directory, site.code)
    query = select(Warehouse.id).where(Warehouse.id.in_(eligible))
    if warehouse is not None:
        query = query.where(Warehouse.code == warehouse)
    return list(session.scalars(query.order_by(Warehouse.priority, Warehouse.id)))


def held_units(session: Session, reference: str) -> int:
    """Units still held under *reference*."""
    rows = session.scalars(
        select(Reservation.quantity).where(
            Reservation.reference == reference,
            Reservation.status == ReservationStatus.HELD.value,
        )
    )
    return sum(rows)


def _plan(
    session: Session,
    site: SiteContext,
    directory: SiteDirectory,
    sku_id: int,
    warehouse: str | None,
    units: int,
    now: datetime,
) -> list[stock.Hold] | None:
    order = _warehouses(session, site, directory, warehouse)
    available = stock.available(session, sku_ids=[sku_id], warehouse_ids=order, now=now)[sku_id]
    holds: list[stock.Hold] = []
    wanted = units
    for warehouse_id in order:
        take = min(wanted, available.get(warehouse_id, 0))
        if take > 0:
            holds.append(stock.Hold(warehouse_id, sku_id, take))
            wanted -= take
        if wanted == 0:
            return holds
    return None


def hold_lot(
    site: SiteContext,
    *,
    reference: str,
    sku: str,
    warehouse: str | None,
    units: int,
    expires_at: datetime,
) -> LotStock:
    """Hold *units* of *sku* for the lot, all or none; idempotent on *reference*."""
    platform = site.platform
    now = platform.clock.now()
    # Read before the transaction: reading the tree inside it would take a second connection.
    directory = platform.directory()
    with platform.hq.transaction() as session:
        entry = price_book.lookup(session, site, directory, [sku]).get(sku)
        if entry is None or not entry.offered:
            return LotStock(None, None, False, f"SKU {sku!r} is not offered at site {site.code!r}")
        found = LotStock(entry.sku_id, entry.price.price_fen, True)
        if held_units(session, reference) > 0:
            return found
        holds = _plan(session, site, directory, entry.sku_id, warehouse, units, now)
        if holds is None:
            where = f"warehouse {warehouse!r}" if warehouse else "the warehouses serving the site"
            return LotStock(
                entry.sku_id, entry.price.price_fen, False, f"{where} lack {units} unit(s) of {sku}"
            )
        try:
            stock.reserve(session, reference=reference, holds=holds, now=now, expires_at=expires_at)
        except stock.OutOfStock as error:  # taken between the read and the hold
            return LotStock(entry.sku_id, entry.price.price_fen, False, error.message)
    return found


def hand_over(site: SiteContext, *, reference: str, sku_id: int, units: int) -> int:
    """Stop holding *units* of the lot (a buyer's order is about to hold them); returns the
    units released. The rest stays held, with its expiry, in the same HQ transaction."""
    platform = site.platform
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            # Lock the SKU's stock rows first, in the order every writer takes them: two
            # hand-overs of one lot then queue, and the second reads the reservations the
            # first left (a lock taken on those rows alone would miss the re-held one).
            session.execute(
                select(Stock.warehouse_id)
                .where(Stock.sku_id == sku_id)
                .order_by(Stock.warehouse_id, Stock.sku_id)
                .with_for_update()
            ).all()
        query = (
            select(
                Reservation.warehouse_id,
                Reservation.sku_id,
                Reservation.quantity,
                Reservation.expires_at,
            )
            .where(
                Reservation.reference == reference,
                Reservation.status == ReservationStatus.HELD.value,
            )
            .order_by(Reservation.warehouse_id.desc(), Reservation.id)
        )
        rows = session.execute(query).all()
        total = sum(int(row.quantity) for row in rows)
        if total == 0:
            return 0
        release: int = min(units, total)
        stock.release(session, reference=reference, now=now)
        keep: dict[tuple[int, int], int] = {}
        to_drop = release
        expires_at = rows[0].expires_at
        for row in rows:  # give back from the last warehouse first
            dropped = min(to_drop, row.quantity)
            to_drop -= dropped
            if row.quantity - dropped:
                key = (row.warehouse_id, row.sku_id)
                keep[key] = keep.get(key, 0) + row.quantity - dropped
        if keep:
            stock.reserve(
                session,
                reference=reference,
                holds=[stock.Hold(w, s, q) for (w, s), q in sorted(keep.items())],
                now=now,
                expires_at=expires_at,
            )
    return release


def take_back(
    site: SiteContext,
    *,
    reference: str,
    sku_id: int,
    warehouse: str | None,
    units: int,
    expires_at: datetime,
) -> bool:
    """Hold *units* for the lot again (a buyer's order failed); False if they are gone."""
    platform = site.platform
    now = platform.clock.now()
    directory = platform.directory()
    with platform.hq.transaction() as session:
        holds = _plan(session, site, directory, sku_id, warehouse, units, now)
        if holds is None:
            return False
        try:
            stock.reserve(session, reference=reference, holds=holds, now=now, expires_at=expires_at)
        except stock.OutOfStock:
            return False
    return True


def release_lot(site: SiteContext, *, reference: str) -> int:
    """Release whatever the lot still holds; returns the units (idempotent)."""
    platform = site.platform
    with platform.hq.transaction() as session:
        return int(stock.release(session, reference=reference, now=platform.clock.now()))
