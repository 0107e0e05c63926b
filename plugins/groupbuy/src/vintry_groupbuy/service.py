"""Group buys: opening and joining groups, success exactly once, settlement and failure.

A join holds the member's units in HQ, then — in one site transaction — inserts the member
and takes a place in the group with a conditional update (open or succeeded, not expired,
not full). Success is a second conditional update, ``open`` → ``succeeded`` when the
minimums are met, in the same transaction: only the join that crosses the minimums moves
it, so it fires once however many joins race. The sweep fails expired groups (every hold
released) and settles closed successful ones (every member's order at the tier reached).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from vintry.campaigns.models import Campaign, CampaignState, CampaignStatus
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
    hold_stock,
    place_held,
    release_stock,
    to_fen,
)

from vintry_groupbuy import holds
from vintry_groupbuy.campaign_types import GROUP_BUY, GroupBuyConfig
from vintry_groupbuy.config import GroupbuySettings
from vintry_groupbuy.models import Group, GroupStatus, Member, MemberStatus, Transition
from vintry_groupbuy.schemas import DealOut, GroupOut, MemberOut, SweepOut, TierOut

PLUGIN_NAME = "groupbuy"
JOINABLE = (GroupStatus.OPEN.value, GroupStatus.SUCCEEDED.value)
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def settings_for(site: SiteContext) -> GroupbuySettings:
    """The plugin's configuration in force on *site*."""
    return GroupbuySettings.model_validate(site.config(PLUGIN_NAME))


def _changed(session: Session, statement: Any) -> int:
    return int(cast("CursorResult[Any]", session.execute(statement)).rowcount)


def _when(value: datetime) -> Any:
    return literal(value, UTCDateTime())


def _deal_not_found(code: str) -> NotFound:
    return NotFound(f"group-buy deal {code!r} does not exist", code="deal_not_found", field="code")


def _group_not_found(code: str) -> NotFound:
    return NotFound(f"group {code!r} does not exist", code="group_not_found", field="group")


def find_deal(site: SiteContext, code: str, dealer: DealerView | None = None) -> Campaign:
    """Deal *code* of *site*; for a *dealer* only a published one aimed at it."""
    with site.database.reading() as session:
        deal = session.scalar(
            select(Campaign).where(Campaign.code == code, Campaign.type == GROUP_BUY)
        )
    if deal is None:
        raise _deal_not_found(code)
    if dealer is not None and (
        deal.status not in (CampaignStatus.SCHEDULED.value, CampaignStatus.ENDED.value)
        or not targets(deal, dealer)
    ):
        raise _deal_not_found(code)
    return deal


def _config(deal: Campaign) -> GroupBuyConfig:
    return GroupBuyConfig.model_validate(deal.config)


def find_group(site: SiteContext, code: str, dealer: DealerView | None = None) -> Group:
    """Group *code* of *site*; for a *dealer*, only one of a deal aimed at it."""
    with site.database.reading() as session:
        group = session.scalar(select(Group).where(Group.code == code))
    if group is None:
        raise _group_not_found(code)
    if dealer is not None:
        try:
            find_deal(site, group.campaign, dealer)
        except NotFound:
            raise _group_not_found(code) from None
    return group


def _live_deal(site: SiteContext, code: str, dealer: DealerView) -> tuple[Campaign, GroupBuyConfig]:
    deal = find_deal(site, code, dealer)
    if state_of(deal, site.platform.clock.now()) is not CampaignState.LIVE:
        raise Conflict(
            f"deal {code!r} is not live",
            code="deal_not_live",
            field="code",
            details={"state": state_of(deal, site.platform.clock.now()).value},
        )
    return deal, _config(deal)


def _check_quantity(config: GroupBuyConfig, quantity: int) -> None:
    if quantity < config.min_per_member or (
        config.max_per_member is not None and quantity > config.max_per_member
    ):
        most = config.max_per_member or "any number of"
        raise InvalidInput(
            f"a member takes {config.min_per_member} to {most} unit(s)",
            code="quantity_out_of_range",
            field="quantity",
            details={"min": config.min_per_member, "max": config.max_per_member},
        )


