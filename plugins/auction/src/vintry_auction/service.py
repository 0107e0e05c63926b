"""English and Dutch auctions: opening a lot, bids, purchases, closing and settlement.

Every decision that concurrent requests race for is **one conditional update of the lot's
row**, evaluated by the database: an English bid is accepted only if the lot is open, the
clock is before its end and the bid beats the leader by the increment (the soft close moves
the end in the same statement); a Dutch purchase only if that many units remain; closing
only once. Money is integer fen; time is the platform clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, case, delete, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from vintry.campaigns.models import Campaign, CampaignStatus
from vintry.campaigns.selection import state_of, targets
from vintry.db.base import UTCDateTime
from vintry_sdk import (
    Conflict,
    DealerView,
    HeldCampaign,
    HeldLine,
    InvalidInput,
    NotFound,
    SiteContext,
    from_fen,
    place_held,
    to_fen,
)

from vintry_auction import holds
from vintry_auction.campaign_types import (
    AUCTION_TYPES,
    DUTCH,
    ENGLISH,
    DutchAuctionConfig,
    EnglishAuctionConfig,
    dutch_price_fen,
    dutch_step,
)
from vintry_auction.config import AuctionSettings
from vintry_auction.models import (
    AuctionBid,
    AuctionLot,
    AuctionSale,
    DealerTake,
    LotKind,
    LotStatus,
    SaleStatus,
)
from vintry_auction.schemas import AuctionOut, BidOut, SaleOut, SweepOut

PLUGIN_NAME = "auction"
STALE_OPENING = timedelta(minutes=1)
"""An ``opening`` lot older than this was left by a crash: another caller may take it over."""


def settings_for(site: SiteContext) -> AuctionSettings:
    """The plugin's configuration in force on *site*."""
    return AuctionSettings.model_validate(site.config(PLUGIN_NAME))


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _changed(session: Session, statement: Any) -> int:
    """Execute an UPDATE/INSERT and return how many rows it touched."""
    result = cast("CursorResult[Any]", session.execute(statement))
    return int(result.rowcount)


def _when(value: datetime) -> Any:
    return literal(value, UTCDateTime())


def _not_found(code: str) -> NotFound:
    return NotFound(f"auction {code!r} does not exist", code="auction_not_found", field="code")


# --- campaigns and lots ------------------------------------------------------------------


def find_campaign(site: SiteContext, code: str, dealer: DealerView | None = None) -> Campaign:
    """Auction campaign *code* of *site*; for a *dealer*, only a published one aimed at it."""
    with site.database.reading() as session:
        campaign = session.scalar(
            select(Campaign).where(Campaign.code == code, Campaign.type.in_(AUCTION_TYPES))
        )
    if campaign is None:
        raise _not_found(code)
    if dealer is not None and (
        campaign.status not in (CampaignStatus.SCHEDULED.value, CampaignStatus.ENDED.value)
        or not targets(campaign, dealer)
    ):
        raise _not_found(code)
    return campaign


def _config(campaign: Campaign) -> EnglishAuctionConfig | DutchAuctionConfig:
    if campaign.type == ENGLISH:
        return EnglishAuctionConfig.model_validate(campaign.config)
    return DutchAuctionConfig.model_validate(campaign.config)


