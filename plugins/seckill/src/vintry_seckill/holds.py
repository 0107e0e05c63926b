"""Holds after the attempt: listed, converted by an order, given back, paid, cancelled,
expired — and the counters operators read.

The conversion is the placement saga's claim step (``vintry_claim_resources``): the units
an order's seckill adjustment covers are the dealer's unexpired holds, chosen oldest first
exactly as the price was (:func:`choose_holds`), moved ``held → ordered`` by one conditional
update naming them; if one expired or changed since the cart was priced, the order is
refused (409 ``seckill_hold_expired``) and the dealer prices the cart again. The warehouse
stock of those units is held by the placement itself, in its HQ transaction, like any
line's (see the README: stock is reserved at claim). An ordered hold then follows its
order: ``paid`` with it, back to the quota when the order is cancelled (by the dealer, HQ
or the kernel's unpaid-order expiry), back to ``held`` when the placement fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from vintry.clock import ensure_utc
from vintry_sdk import Conflict, OrderDraft, ResourceClaim, SiteContext, from_fen

from vintry_seckill.admission import mirror, redis_counter
from vintry_seckill.attempt_batch import expire_holds, give_back, next_expiry
from vintry_seckill.board import board_for
from vintry_seckill.models import HoldStatus, SeckillCounter, SeckillHold
from vintry_seckill.redis_counter import RedisCounter
from vintry_seckill.sales import Sale, read_sales
from vintry_seckill.schemas import ExpiryReport, HoldOut, SaleStatus

RESOURCE_PREFIX = "seckill:"


@dataclass(frozen=True)
class HeldUnits:
    """An unexpired hold, as pricing and the claim choose among them."""

    id: int
    quantity: int


def choose_holds(holds: Sequence[HeldUnits], wanted: int) -> list[HeldUnits]:
    """The holds an order line of *wanted* units uses: oldest first, whole holds only,
    skipping one that would take the line past *wanted*."""
    chosen, total = [], 0
    for hold in sorted(holds, key=lambda h: h.id):
        if total + hold.quantity <= wanted:
            chosen.append(hold)
            total += hold.quantity
    return chosen


def held_units(
    session: Session, dealer: str, codes: Sequence[str], now: datetime
) -> dict[str, list[HeldUnits]]:
    """The dealer's unexpired holds of the sales *codes*, by sale."""
    found: dict[str, list[HeldUnits]] = {code: [] for code in codes}
    if not codes:
        return found
    rows = session.execute(
        select(SeckillHold.campaign_code, SeckillHold.id, SeckillHold.quantity).where(
            SeckillHold.dealer_code == dealer,
            SeckillHold.campaign_code.in_(list(codes)),
            SeckillHold.status == HoldStatus.HELD.value,
            SeckillHold.expires_at > now,
        )
    )
    for code, hold_id, quantity in rows:
        found[code].append(HeldUnits(int(hold_id), int(quantity)))
    return found


def hold_out(row: SeckillHold, sku: str) -> HoldOut:
    """The API view of a hold."""
    return HoldOut(
        id=row.id,
        campaign=row.campaign_code,
        dealer=row.dealer_code,
        sku=sku,
        quantity=row.quantity,
        unit_price=from_fen(row.unit_price_fen),
        status=HoldStatus(row.status).value,
        created_at=ensure_utc(row.created_at),
        expires_at=ensure_utc(row.expires_at),
        order_number=row.order_number,
    )


def list_holds(
    site: SiteContext,
    *,
    dealer: str | None = None,
    campaign: str | None = None,
    status: HoldStatus | None = None,
    limit: int = 100,
) -> list[HoldOut]:
    """Holds of the site, newest first, narrowed by dealer, sale and status."""
    query = select(SeckillHold, SeckillCounter.sku).join(
        SeckillCounter, SeckillCounter.campaign_code == SeckillHold.campaign_code
    )
    if dealer is not None:
        query = query.where(SeckillHold.dealer_code == dealer)
    if campaign is not None:
        query = query.where(SeckillHold.campaign_code == campaign)
    if status is not None:
        query = query.where(SeckillHold.status == status.value)
    with site.database.reading() as session:
        rows = session.execute(query.order_by(SeckillHold.id.desc()).limit(limit)).all()
    return [hold_out(row, sku) for row, sku in rows]