def open_group(
    site: SiteContext, deal_code: str, *, dealer: DealerView, dealer_id: int, quantity: int
) -> GroupOut:
    """Open a group on a live deal; the caller is its first member (its units held)."""
    deal, config = _live_deal(site, deal_code, dealer)
    _check_quantity(config, quantity)
    now = site.platform.clock.now()
    code = "G" + "".join(secrets.choice(_ALPHABET) for _ in range(11))
    expires_at = min(now + timedelta(minutes=config.group_minutes), deal.ends_at)
    with site.database.transaction() as session:
        session.add(
            Group(
                code=code,
                campaign=deal.code,
                sku=config.sku,
                status=GroupStatus.OPEN.value,
                participants=0,
                total_quantity=0,
                min_participants=config.min_participants,
                min_quantity=config.min_quantity,
                max_participants=config.max_participants,
                opened_by=dealer.code,
                opened_at=now,
                expires_at=expires_at,
                succeeded_at=None,
                closed_at=None,
                tier_unit_fen=None,
                updated_at=now,
            )
        )
    return join_group(site, code, dealer=dealer, dealer_id=dealer_id, quantity=quantity)


def join_group(
    site: SiteContext, group_code: str, *, dealer: DealerView, dealer_id: int, quantity: int
) -> GroupOut:
    """Join a group with *quantity* units: held in HQ, then one site transaction takes the
    place (conditional) and moves the group to ``succeeded`` when this join meets the
    minimums. Refusals: 409 ``already_member``, ``group_closed``, ``group_full``,
    ``out_of_stock``; the hold is released when the place is refused."""
    group = find_group(site, group_code, dealer)
    deal, config = _live_deal(site, group.campaign, dealer)
    _check_quantity(config, quantity)
    now = site.platform.clock.now()
    if group.status not in JOINABLE or group.expires_at <= now:
        raise _closed(group)
    reference = holds.reference_for(site, group.code, dealer.code)
    with site.database.reading() as session:
        if (
            session.scalar(
                select(Member.id).where(Member.group_id == group.id, Member.dealer == dealer.code)
            )
            is not None
        ):
            raise _already(group)
    margin = timedelta(minutes=settings_for(site).hold_margin_minutes)
    hold_stock(  # 409 out_of_stock when the warehouses lack the units
        site,
        reference=reference,
        sku=config.sku,
        quantity=quantity,
        expires_at=group.expires_at + margin,
        warehouse=config.warehouse,
    )
    succeeded = False
    try:
        with site.database.transaction() as session:
            placed = _changed(
                session,
                update(Group)
                .where(
                    Group.id == group.id,
                    Group.status.in_(JOINABLE),
                    Group.expires_at > _when(now),
                    or_(
                        Group.max_participants.is_(None),
                        Group.participants < Group.max_participants,
                    ),
                )
                .values(
                    participants=Group.participants + 1,
                    total_quantity=Group.total_quantity + quantity,
                    updated_at=now,
                ),
            )
            if placed != 1:
                current = session.get(Group, group.id, populate_existing=True)
                assert current is not None
                if current.status in JOINABLE and current.expires_at > now:
                    raise Conflict(
                        f"group {group.code!r} is full",
                        code="group_full",
                        field="group",
                        details={"max": current.max_participants},
                    )
                raise _closed(current)
            session.add(
                Member(
                    group_id=group.id,
                    dealer=dealer.code,
                    dealer_id=dealer_id,
                    quantity=quantity,
                    joined_at=now,
                    status=MemberStatus.HELD.value,
                    hold_reference=reference,
                    order_number=None,
                    failure=None,
                )
            )
            session.flush()
            succeeded = (
                _changed(
                    session,
                    update(Group)
                    .where(
                        Group.id == group.id,
                        Group.status == GroupStatus.OPEN.value,
                        Group.participants >= Group.min_participants,
                        Group.total_quantity >= Group.min_quantity,
                    )
                    .values(status=GroupStatus.SUCCEEDED.value, succeeded_at=now),
                )
                == 1
            )
            if succeeded:
                _record(session, group.id, GroupStatus.SUCCEEDED, now, dealer.code)
    except IntegrityError:
        raise _already(group) from None  # a concurrent join of the same dealer won
    except Exception:
        release_stock(site, reference=reference)
        raise
    if succeeded:
        site.platform.emit(
            "groupbuy.succeeded",
            site.code,
            {"group": group.code, "deal": deal.code, "by": dealer.code},
        )
    return group_out(site, find_group(site, group.code), viewer=dealer)