def _lot_values(site: SiteContext, campaign: Campaign, now: datetime) -> dict[str, Any]:
    config = _config(campaign)
    opens_at, ends_at = campaign.starts_at, campaign.ends_at
    values: dict[str, Any] = {
        "campaign": campaign.code,
        "sku": config.sku,
        "warehouse": config.warehouse,
        "quantity": config.quantity,
        "remaining": config.quantity,
        "status": LotStatus.OPENING.value,
        "start_fen": to_fen(config.start_price),
        "opens_at": opens_at,
        "closes_at": ends_at,
        "bid_count": 0,
        "extensions": 0,
        "hold_reference": holds.reference_for(site, campaign.code),
        "created_at": now,
        "updated_at": now,
        "soft_close_seconds": 0,
        "extension_seconds": 0,
    }
    if isinstance(config, EnglishAuctionConfig):
        values.update(
            kind=LotKind.ENGLISH.value,
            increment_fen=to_fen(config.increment),
            reserve_fen=None if config.reserve_price is None else to_fen(config.reserve_price),
            soft_close_seconds=config.soft_close_seconds,
            extension_seconds=config.extension_seconds,
            hard_close_at=ends_at + timedelta(minutes=config.max_extension_minutes),
        )
    else:
        values.update(
            kind=LotKind.DUTCH.value,
            step_fen=to_fen(config.step),
            interval_seconds=config.interval_seconds,
            floor_fen=to_fen(config.floor_price),
            max_per_dealer=config.max_per_dealer,
            hard_close_at=ends_at,
        )
    margin = timedelta(minutes=settings_for(site).hold_margin_minutes)
    values["hold_expires_at"] = values["hard_close_at"] + margin
    return values


def _read_lot(site: SiteContext, code: str) -> AuctionLot | None:
    with site.database.reading() as session:
        return session.scalar(select(AuctionLot).where(AuctionLot.campaign == code))


def open_lot(site: SiteContext, campaign: Campaign, *, retry: bool = False) -> AuctionLot | None:
    """The lot of *campaign*, holding its stock first if no one has (idempotent).

    Only one caller holds the stock: it takes the lot to ``opening`` with a conditional
    insert or update, holds in HQ (idempotent on the lot's reference), then marks the lot
    ``open`` or ``unavailable``. *retry* also retries an ``unavailable`` lot (the sweep).
    A draft or cancelled campaign has no lot.
    """
    lot = _read_lot(site, campaign.code)
    now = site.platform.clock.now()
    if campaign.status not in (CampaignStatus.SCHEDULED.value, CampaignStatus.ENDED.value):
        return lot
    if lot is not None:
        stale = lot.status == LotStatus.OPENING.value and lot.updated_at <= now - STALE_OPENING
        if not stale and not (retry and lot.status == LotStatus.UNAVAILABLE.value):
            return lot
    if now >= campaign.ends_at and lot is None:
        return None  # never opened and already over: nothing to hold
    with site.database.transaction() as session:
        if lot is None:
            claimed = int(
                session.execute(
                    _insert(session)(AuctionLot)
                    .values(**_lot_values(site, campaign, now))
                    .on_conflict_do_nothing(index_elements=["campaign"])
                    .returning(AuctionLot.id)
                ).first()
                is not None,
            )
        else:
            claimed = _changed(
                session,
                update(AuctionLot)
                .where(
                    AuctionLot.id == lot.id,
                    AuctionLot.status == lot.status,
                    AuctionLot.updated_at == _when(lot.updated_at),
                )
                .values(status=LotStatus.OPENING.value, updated_at=now),
            )
    if claimed != 1:
        return _read_lot(site, campaign.code)
    lot = _read_lot(site, campaign.code)
    assert lot is not None
    found = holds.hold_lot(
        site,
        reference=lot.hold_reference,
        sku=lot.sku,
        warehouse=lot.warehouse,
        units=lot.remaining,
        expires_at=lot.hold_expires_at,
    )
    with site.database.transaction() as session:
        session.execute(
            update(AuctionLot)
            .where(AuctionLot.id == lot.id, AuctionLot.status == LotStatus.OPENING.value)
            .values(
                status=(LotStatus.OPEN if found.held else LotStatus.UNAVAILABLE).value,
                sku_id=found.sku_id,
                list_unit_fen=found.list_unit_fen,
                note=found.note,
                updated_at=site.platform.clock.now(),
            )
        )
    return _read_lot(site, campaign.code)


