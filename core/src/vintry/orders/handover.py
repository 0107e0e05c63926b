"""Handing stock a plugin holds to an order, inside the order's own HQ transaction.

Auctions and group buys hold stock in HQ long before anyone orders it — a lot when its
auction opens, a member's units when it joins a group — under a reservation reference of
their own (:func:`hold_stock`; :func:`release_stock` gives it back, whole or in part). Once
the sale is decided, :func:`place_held` places the buyer's order **from that hold**, at the
unit prices the plugin decided, in one HQ transaction that

1. moves the units from the plugin's holds to holds of the new order
   (:func:`vintry.inventory.stock.transfer_held`): the stock rows' ``reserved`` never
   drops, so no competing order can take the units between "released" and "ordered" — there
   is no such moment;
2. writes the order, its lines, its allocations (the warehouses the units were held in),
   its ``order.placed`` outbox event, and completes the idempotency record with the
   response bytes, exactly as :func:`vintry.orders.placement.place_order` answers.

The prices are the plugin's, but HQ's floors still bind: a unit price under the floor in
force at the site is refused 422 ``below_price_floor`` naming the SKU and the floor. A line
is never charged more than the site's own price (the site may have lowered it since the sale
was decided). The order's price breakdown names the campaign, and the plugin as its source,
as the one applied adjustment.

Placement is idempotent on the caller's key (``Idempotency-Key`` semantics): the record is
written first, a retry gets the first answer byte for byte, a refusal (the hold has fewer
units than asked: 409 ``out_of_stock``; a floor; an inactive dealer) is stored like a success
and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from vintry.catalog import price_book
from vintry.catalog.models import Sku
from vintry.catalog.price_book import BookEntry
from vintry.catalog.pricing import floor_violation
from vintry.contracts import (
    AdjustmentCandidate,
    Allocation,
    CartDraft,
    DealerView,
    PricedLine,
    SourcingPlan,
)
from vintry.errors import InvalidInput, NotFound, VintryError
from vintry.events.outbox import EventType, event_row
from vintry.inventory import stock
from vintry.inventory.models import Reservation, ReservationStatus, Warehouse
from vintry.inventory.service import eligible_warehouse_ids
from vintry.money import from_fen
from vintry.orders import idempotency
from vintry.orders.models import Order, OrderAllocation, OrderLine, OutboxEvent
from vintry.orders.order_writer import (
    Key,
    PlacedOrder,
    PlacementResult,
    PreparedOrder,
    error_body,
    order_payload,
    order_row,
    response_bytes,
)
from vintry.orders.placement import dealer_view, exactly_once, hold_minutes, new_order_number
from vintry.orders.pricing import Considered, LinePrice, PricedCart, draft_line, line_price
from vintry.platform import SiteContext
from vintry.sites.directory import SiteDirectory

__all__ = [
    "HandOverResult",
    "HeldCampaign",
    "HeldLine",
    "HeldStock",
    "held_units",
    "hold_stock",
    "place_held",
    "release_stock",
]


@dataclass(frozen=True)
class HeldLine:
    """Units of one SKU to take from the hold, at the unit price the plugin decided (fen)."""

    sku: str
    quantity: int
    unit_fen: int


@dataclass(frozen=True)
class HeldCampaign:
    """The campaign the held stock was sold under, as the order's price breakdown names it:
    ``source`` is the plugin, ``code`` and ``name`` the campaign, ``reason`` what the dealer
    reads (``"won at auction at 1200.00 yuan a unit"``)."""

    source: str
    code: str
    reason: str
    name: str | None = None


@dataclass(frozen=True)
class HandOverResult(PlacementResult):
    """The status and exact body of the hand-over's order (first time or replayed)."""

    @property
    def placed(self) -> bool:
        """Whether the order exists (201)."""
        return self.status == 201

    @property
    def number(self) -> str | None:
        """The order's number, or ``None`` when it was refused."""
        return str(self._body()["number"]) if self.placed else None

    @property
    def error_code(self) -> str | None:
        """The refusal's stable code (``out_of_stock``, ``below_price_floor``, …)."""
        return None if self.placed else self._body().get("error", {}).get("code")

    @property
    def error_message(self) -> str | None:
        """The refusal's human message."""
        return None if self.placed else self._body().get("error", {}).get("message")

    def _body(self) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded


@dataclass(frozen=True)
class HeldStock:
    """What :func:`hold_stock` found: the SKU, its price at the site, the units held."""

    sku_id: int
    unit_fen: int
    """The site's price of the SKU when it was held."""
    units: int