def _record(
    session: Session, group_id: int, status: GroupStatus, now: datetime, dealer: str | None
) -> None:
    counts = session.execute(
        select(Group.participants, Group.total_quantity).where(Group.id == group_id)
    ).one()
    session.add(
        Transition(
            group_id=group_id,
            status=status.value,
            at=now,
            participants=counts[0],
            total_quantity=counts[1],
            by_dealer=dealer,
        )
    )
    session.flush()


def _closed(group: Group) -> Conflict:
    return Conflict(
        f"group {group.code!r} no longer takes members ({group.status})",
        code="group_closed",
        field="group",
        details={"status": group.status, "expires_at": group.expires_at.isoformat()},
    )


def _already(group: Group) -> Conflict:
    return Conflict(
        f"the dealer is already a member of group {group.code!r}",
        code="already_member",
        field="group",
    )


# --- the sweep -----------------------------------------------------------------------------


@dataclass
class _Tally:
    failed: int = 0
    settled: int = 0
    placed: int = 0
    refused: int = 0
    released: int = 0


def _fail(site: SiteContext, group_id: int, now: datetime, tally: _Tally) -> None:
    with site.database.transaction() as session:
        moved = _changed(
            session,
            update(Group)
            .where(
                Group.id == group_id,
                Group.status == GroupStatus.OPEN.value,
                Group.expires_at <= _when(now),
            )
            .values(status=GroupStatus.FAILED.value, closed_at=now, updated_at=now),
        )
        if moved:
            _record(session, group_id, GroupStatus.FAILED, now, None)
    tally.failed += moved
    with site.database.reading() as session:
        members = list(
            session.scalars(
                select(Member).where(
                    Member.group_id == group_id, Member.status == MemberStatus.HELD.value
                )
            )
        )
        status = session.scalar(select(Group.status).where(Group.id == group_id))
    if status != GroupStatus.FAILED.value:
        return
    for member in members:  # released in HQ first: a crash leaves the row to retry
        tally.released += release_stock(site, reference=member.hold_reference)
        with site.database.transaction() as session:
            session.execute(
                update(Member)
                .where(
                    Member.id == member.id,
                    Member.status == MemberStatus.HELD.value,
                )
                .values(status=MemberStatus.RELEASED.value)
            )