def cancel_lot(site: SiteContext, code: str) -> None:
    """The campaign was cancelled: the lot is, and its stock goes back (idempotent)."""
    now = site.platform.clock.now()
    with site.database.transaction() as session:
        lot = session.scalar(select(AuctionLot).where(AuctionLot.campaign == code))
        if lot is None:
            return
        session.execute(
            update(AuctionLot)
            .where(
                AuctionLot.id == lot.id,
                AuctionLot.status.in_(
                    [LotStatus.OPENING.value, LotStatus.OPEN.value, LotStatus.UNAVAILABLE.value]
                ),
            )
            .values(status=LotStatus.CANCELLED.value, closed_at=now, updated_at=now)
        )
        reference = lot.hold_reference
    holds.release_lot(site, reference=reference)


def end_early(site: SiteContext, code: str) -> None:
    """The operator ended the campaign now: bidding stops now, and the lot is settled."""
    now = site.platform.clock.now()
    with site.database.transaction() as session:
        session.execute(
            update(AuctionLot)
            .where(
                AuctionLot.campaign == code,
                AuctionLot.status == LotStatus.OPEN.value,
                AuctionLot.closes_at > now,
            )
            .values(closes_at=now, updated_at=now)
        )
    close_due(site)


def resync_untouched(site: SiteContext, campaign: Campaign) -> None:
    """A scheduled campaign was edited before it started: hold its lot again, as edited."""
    lot = _read_lot(site, campaign.code)
    now = site.platform.clock.now()
    if lot is None or now >= lot.opens_at or lot.bid_count or lot.remaining != lot.quantity:
        return
    with site.database.transaction() as session:
        gone = _changed(
            session,
            update(AuctionLot)
            .where(
                AuctionLot.id == lot.id,
                AuctionLot.bid_count == 0,
                AuctionLot.status.in_([LotStatus.OPEN.value, LotStatus.UNAVAILABLE.value]),
            )
            .values(status=LotStatus.CANCELLED.value, updated_at=now),
        )
        if gone:
            session.execute(delete(AuctionLot).where(AuctionLot.id == lot.id))
    if gone:
        holds.release_lot(site, reference=lot.hold_reference)
        open_lot(site, campaign)


# --- bids (English) ----------------------------------------------------------------------


def _lot_for_action(site: SiteContext, code: str, dealer: DealerView, kind: LotKind) -> AuctionLot:
    campaign = find_campaign(site, code, dealer)
    if campaign.type != (ENGLISH if kind is LotKind.ENGLISH else DUTCH):
        verb = "bid on" if kind is LotKind.ENGLISH else "buy from"
        raise Conflict(
            f"auction {code!r} is a {campaign.type}; one cannot {verb} it",
            code="wrong_auction_type",
            field="code",
            details={"type": campaign.type},
        )
    lot = open_lot(site, campaign)
    now = site.platform.clock.now()
    if lot is None or lot.status in (LotStatus.OPENING.value,):
        raise Conflict(
            f"auction {code!r} is still opening; retry shortly",
            code="auction_not_open",
            field="code",
        )
    if lot.status == LotStatus.UNAVAILABLE.value:
        raise Conflict(
            f"auction {code!r} has no stock held: {lot.note}",
            code="auction_lot_unavailable",
            field="code",
        )
    if now < lot.opens_at:
        raise Conflict(
            f"auction {code!r} opens at {lot.opens_at.isoformat()}",
            code="auction_not_started",
            field="code",
            details={"opens_at": lot.opens_at.isoformat()},
        )
    return lot


def _closed(code: str, lot: AuctionLot) -> Conflict:
    return Conflict(
        f"auction {code!r} closed at {lot.closes_at.isoformat()}",
        code="auction_closed",
        field="code",
        details={"closes_at": lot.closes_at.isoformat()},
    )


def minimum_bid_fen(lot: AuctionLot) -> int:
    """The least the next bid may be."""
    if lot.current_fen is None:
        return lot.start_fen
    return lot.current_fen + (lot.increment_fen or 0)