def sale_status(site: SiteContext, sale: Sale, *, with_redis: bool = False) -> SaleStatus:
    """The counter of *sale*: quota, taken, held, ordered, paid, what is left."""
    now = site.platform.clock.now()
    with site.database.reading() as session:
        counter = session.get(SeckillCounter, sale.code)
        by_status = dict(
            session.execute(
                select(SeckillHold.status, func.coalesce(func.sum(SeckillHold.quantity), 0))
                .where(SeckillHold.campaign_code == sale.code)
                .group_by(SeckillHold.status)
            ).all()
        )
    quota = counter.quota if counter else sale.config.quantity
    taken = counter.taken if counter else 0
    redis = redis_counter(site)
    return SaleStatus(
        campaign=sale.code,
        name=sale.campaign.name,
        sku=sale.config.sku,
        price=sale.config.price,
        state=sale.state(now).value,
        starts_at=ensure_utc(sale.campaign.starts_at),
        ends_at=ensure_utc(sale.campaign.ends_at),
        quota=quota,
        per_dealer_limit=counter.per_dealer_limit if counter else sale.config.per_dealer_limit,
        taken=taken,
        remaining=quota - taken,
        held=int(by_status.get(HoldStatus.HELD.value, 0)),
        ordered=int(by_status.get(HoldStatus.ORDERED.value, 0)),
        paid=int(by_status.get(HoldStatus.PAID.value, 0)),
        sold_out=taken >= quota,
        backend="redis" if redis is not None else "sql",
        redis=redis.read(RedisCounter.key(site.database.url, sale.code))
        if redis is not None and with_redis
        else None,
    )


# --- the saga: conversion and compensation -------------------------------------------------


def convert_holds(draft: OrderDraft, site: SiteContext) -> list[ResourceClaim]:
    """Move the holds the order's seckill adjustments cover to ``ordered`` (or raise 409)."""
    wanted = {adj.campaign: adj.units for adj in draft.adjustments if adj.units > 0}
    if not wanted:
        return []
    now = site.platform.clock.now()
    claims: list[ResourceClaim] = []
    with site.database.transaction() as session:
        sales = read_sales(session, sorted(wanted))
        if not sales:
            return []
        held = held_units(session, draft.dealer.code, sorted(sales), now)
        for code in sorted(sales):
            chosen = choose_holds(held[code], wanted[code])
            ids = [hold.id for hold in chosen]
            if sum(hold.quantity for hold in chosen) != wanted[code]:
                raise _hold_gone(code)
            moved = session.execute(
                update(SeckillHold)
                .where(
                    SeckillHold.id.in_(ids),
                    SeckillHold.status == HoldStatus.HELD.value,
                    SeckillHold.expires_at > now,
                )
                .values(status=HoldStatus.ORDERED.value, order_number=draft.number)
            )
            if moved.rowcount != len(ids):  # type: ignore[attr-defined]
                raise _hold_gone(code)  # the transaction rolls the others back
            claims.append(
                ResourceClaim(
                    resource=f"{RESOURCE_PREFIX}{code}",
                    quantity=wanted[code],
                    payload={"order": draft.number, "holds": ids},
                )
            )
    return claims


def _hold_gone(code: str) -> Conflict:
    return Conflict(
        f"the hold on flash sale {code!r} expired or changed since the cart was priced; "
        "review the cart",
        code="seckill_hold_expired",
        field="campaign",
        details={"campaign": code},
    )


def restore_holds(claims: Sequence[ResourceClaim], site: SiteContext) -> None:
    """Give a failed placement's holds back to their dealer (idempotent). A hold whose time
    ran out meanwhile expires with the next batch or sweep. A claim the placement never
    recorded (``unrecorded``: the process died right after the claim hook) gives back every
    hold converted for that order."""
    with site.database.transaction() as session:
        for claim in claims:
            if claim.payload.get("unrecorded"):
                session.execute(
                    update(SeckillHold)
                    .where(
                        SeckillHold.order_number == str(claim.payload.get("order")),
                        SeckillHold.status == HoldStatus.ORDERED.value,
                    )
                    .values(status=HoldStatus.HELD.value, order_number=None)
                )
                continue
            if not claim.resource.startswith(RESOURCE_PREFIX):
                continue
            session.execute(
                update(SeckillHold)
                .where(
                    SeckillHold.id.in_([int(i) for i in claim.payload.get("holds", [])]),
                    SeckillHold.order_number == str(claim.payload.get("order")),
                    SeckillHold.status == HoldStatus.ORDERED.value,
                )
                .values(status=HoldStatus.HELD.value, order_number=None)
            )