def hold_stock(
    site: SiteContext,
    *,
    reference: str,
    sku: str,
    quantity: int,
    expires_at: datetime,
    warehouse: str | None = None,
) -> HeldStock:
    """Hold *quantity* units of *sku* under *reference* in the warehouses serving *site*
    (or only *warehouse*), preferred first, all or none, until *expires_at* at the latest.

    Idempotent on *reference*: one that already holds units is left as it is (a retried
    opening holds nothing twice). Refusals: 404 ``sku_not_found``, 422 ``sku_not_offered``,
    ``invalid_quantity``; 409 ``out_of_stock`` when the warehouses lack the units (nothing
    is held). The hold expires on its own, so a plugin that never gets to release it leaks
    nothing; :func:`place_held` hands it to an order, :func:`release_stock` gives it back.
    """
    if quantity <= 0:
        raise InvalidInput(
            "a hold is for at least one unit", code="invalid_quantity", field="quantity"
        )
    platform = site.platform
    now = platform.clock.now()
    directory = platform.directory()  # before the transaction: it reads on its own session
    with platform.hq.transaction() as session:
        entry = _offered(price_book.lookup(session, site, directory, [sku]), sku, "sku", site)
        already = _held_units(session, reference)
        if already:
            return HeldStock(entry.sku_id, entry.price.price_fen, already)
        eligible = eligible_warehouse_ids(session, directory, site.code)
        query = select(Warehouse.id).where(Warehouse.id.in_(eligible))
        if warehouse is not None:
            query = query.where(Warehouse.code == warehouse)
        order = list(session.scalars(query.order_by(Warehouse.priority, Warehouse.id)))
        free = stock.available(session, sku_ids=[entry.sku_id], warehouse_ids=order, now=now)
        holds: list[stock.Hold] = []
        wanted = quantity
        for warehouse_id in order:
            take = min(wanted, free[entry.sku_id].get(warehouse_id, 0))
            if take > 0:
                holds.append(stock.Hold(warehouse_id, entry.sku_id, take))
                wanted -= take
        if wanted > 0:
            where = f"warehouse {warehouse!r}" if warehouse else "the warehouses serving the site"
            raise stock.OutOfStock(
                f"{where} lack {quantity} unit(s) of {sku} ({quantity - wanted} available)",
                field="quantity",
                details={"sku": sku, "available": quantity - wanted, "requested": quantity},
            )
        stock.reserve(session, reference=reference, holds=holds, now=now, expires_at=expires_at)
    return HeldStock(entry.sku_id, entry.price.price_fen, quantity)


def release_stock(
    site: SiteContext, *, reference: str, sku: str | None = None, quantity: int | None = None
) -> int:
    """Give back what *reference* holds — everything, or *quantity* units of *sku* (the
    rest stays held) — and return the units released; releasing nothing is not an error."""
    platform = site.platform
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        if quantity is None:
            return stock.release(session, reference=reference, now=now)
        sku_id = session.scalar(select(Sku.id).where(Sku.code == sku))
        if sku_id is None:
            return 0
        return stock.release_held(
            session, reference=reference, sku_id=sku_id, quantity=quantity, now=now
        )


def held_units(site: SiteContext, reference: str) -> int:
    """Units *reference* holds in HQ now (expired holds not yet released included)."""
    with site.platform.hq.reading() as session:
        return _held_units(session, reference)


def _held_units(session: Session, reference: str) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(Reservation.quantity), 0)).where(
                Reservation.reference == reference,
                Reservation.status == ReservationStatus.HELD.value,
            )
        )
        or 0
    )