def place_bid(
    site: SiteContext, code: str, *, dealer: DealerView, dealer_id: int, amount_fen: int
) -> BidOut:
    """Accept *dealer*'s bid if it beats the leader by the increment before the end.

    One conditional ``UPDATE`` decides (and applies the soft close); the accepted bid is
    written in the same transaction with its place in the sequence. Refusals: 409
    ``auction_closed``, ``bid_too_low`` (with the minimum), 422 ``bid_above_list_price``.
    """
    lot = _lot_for_action(site, code, dealer, LotKind.ENGLISH)
    now = site.platform.clock.now()
    if lot.list_unit_fen is not None and amount_fen > lot.list_unit_fen:
        raise InvalidInput(
            f"a bid may not exceed the site's price of {lot.sku}, "
            f"{from_fen(lot.list_unit_fen)} yuan",
            code="bid_above_list_price",
            field="amount",
            details={"list_price": str(from_fen(lot.list_unit_fen))},
        )
    extended_to = min(now + timedelta(seconds=lot.extension_seconds), lot.hard_close_at)
    in_final_window = AuctionLot.closes_at <= _when(now + timedelta(seconds=lot.soft_close_seconds))
    extends = and_(in_final_window, AuctionLot.closes_at < _when(extended_to))
    with site.database.transaction() as session:
        accepted = session.execute(
            update(AuctionLot)
            .where(
                AuctionLot.id == lot.id,
                AuctionLot.status == LotStatus.OPEN.value,
                AuctionLot.opens_at <= _when(now),
                AuctionLot.closes_at > _when(now),
                or_(
                    and_(AuctionLot.current_fen.is_(None), AuctionLot.start_fen <= amount_fen),
                    AuctionLot.current_fen + AuctionLot.increment_fen <= amount_fen,
                ),
            )
            .values(
                current_fen=amount_fen,
                leader=dealer.code,
                leader_id=dealer_id,
                bid_count=AuctionLot.bid_count + 1,
                closes_at=case((extends, _when(extended_to)), else_=AuctionLot.closes_at),
                extensions=case((extends, AuctionLot.extensions + 1), else_=AuctionLot.extensions),
                updated_at=now,
            )
            .returning(AuctionLot.bid_count, AuctionLot.closes_at, AuctionLot.extensions)
        ).first()
        if accepted is None:
            current = session.get(AuctionLot, lot.id, populate_existing=True)
            assert current is not None
            if current.status != LotStatus.OPEN.value or current.closes_at <= now:
                raise _closed(code, current)
            minimum = minimum_bid_fen(current)
            raise Conflict(
                f"a bid must be at least {from_fen(minimum)} yuan a unit",
                code="bid_too_low",
                field="amount",
                details={
                    "minimum": str(from_fen(minimum)),
                    "current": None
                    if current.current_fen is None
                    else str(from_fen(current.current_fen)),
                },
            )
        seq, closes_at, extensions = accepted
        bid = AuctionBid(
            lot_id=lot.id,
            seq=seq,
            dealer=dealer.code,
            amount_fen=amount_fen,
            placed_at=now,
            closes_at=closes_at,
            extended=extensions > lot.extensions and closes_at > lot.closes_at,
        )
        session.add(bid)
        session.flush()
        return _bid_out(bid, viewer=dealer.code)


# --- purchases (Dutch) -------------------------------------------------------------------


def price_now(lot: AuctionLot, now: datetime) -> tuple[int, int]:
    """(step, unit price in fen) of a Dutch lot at *now*."""
    assert lot.interval_seconds is not None and lot.step_fen is not None
    step = dutch_step(lot.opens_at, now, lot.interval_seconds)
    price = dutch_price_fen(
        start_fen=lot.start_fen, step_fen=lot.step_fen, floor_fen=lot.floor_fen or 0, step=step
    )
    return step, price