def _settle(site: SiteContext, group_id: int, now: datetime, tally: _Tally) -> None:
    with site.database.reading() as session:
        group = session.get(Group, group_id)
        assert group is not None
        deal = session.scalar(select(Campaign).where(Campaign.code == group.campaign))
    assert deal is not None
    config = _config(deal)
    tier = config.tier_for(group.participants, group.total_quantity)
    assert tier is not None  # the config's validator: success reaches the first tier
    unit_fen = to_fen(tier.unit_price)
    with site.database.transaction() as session:
        # Closed at the tier reached: later joins are refused from here on.
        _changed(
            session,
            update(Group)
            .where(
                Group.id == group_id,
                Group.status == GroupStatus.SUCCEEDED.value,
            )
            .values(
                status=GroupStatus.SETTLING.value,
                tier_unit_fen=unit_fen,
                closed_at=now,
                updated_at=now,
            ),
        )
        current = session.get(Group, group_id, populate_existing=True)
        assert current is not None
        if current.status != GroupStatus.SETTLING.value:
            return
        unit_fen = current.tier_unit_fen or unit_fen
        members = list(
            session.scalars(
                select(Member)
                .where(Member.group_id == group_id, Member.status == MemberStatus.HELD.value)
                .order_by(Member.id)
            )
        )
    price = from_fen(unit_fen)
    busy = False
    for member in members:
        outcome = place_held(
            site,
            dealer_id=member.dealer_id,
            idempotency_key=f"groupbuy:{group.code}:{member.dealer}",
            lines=[HeldLine(group.sku, member.quantity, unit_fen)],
            reservation_reference=member.hold_reference,
            campaign=HeldCampaign(
                source=PLUGIN_NAME,
                code=deal.code,
                name=deal.name,
                reason=f"group {group.code} reached {price} yuan a unit",
            ),
            kind="groupbuy",
            note=f"group buy {group.code} ({deal.code}) at {price} yuan a unit",
        )
        if outcome.error_code == "idempotency_in_progress":
            busy = True  # another sweep is placing this member's order right now
            continue
        failed = not outcome.placed
        with site.database.transaction() as session:
            moved = _changed(
                session,
                update(Member)
                .where(
                    Member.id == member.id,
                    Member.status == MemberStatus.HELD.value,
                )
                .values(
                    status=(MemberStatus.FAILED if failed else MemberStatus.ORDERED).value,
                    order_number=outcome.number,
                    failure=f"{outcome.error_code}: {outcome.error_message}"[:300]
                    if failed
                    else None,
                ),
            )
        if moved and failed:  # the order never took the units: give them back
            tally.released += release_stock(site, reference=member.hold_reference)
        tally.placed += not failed
        tally.refused += failed
    if busy:
        return  # still settling: the next sweep finishes it
    with site.database.transaction() as session:
        done = _changed(
            session,
            update(Group)
            .where(
                Group.id == group_id,
                Group.status == GroupStatus.SETTLING.value,
            )
            .values(status=GroupStatus.SETTLED.value, updated_at=site.platform.clock.now()),
        )
        if done:
            _record(session, group_id, GroupStatus.SETTLED, now, None)
    tally.settled += done


def sweep(site: SiteContext) -> SweepOut:
    """Fail expired groups that did not succeed (every hold released) and settle the closed
    successful ones (every member's order at the tier reached). Idempotent, safe to run
    concurrently (``vintry groupbuy sweep``, ``POST /api/v1/x/groupbuy/sweep``)."""
    now = site.platform.clock.now()
    tally = _Tally()
    with site.database.reading() as session:
        expired = list(
            session.scalars(
                select(Group.id).where(
                    Group.status == GroupStatus.OPEN.value, Group.expires_at <= _when(now)
                )
            )
        )
        leftover = list(
            session.scalars(
                select(Member.group_id)
                .join(Group, Group.id == Member.group_id)
                .where(
                    Group.status == GroupStatus.FAILED.value,
                    Member.status == MemberStatus.HELD.value,
                )
                .distinct()
            )
        )
        closing = list(
            session.scalars(
                select(Group.id).where(
                    or_(
                        Group.status == GroupStatus.SETTLING.value,
                        (Group.status == GroupStatus.SUCCEEDED.value)
                        & (
                            or_(
                                Group.expires_at <= _when(now),
                                Group.participants == Group.max_participants,
                            )
                        ),
                    )
                )
            )
        )
    for group_id in [*expired, *leftover]:
        _fail(site, group_id, now, tally)
    for group_id in closing:
        _settle(site, group_id, now, tally)
    return SweepOut(
        failed=tally.failed,
        settled=tally.settled,
        orders_placed=tally.placed,
        orders_failed=tally.refused,
        holds_released=tally.released,
    )


# --- views ---------------------------------------------------------------------------------