def place_held(
    site: SiteContext,
    *,
    dealer_id: int,
    idempotency_key: str,
    lines: Sequence[HeldLine],
    reservation_reference: str,
    campaign: HeldCampaign,
    kind: str = "held",
    note: str | None = None,
) -> HandOverResult:
    """Place *dealer_id*'s order for *lines* from the units held under
    *reservation_reference*, at the lines' unit prices, exactly once per *idempotency_key*.

    Only the units the lines need leave the hold; the rest stays held, with its expiry. The
    order's own holds expire like any unpaid order's (the site's ``reservation_minutes``).
    *kind* separates the keys of different callers (``"auction"``, ``"groupbuy"``); the
    same key sent again with other lines is refused 422 ``idempotency_key_reused``.

    :returns: 201 and the order as ``POST /orders`` answers it, or the refusal (stored
        for the key unless the key itself was refused: 422 ``idempotency_key_reused``,
        409 ``idempotency_in_progress``):
        409 ``out_of_stock`` (the hold has fewer unexpired units than a line asks),
        422 ``below_price_floor``, ``dealer_inactive``, ``sku_not_offered``,
        ``invalid_quantity``, ``invalid_price``, ``empty_order``, ``duplicate_sku``,
        404 ``sku_not_found``.
    """
    platform = site.platform
    idempotency.check_key(idempotency_key)
    fingerprint = idempotency.request_hash(
        response_bytes(
            {
                "reference": reservation_reference,
                "lines": [[line.sku, line.quantity, line.unit_fen] for line in lines],
                "campaign": [campaign.source, campaign.code],
                "note": note,
            }
        )
    )
    key = Key(f"{kind}:{site.code}:{dealer_id}", idempotency_key, fingerprint)
    # Read before the transaction: each opens a session of its own.
    directory = platform.directory()
    minutes = hold_minutes(site)

    def work(record_id: int) -> PlacementResult:
        return _hand_over(
            site,
            directory,
            record_id,
            dealer_id=dealer_id,
            lines=lines,
            reference=reservation_reference,
            campaign=campaign,
            note=note,
            minutes=minutes,
        )

    try:
        result = exactly_once(platform, key, work)
    except VintryError as error:  # the key reused with other lines, or still in progress
        return HandOverResult(error.status_code, error_body(error))
    return HandOverResult(result.status, result.body, result.replayed)


def _hand_over(
    site: SiteContext,
    directory: SiteDirectory,
    record_id: int,
    *,
    dealer_id: int,
    lines: Sequence[HeldLine],
    reference: str,
    campaign: HeldCampaign,
    note: str | None,
    minutes: int,
) -> PlacementResult:
    """The one HQ transaction: hold → order, order rows, event, idempotency record."""
    platform = site.platform
    now = platform.clock.now()
    _check_lines(lines)
    with platform.hq.transaction() as session:
        dealer = dealer_view(session, site, dealer_id)
        book = price_book.lookup(session, site, directory, [line.sku for line in lines])
        entries = [
            _offered(book, line.sku, f"lines.{index}.sku", site) for index, line in enumerate(lines)
        ]
        priced = _priced(site, dealer, lines, entries, campaign)
        number = new_order_number(int(now.timestamp() * 1000))
        pay_by = now + timedelta(minutes=minutes)
        try:
            moved = stock.transfer_held(
                session,
                reference=reference,
                to_reference=number,
                wanted={
                    entry.sku_id: line.quantity for entry, line in zip(entries, lines, strict=True)
                },
                expires_at=pay_by,
                now=now,
            )
        except stock.OutOfStock as short:
            raise _hold_short(short, reference, lines, entries) from None
        codes = dict(
            session.execute(
                select(Warehouse.id, Warehouse.code).where(
                    Warehouse.id.in_({m.warehouse_id for m in moved})
                )
            ).all()
        )
        sku_codes = {entry.sku_id: entry.code for entry in entries}
        placed = PlacedOrder(
            index=0,
            order=PreparedOrder(
                site=site,
                directory=directory,
                dealer_id=dealer_id,
                dealer=dealer,
                priced=priced,
                number=number,
                note=note,
                hold_minutes=minutes,
            ),
            plan=SourcingPlan(
                strategy="held",
                allocations=tuple(
                    Allocation(
                        sku=sku_codes[m.sku_id],
                        warehouse=codes[m.warehouse_id],
                        quantity=m.quantity,
                    )
                    for m in moved
                ),
                explanation=f"units held for {campaign.source} campaign {campaign.code} "
                f"under {reference}",
            ),
            holds=[stock.Hold(m.warehouse_id, m.sku_id, m.quantity) for m in moved],
            warehouse_ids={codes[m.warehouse_id]: m.warehouse_id for m in moved},
            pay_by=pay_by,
            pricing=priced.breakdown(),
        )
        body = response_bytes(order_payload(placed, now))
        _write_order(session, placed, moved, now)
        idempotency.complete(session, record_id, idempotency.StoredResponse(201, body), now=now)
    return PlacementResult(201, body)


def _check_lines(lines: Sequence[HeldLine]) -> None:
    if not lines:
        raise InvalidInput("an order has at least one line", code="empty_order", field="lines")
    if len({line.sku for line in lines}) != len(lines):
        raise InvalidInput("a SKU appears on two lines", code="duplicate_sku", field="lines")
    for index, line in enumerate(lines):
        if line.quantity <= 0:
            raise InvalidInput(
                "a line is for at least one unit",
                code="invalid_quantity",
                field=f"lines.{index}.quantity",
            )
        if line.unit_fen < 0:
            raise InvalidInput(
                "a unit price is not negative",
                code="invalid_price",
                field=f"lines.{index}.unit_price",
            )