def buy(
    site: SiteContext,
    code: str,
    *,
    dealer: DealerView,
    dealer_id: int,
    quantity: int,
    expected_fen: int | None,
) -> SaleOut:
    """Take *quantity* units of a Dutch lot at the step price in force, and order them.

    The units are taken with one conditional ``UPDATE`` (``remaining >= quantity``) and the
    dealer's cap with another, in one transaction; the order follows through the normal
    order path at the price of the step. Refusals: 409 ``price_changed``,
    ``auction_sold_out``, ``lot_insufficient``, ``auction_closed``, ``dealer_limit_reached``.
    """
    lot = _lot_for_action(site, code, dealer, LotKind.DUTCH)
    now = site.platform.clock.now()
    step, price = price_now(lot, now)
    if expected_fen is not None and expected_fen != price:
        raise Conflict(
            f"the price is now {from_fen(price)} yuan a unit",
            code="price_changed",
            field="expected_price",
            details={"price": str(from_fen(price)), "step": step},
        )
    with site.database.transaction() as session:
        taken = session.execute(
            update(AuctionLot)
            .where(
                AuctionLot.id == lot.id,
                AuctionLot.status == LotStatus.OPEN.value,
                AuctionLot.opens_at <= _when(now),
                AuctionLot.closes_at > _when(now),
                AuctionLot.remaining >= quantity,
            )
            .values(
                remaining=AuctionLot.remaining - quantity,
                status=case(
                    (AuctionLot.remaining == quantity, LotStatus.SOLD.value),
                    else_=AuctionLot.status,
                ),
                closed_at=case(
                    (AuctionLot.remaining == quantity, _when(now)), else_=AuctionLot.closed_at
                ),
                updated_at=now,
            )
            .returning(AuctionLot.remaining)
        ).first()
        if taken is None:
            current = session.get(AuctionLot, lot.id, populate_existing=True)
            assert current is not None
            if current.remaining == 0:
                raise Conflict(
                    f"auction {code!r} is sold out", code="auction_sold_out", field="code"
                )
            if current.status != LotStatus.OPEN.value or current.closes_at <= now:
                raise _closed(code, current)
            raise Conflict(
                f"only {current.remaining} unit(s) remain",
                code="lot_insufficient",
                field="quantity",
                details={"remaining": current.remaining},
            )
        if lot.max_per_dealer is not None:
            session.execute(
                _insert(session)(DealerTake)
                .values(lot_id=lot.id, dealer=dealer.code, units=0)
                .on_conflict_do_nothing()
            )
            capped = _changed(
                session,
                update(DealerTake)
                .where(
                    DealerTake.lot_id == lot.id,
                    DealerTake.dealer == dealer.code,
                    DealerTake.units + quantity <= lot.max_per_dealer,
                )
                .values(units=DealerTake.units + quantity),
            )
            if capped != 1:
                raise Conflict(
                    f"a dealer may take at most {lot.max_per_dealer} unit(s) of this lot",
                    code="dealer_limit_reached",
                    field="quantity",
                    details={"max_per_dealer": lot.max_per_dealer},
                )
        sale = AuctionSale(
            lot_id=lot.id,
            dealer=dealer.code,
            dealer_id=dealer_id,
            quantity=quantity,
            unit_fen=price,
            step=step,
            sold_at=now,
            status=SaleStatus.PENDING.value,
        )
        session.add(sale)
        session.flush()
        sale_id = sale.id
    settled = settle_sale(site, lot.campaign, sale_id)
    if settled.status == SaleStatus.FAILED.value:
        raise Conflict(
            f"the order for these units was refused: {settled.failure}",
            code="auction_order_failed",
            field="quantity",
            details={"sale": settled.id},
        )
    return settled


# --- closing and settlement --------------------------------------------------------------


@dataclass
class _Tally:
    opened: int = 0
    closed: int = 0
    placed: int = 0
    failed: int = 0