def order_paid(site: SiteContext, number: str) -> None:
    """The order of these holds was paid (idempotent)."""
    with site.database.transaction() as session:
        session.execute(
            update(SeckillHold)
            .where(
                SeckillHold.order_number == number,
                SeckillHold.status == HoldStatus.ORDERED.value,
            )
            .values(status=HoldStatus.PAID.value)
        )


def order_cancelled(site: SiteContext, number: str) -> int:
    """The order was cancelled: its holds' units return to the quota, once. Returns units."""
    now = site.platform.clock.now()
    with site.database.reading() as session:
        codes = sorted(
            set(session.scalars(select(SeckillHold.campaign_code).where(
                SeckillHold.order_number == number
            )))
        )
    if not codes:
        return 0
    gens = _generations(site, codes)
    with site.database.transaction() as session:
        rows = session.execute(
            update(SeckillHold)
            .where(
                SeckillHold.order_number == number,
                SeckillHold.status.in_([HoldStatus.ORDERED.value, HoldStatus.PAID.value]),
            )
            .values(status=HoldStatus.CANCELLED.value, closed_at=now)
            .returning(SeckillHold.campaign_code, SeckillHold.dealer_code, SeckillHold.quantity)
        ).all()
        returned = [(c, d, int(q)) for c, d, q in rows]
        give_back(session, returned, now)
        expiries = {code: next_expiry(session, code) for code in codes}
    _returned(site, returned, gens, expiries, now)
    return sum(q for _, _, q in returned)


def expire_due(site: SiteContext) -> ExpiryReport:
    """The sweeper: expire every hold of the site whose time ran out, returning its units."""
    now = site.platform.clock.now()
    with site.database.reading() as session:
        codes = sorted(
            set(
                session.scalars(
                    select(SeckillHold.campaign_code).where(
                        SeckillHold.status == HoldStatus.HELD.value,
                        SeckillHold.expires_at <= now,
                    )
                )
            )
        )
    if not codes:
        return ExpiryReport(site=site.code, holds=0, units=0)
    gens = _generations(site, codes)
    with site.database.transaction() as session:
        expired = expire_holds(session, codes, now)
        expiries = {code: next_expiry(session, code) for code in codes}
    _returned(site, expired, gens, expiries, now)
    return ExpiryReport(
        site=site.code, holds=len(expired), units=sum(q for _, _, q in expired)
    )


def _generations(site: SiteContext, codes: Sequence[str]) -> dict[str, str | None]:
    """The Redis hash generations of *codes*, read *before* the database changes them."""
    counter = redis_counter(site)
    if counter is None:
        return {}
    found: dict[str, str | None] = {}
    for code in codes:
        try:
            found[code] = counter.generation(RedisCounter.key(site.database.url, code))
        except Exception:
            found[code] = None
    return found


def _returned(
    site: SiteContext,
    units: Sequence[tuple[str, str, int]],
    gens: dict[str, str | None],
    expiries: dict[str, datetime | None],
    now: datetime,
) -> None:
    """After the commit: tell Redis and the sold-out board that *units* came back."""
    counter = redis_counter(site)
    board = board_for(site.platform)
    per_sale: dict[str, tuple[int, dict[str, int]]] = {}
    for code, dealer, quantity in units:
        taken, dealers = per_sale.get(code, (0, {}))
        dealers[dealer] = dealers.get(dealer, 0) - quantity
        per_sale[code] = (taken - quantity, dealers)
    for code in expiries:
        board.clear(site.code, code)
        if counter is not None and code in per_sale:
            mirror(counter, site, code, {gens.get(code): per_sale[code]}, now, expiries[code])