def _offered(book: dict[str, BookEntry], sku: str, field: str, site: SiteContext) -> BookEntry:
    entry = book.get(sku)
    if entry is None:
        raise NotFound(f"SKU {sku!r} does not exist", code="sku_not_found", field=field)
    if not entry.offered:
        raise InvalidInput(
            f"SKU {sku!r} is not offered at site {site.code!r}", code="sku_not_offered", field=field
        )
    return entry


def _priced(
    site: SiteContext,
    dealer: DealerView,
    lines: Sequence[HeldLine],
    entries: Sequence[BookEntry],
    campaign: HeldCampaign,
) -> PricedCart:
    """The lines at the plugin's prices (never above the site's, never under the floor),
    explained as one applied adjustment of *campaign*."""
    line_prices: list[LinePrice] = []
    priced_lines: list[PricedLine] = []
    for index, (line, entry) in enumerate(zip(lines, entries, strict=True)):
        price = entry.price
        violation = floor_violation(price, line.unit_fen, sku=entry.code, site=site.code)
        if violation is not None:
            raise InvalidInput(
                violation.describe(),
                code="below_price_floor",
                field=f"lines.{index}.unit_price",
                details={
                    "sku": entry.code,
                    "floor": str(from_fen(violation.lowest_allowed_fen)),
                    "violations": [violation.details()],
                },
            )
        discount = max(0, price.price_fen - line.unit_fen) * line.quantity
        line_prices.append(line_price(index, entry, line.quantity, discount))
        priced_lines.append(draft_line(index, entry, line.quantity))
    discounts = [line.discount_fen for line in line_prices]
    total = sum(discounts)
    explained = Considered(
        source=campaign.source,
        campaign=campaign.code,
        name=campaign.name,
        reason=campaign.reason,
        code="applied",
        candidate=AdjustmentCandidate(
            campaign=campaign.code,
            name=campaign.name,
            reason=campaign.reason,
            amount=from_fen(total),
            line_amounts={i: from_fen(fen) for i, fen in enumerate(discounts) if fen},
        )
        if total
        else None,
        proposed_lines=discounts,
        applied_lines=discounts,
    )
    draft = CartDraft(
        site=site.code,
        dealer=dealer,
        lines=tuple(priced_lines),
        subtotal=from_fen(sum(line.amount_fen for line in line_prices)),
    )
    return PricedCart(draft=draft, lines=line_prices, applied=[explained])


def _hold_short(
    short: stock.OutOfStock,
    reference: str,
    lines: Sequence[HeldLine],
    entries: Sequence[BookEntry],
) -> stock.OutOfStock:
    """The kernel's refusal, naming the SKU and the line instead of ids."""
    sku_id = short.details.get("sku_id")
    index = next(i for i, entry in enumerate(entries) if entry.sku_id == sku_id)
    held, wanted = short.details.get("held", 0), lines[index].quantity
    return stock.OutOfStock(
        f"only {held} unit(s) of {entries[index].code} are held under {reference!r}, "
        f"{wanted} requested",
        field=f"lines.{index}.quantity",
        details={
            "sku": entries[index].code,
            "reference": reference,
            "held": held,
            "requested": wanted,
        },
    )


def _write_order(
    session: Session, placed: PlacedOrder, moved: Sequence[stock.Transferred], now: datetime
) -> None:
    """The order, its lines, its allocations (one per hold it took over) and its event."""
    order = placed.order
    order_id = session.execute(
        insert(Order).returning(Order.id), [order_row(placed, now)]
    ).scalar_one()
    line_ids: dict[int, int] = {}
    for line in order.priced.lines:
        row = OrderLine(
            order_id=order_id,
            line_no=line.index + 1,
            sku_id=line.sku_id,
            sku_code=line.sku,
            name=line.name,
            quantity=line.quantity,
            base_unit_fen=line.base_unit_fen,
            unit_fen=line.unit_fen,
            discount_fen=line.discount_fen,
            total_fen=line.total_fen,
            shipped_quantity=0,
            returned_quantity=0,
        )
        session.add(row)
        session.flush()
        line_ids[line.sku_id] = row.id
    session.add_all(
        OrderAllocation(
            order_id=order_id,
            line_id=line_ids[m.sku_id],
            warehouse_id=m.warehouse_id,
            quantity=m.quantity,
            reservation_id=m.reservation_id,
        )
        for m in moved
    )
    session.execute(
        insert(OutboxEvent),
        [
            event_row(
                type=EventType.ORDER_PLACED,
                site=order.site.code,
                payload={
                    "number": order.number,
                    "dealer": order.dealer.code,
                    "total": str(from_fen(order.priced.total_fen)),
                },
                now=now,
            )
        ],
    )