def settle_sale(site: SiteContext, campaign_code: str, sale_id: int) -> SaleOut:
    """Place the sale's order from the lot's hold, at the sale's price (idempotent: the
    sale's key replays the first answer, so the sweep may retry a sale left pending).

    The kernel's ``place_held`` moves the units from the lot's hold to the order in the
    order's own HQ transaction, so no other order can take them meanwhile. A refused order
    (an inactive dealer, a price under a floor set since) marks the sale ``failed``: a Dutch
    lot still open takes the units back for other buyers (they never left its hold);
    otherwise they are released.
    """
    with site.database.reading() as session:
        sale = session.get(AuctionSale, sale_id)
        lot = session.scalar(select(AuctionLot).where(AuctionLot.campaign == campaign_code))
        campaign = session.scalar(select(Campaign.name).where(Campaign.code == campaign_code))
    assert sale is not None and lot is not None
    if sale.status != SaleStatus.PENDING.value:
        return _sale_out(sale, with_dealer=True)
    price = from_fen(sale.unit_fen)
    how = "won at auction" if lot.kind == LotKind.ENGLISH.value else f"bought at step {sale.step}"
    outcome = place_held(
        site,
        dealer_id=sale.dealer_id,
        idempotency_key=f"auction-sale:{lot.campaign}:{sale.id}",
        lines=[HeldLine(lot.sku, sale.quantity, sale.unit_fen)],
        reservation_reference=lot.hold_reference,
        campaign=HeldCampaign(
            source=PLUGIN_NAME,
            code=lot.campaign,
            name=campaign or lot.campaign,
            reason=f"{how} at {price} yuan a unit",
        ),
        kind="auction",
        note=f"auction {lot.campaign}: {sale.quantity} x {lot.sku} at {price} yuan",
    )
    if outcome.error_code == "idempotency_in_progress":
        return _sale_out(sale, with_dealer=True)  # another worker is settling it right now
    now = site.platform.clock.now()
    failed = not outcome.placed
    returned = 0
    with site.database.transaction() as session:
        moved = _changed(
            session,
            update(AuctionSale)
            .where(AuctionSale.id == sale.id, AuctionSale.status == SaleStatus.PENDING.value)
            .values(
                status=(SaleStatus.FAILED if failed else SaleStatus.ORDERED).value,
                order_number=outcome.number,
                failure=None
                if not failed
                else f"{outcome.error_code}: {outcome.error_message}"[:300],
                settled_at=now,
            ),
        )
        if moved and failed and lot.kind == LotKind.DUTCH.value:
            returned = _changed(
                session,
                update(AuctionLot)
                .where(
                    AuctionLot.id == lot.id,
                    AuctionLot.closes_at > _when(now),
                    AuctionLot.status.in_([LotStatus.OPEN.value, LotStatus.SOLD.value]),
                )
                .values(
                    remaining=AuctionLot.remaining + sale.quantity,
                    status=LotStatus.OPEN.value,
                    closed_at=None,
                    updated_at=now,
                ),
            )
            if returned:
                session.execute(
                    update(DealerTake)
                    .where(
                        DealerTake.lot_id == lot.id,
                        DealerTake.dealer == sale.dealer,
                        DealerTake.units >= sale.quantity,
                    )
                    .values(units=DealerTake.units - sale.quantity)
                )
    if moved and failed and not returned:
        holds.release_units(site, reference=lot.hold_reference, sku=lot.sku, units=sale.quantity)
    with site.database.reading() as session:
        final = session.get(AuctionSale, sale.id)
        assert final is not None
        return _sale_out(final, with_dealer=True)


def _close_one(site: SiteContext, lot_id: int, now: datetime, tally: _Tally) -> None:
    sale_id: int | None = None
    with site.database.transaction() as session:
        query = select(AuctionLot).where(AuctionLot.id == lot_id)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        lot = session.scalar(query)
        if lot is None or lot.status != LotStatus.OPEN.value or lot.closes_at > now:
            return
        sold = (
            lot.kind == LotKind.ENGLISH.value
            and lot.leader is not None
            and ((lot.current_fen or 0) >= (lot.reserve_fen or 0))
        )
        ended_empty = lot.kind == LotKind.DUTCH.value and lot.remaining == 0
        lot.status = (LotStatus.SOLD if sold or ended_empty else LotStatus.UNSOLD).value
        lot.closed_at, lot.updated_at = now, now
        if sold:
            assert lot.leader is not None and lot.leader_id is not None
            assert lot.current_fen is not None
            lot.remaining = 0
            sale = AuctionSale(
                lot_id=lot.id,
                dealer=lot.leader,
                dealer_id=lot.leader_id,
                quantity=lot.quantity,
                unit_fen=lot.current_fen,
                step=None,
                sold_at=now,
                status=SaleStatus.PENDING.value,
            )
            session.add(sale)
            session.flush()
            sale_id = sale.id
        elif lot.kind == LotKind.ENGLISH.value:
            lot.note = "no bid met the reserve" if lot.leader else "no bids"
        campaign, reference, sku, unsold = lot.campaign, lot.hold_reference, lot.sku, lot.remaining
    tally.closed += 1
    if sale_id is not None:
        result = settle_sale(site, campaign, sale_id)
        tally.placed += result.status == SaleStatus.ORDERED.value
        tally.failed += result.status == SaleStatus.FAILED.value
    else:
        # Only the unsold units: those of Dutch sales still settling stay with their sale.
        holds.release_units(site, reference=reference, sku=sku, units=unsold)