def group_out(site: SiteContext, group: Group, *, viewer: DealerView | None) -> GroupOut:
    """*group* for a dealer (*viewer*) or, without one, for operators."""
    with site.database.reading() as session:
        members = list(
            session.scalars(select(Member).where(Member.group_id == group.id).order_by(Member.id))
        )
        deal = session.scalar(select(Campaign).where(Campaign.code == group.campaign))
    assert deal is not None
    config = _config(deal)
    now = site.platform.clock.now()
    show = viewer is None or settings_for(site).show_member_codes
    tier = config.tier_for(group.participants, group.total_quantity)
    value = group.participants if config.tier_basis == "participants" else group.total_quantity
    following = next((t for t in config.tiers if t.at > value), None)
    price = group.tier_unit_fen
    return GroupOut(
        code=group.code,
        deal=group.campaign,
        sku=group.sku,
        status=group.status,
        participants=group.participants,
        total_quantity=group.total_quantity,
        min_participants=group.min_participants,
        min_quantity=group.min_quantity,
        max_participants=group.max_participants,
        opened_at=group.opened_at,
        expires_at=group.expires_at,
        succeeded_at=group.succeeded_at,
        closed_at=group.closed_at,
        joinable=group.status in JOINABLE
        and group.expires_at > now
        and (group.max_participants is None or group.participants < group.max_participants),
        tier_basis=config.tier_basis,
        tier_price=from_fen(price) if price is not None else (tier.unit_price if tier else None),
        next_tier=TierOut(at=following.at, unit_price=following.unit_price)
        if following and group.status in JOINABLE
        else None,
        members=[
            MemberOut(
                dealer=m.dealer if show or (viewer and m.dealer == viewer.code) else None,
                mine=viewer is not None and m.dealer == viewer.code,
                quantity=m.quantity,
                joined_at=m.joined_at,
                status=m.status,
                order=m.order_number if viewer is None or m.dealer == viewer.code else None,
                failure=m.failure if viewer is None or m.dealer == viewer.code else None,
            )
            for m in members
        ],
    )


def deal_out(site: SiteContext, deal: Campaign, *, viewer: DealerView | None) -> DealOut:
    """*deal* with its groups (for dealers, the joinable ones and their own)."""
    config = _config(deal)
    with site.database.reading() as session:
        groups = list(
            session.scalars(
                select(Group).where(Group.campaign == deal.code).order_by(Group.opened_at, Group.id)
            )
        )
        own = (
            set()
            if viewer is None
            else set(session.scalars(select(Member.group_id).where(Member.dealer == viewer.code)))
        )
    now = site.platform.clock.now()
    if viewer is not None:
        groups = [g for g in groups if g.id in own or (g.status in JOINABLE and g.expires_at > now)]
    return DealOut(
        code=deal.code,
        name=deal.name,
        state=state_of(deal, now).value,
        sku=config.sku,
        tier_basis=config.tier_basis,
        tiers=[TierOut(at=t.at, unit_price=t.unit_price) for t in config.tiers],
        min_participants=config.min_participants,
        min_quantity=config.min_quantity,
        group_minutes=config.group_minutes,
        starts_at=deal.starts_at,
        ends_at=deal.ends_at,
        groups=[group_out(site, g, viewer=viewer) for g in groups],
    )


def list_deals(site: SiteContext, *, viewer: DealerView) -> list[DealOut]:
    """The live deals aimed at *viewer*."""
    now = site.platform.clock.now()
    with site.database.reading() as session:
        deals = list(
            session.scalars(
                select(Campaign)
                .where(
                    Campaign.type == GROUP_BUY,
                    Campaign.status == CampaignStatus.SCHEDULED.value,
                    Campaign.starts_at <= _when(now),
                    Campaign.ends_at > _when(now),
                )
                .order_by(Campaign.priority.desc(), Campaign.code)
            )
        )
    return [deal_out(site, d, viewer=viewer) for d in deals if targets(d, viewer)]