def close_due(site: SiteContext) -> SweepOut:
    """Open lots not yet held, close the lots past their end, settle sales left pending.

    Safe to run anywhere, any number of times at once: each step is a conditional update
    or an idempotent order (``vintry auction sweep``, ``POST /api/v1/x/auction/sweep``).
    """
    now = site.platform.clock.now()
    tally = _Tally()
    with site.database.reading() as session:
        campaigns = list(
            session.scalars(
                select(Campaign).where(
                    Campaign.type.in_(AUCTION_TYPES),
                    Campaign.status.in_(
                        [CampaignStatus.SCHEDULED.value, CampaignStatus.ENDED.value]
                    ),
                    Campaign.ends_at > now,
                )
            )
        )
        known = {
            code: status
            for code, status in session.execute(
                select(AuctionLot.campaign, AuctionLot.status).where(
                    AuctionLot.campaign.in_([c.code for c in campaigns])
                )
            )
        }
        due = list(
            session.scalars(
                select(AuctionLot.id).where(
                    AuctionLot.status == LotStatus.OPEN.value, AuctionLot.closes_at <= _when(now)
                )
            )
        )
        pending = list(
            session.execute(
                select(AuctionLot.campaign, AuctionSale.id)
                .join(AuctionLot, AuctionLot.id == AuctionSale.lot_id)
                .where(
                    AuctionSale.status == SaleStatus.PENDING.value,
                    AuctionSale.sold_at <= _when(now - STALE_OPENING),
                )
            )
        )
    for campaign in campaigns:
        if known.get(campaign.code) in (None, LotStatus.UNAVAILABLE.value, LotStatus.OPENING.value):
            lot = open_lot(site, campaign, retry=True)
            tally.opened += bool(lot is not None and lot.status == LotStatus.OPEN.value)
    for lot_id in due:
        _close_one(site, lot_id, now, tally)
    for campaign_code, sale_id in pending:
        result = settle_sale(site, campaign_code, sale_id)
        tally.placed += result.status == SaleStatus.ORDERED.value
        tally.failed += result.status == SaleStatus.FAILED.value
    return SweepOut(
        opened=tally.opened,
        closed=tally.closed,
        orders_placed=tally.placed,
        orders_failed=tally.failed,
    )


# --- views -------------------------------------------------------------------------------


def _bid_out(bid: AuctionBid, *, viewer: str | None = None, with_dealer: bool = False) -> BidOut:
    return BidOut(
        seq=bid.seq,
        amount=from_fen(bid.amount_fen),
        placed_at=bid.placed_at,
        closes_at=bid.closes_at,
        extended=bid.extended,
        dealer=bid.dealer if with_dealer else None,
        mine=viewer is not None and bid.dealer == viewer,
    )


def _sale_out(sale: AuctionSale, *, with_dealer: bool) -> SaleOut:
    return SaleOut(
        id=sale.id,
        quantity=sale.quantity,
        unit_price=from_fen(sale.unit_fen),
        step=sale.step,
        sold_at=sale.sold_at,
        status=sale.status,
        order=sale.order_number,
        failure=sale.failure,
        dealer=sale.dealer if with_dealer else None,
    )


def auction_out(
    site: SiteContext,
    campaign: Campaign,
    *,
    viewer: DealerView | None,
    bids_shown: int | None = None,
) -> AuctionOut:
    """*campaign* with its lot, for a dealer (*viewer*) or, without one, for operators."""
    lot = open_lot(site, campaign) if viewer is not None else _read_lot(site, campaign.code)
    now = site.platform.clock.now()
    settings = settings_for(site)
    operator = viewer is None
    if bids_shown is not None:
        limit: int | None = bids_shown
    else:
        limit = None if operator else settings.recent_bids_shown
    bids: list[AuctionBid] = []
    sales: list[AuctionSale] = []
    if lot is not None:
        with site.database.reading() as session:
            query = (
                select(AuctionBid)
                .where(AuctionBid.lot_id == lot.id)
                .order_by(AuctionBid.seq.desc())
            )
            if limit is not None:
                query = query.limit(limit)
            bids = list(session.scalars(query))
            sale_query = select(AuctionSale).where(AuctionSale.lot_id == lot.id)
            if viewer is not None:
                sale_query = sale_query.where(AuctionSale.dealer == viewer.code)
            sales = list(session.scalars(sale_query.order_by(AuctionSale.id)))
    state = state_of(campaign, now).value
    out = AuctionOut(
        code=campaign.code,
        name=campaign.name,
        type=campaign.type,
        state=state,
        lot_status=lot.status if lot is not None else "not_opened",
        sku=_config(campaign).sku,
        quantity=_config(campaign).quantity,
        remaining=lot.remaining if lot is not None else _config(campaign).quantity,
        opens_at=campaign.starts_at,
        closes_at=lot.closes_at if lot is not None else campaign.ends_at,
        scheduled_close=campaign.ends_at,
        bidding_open=lot is not None
        and lot.status == LotStatus.OPEN.value
        and lot.opens_at <= now < lot.closes_at,
        current_price=None,
        note=lot.note if lot is not None else None,
        bids=[
            _bid_out(b, viewer=viewer.code if viewer else None, with_dealer=operator) for b in bids
        ],
        sales=[_sale_out(s, with_dealer=operator) for s in sales],
    )
    if lot is None:
        return out
    out.extensions, out.bid_count = lot.extensions, lot.bid_count
    if lot.kind == LotKind.ENGLISH.value:
        out.current_price = None if lot.current_fen is None else from_fen(lot.current_fen)
        out.next_minimum_bid = from_fen(minimum_bid_fen(lot))
        out.reserve_met = lot.reserve_fen is None or (lot.current_fen or 0) >= lot.reserve_fen
        if lot.reserve_fen is not None and (operator or settings.reveal_reserve):
            out.reserve_price = from_fen(lot.reserve_fen)
        out.leading = None if operator else lot.leader == viewer.code if viewer else None
        out.leader = lot.leader if operator else None
    else:
        step, price = price_now(lot, now)
        out.step, out.current_price = step, from_fen(price)
        out.floor_price = from_fen(lot.floor_fen or 0)
        assert lot.interval_seconds is not None
        following = lot.opens_at + timedelta(seconds=lot.interval_seconds * (step + 1))
        if price > (lot.floor_fen or 0) and following < lot.closes_at:
            out.next_step_at = following
    return out


def list_auctions(site: SiteContext, *, viewer: DealerView | None) -> list[AuctionOut]:
    """The site's auctions: for a dealer the published ones aimed at it, not yet over a day."""
    now = site.platform.clock.now()
    with site.database.reading() as session:
        query = select(Campaign).where(Campaign.type.in_(AUCTION_TYPES))
        if viewer is not None:
            query = query.where(
                Campaign.status.in_([CampaignStatus.SCHEDULED.value, CampaignStatus.ENDED.value]),
                Campaign.ends_at > now - timedelta(days=1),
            )
        campaigns = list(session.scalars(query.order_by(Campaign.starts_at, Campaign.code)))
    if viewer is not None:
        campaigns = [c for c in campaigns if targets(c, viewer)]
    return [auction_out(site, c, viewer=viewer, bids_shown=0) for c in campaigns]
