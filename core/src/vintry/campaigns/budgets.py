"""Built-in plugin ``vintry-campaigns``: campaigns' budgets, drawn atomically by the orders
that use them and given back when those orders fail or are cancelled.

It takes part in placement's saga like any plugin: ``vintry_claim_resources`` draws, for
each applied adjustment naming a campaign of the site, its amount from the money budget,
its units from the unit budget and one use from the dealer's uses, each with one
conditional update (``used + x <= budget``), never a read-then-write, with check
constraints behind them; the order is refused with 409 ``campaign_budget_exhausted`` (or
``campaign_limit_reached``, ``campaign_not_live``) when one does not fit, and nothing of
it is drawn. Each draw is recorded once per (campaign, order), which makes the release
idempotent: ``vintry_release_resources`` (a failed placement, the claims sweeper) and a
cancelled order's ``order.status_changed`` event give back exactly what was drawn, once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from vintry.campaigns import published
from vintry.campaigns.models import Campaign, CampaignDealerUse, CampaignRedemption
from vintry.campaigns.selection import is_live
from vintry.contracts import AdjustmentCandidate, Event, OrderDraft, ResourceClaim
from vintry.errors import Conflict
from vintry.hookspecs import hookimpl
from vintry.money import from_fen, to_fen
from vintry.platform import SiteContext

RESOURCE_PREFIX = "campaign:"


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def draw(
    session: Session,
    campaign: Campaign,
    *,
    order_number: str,
    dealer: str,
    amount_fen: int,
    units: int,
    now: datetime,
) -> None:
    """Draw one order's use of *campaign* in the caller's transaction, or raise 409.

    Three conditional updates, each refusing what would overrun its budget; the caller's
    transaction rolls every draw of the order back when one is refused.
    """
    if not is_live(campaign, now):
        raise Conflict(
            f"campaign {campaign.code!r} is no longer live",
            code="campaign_not_live",
            details={"campaign": campaign.code},
        )
    budget = session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign.id,
            (Campaign.budget_units.is_(None))
            | (Campaign.used_units + units <= Campaign.budget_units),
            (Campaign.budget_amount_fen.is_(None))
            | (Campaign.used_amount_fen + amount_fen <= Campaign.budget_amount_fen),
        )
        .values(
            used_units=Campaign.used_units + units,
            used_amount_fen=Campaign.used_amount_fen + amount_fen,
        )
    )
    if budget.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            f"campaign {campaign.code!r} has not enough budget left for this order "
            f"({from_fen(amount_fen)} yuan, {units} units)",
            code="campaign_budget_exhausted",
            details={"campaign": campaign.code},
        )
    session.execute(
        _insert(session)(CampaignDealerUse)
        .values(campaign_id=campaign.id, dealer_code=dealer, uses=0)
        .on_conflict_do_nothing()
    )
    use = update(CampaignDealerUse).where(
        CampaignDealerUse.campaign_id == campaign.id, CampaignDealerUse.dealer_code == dealer
    )
    if campaign.uses_per_dealer is not None:
        use = use.where(CampaignDealerUse.uses < campaign.uses_per_dealer)
    if session.execute(use.values(uses=CampaignDealerUse.uses + 1)).rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            f"dealer {dealer!r} already used campaign {campaign.code!r} "
            f"{campaign.uses_per_dealer} times",
            code="campaign_limit_reached",
            details={"campaign": campaign.code, "uses_per_dealer": campaign.uses_per_dealer},
        )
    session.add(
        CampaignRedemption(
            campaign_id=campaign.id,
            order_number=order_number,
            dealer_code=dealer,
            units=units,
            amount_fen=amount_fen,
            redeemed_at=now,
            released_at=None,
        )
    )
    session.flush()


def give_back(
    session: Session, *, order_number: str, campaign_ids: Iterable[int] | None, now: datetime
) -> int:
    """Return what *order_number* drew (from *campaign_ids*, or all), once; returns how many
    draws were given back now (0 when they were already). The caller moves the campaigns
    version (:func:`vintry.campaigns.published.bump`) when that is not 0, once it has
    given back everything its transaction gives back."""
    query = update(CampaignRedemption).where(
        CampaignRedemption.order_number == order_number, CampaignRedemption.released_at.is_(None)
    )
    if campaign_ids is not None:
        query = query.where(CampaignRedemption.campaign_id.in_(list(campaign_ids)))
    released = session.execute(
        query.values(released_at=now).returning(
            CampaignRedemption.campaign_id,
            CampaignRedemption.dealer_code,
            CampaignRedemption.units,
            CampaignRedemption.amount_fen,
        )
    ).all()
    for campaign_id, dealer, units, amount_fen in released:
        session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(
                used_units=Campaign.used_units - units,
                used_amount_fen=Campaign.used_amount_fen - amount_fen,
            )
        )
        session.execute(
            update(CampaignDealerUse)
            .where(
                CampaignDealerUse.campaign_id == campaign_id,
                CampaignDealerUse.dealer_code == dealer,
                CampaignDealerUse.uses > 0,
            )
            .values(uses=CampaignDealerUse.uses - 1)
        )
    return len(released)


def _campaign_adjustments(
    adjustments: Iterable[AdjustmentCandidate],
) -> dict[str, list[AdjustmentCandidate]]:
    by_code: dict[str, list[AdjustmentCandidate]] = {}
    for adjustment in adjustments:
        by_code.setdefault(adjustment.campaign, []).append(adjustment)
    return by_code


@hookimpl
def vintry_claim_resources(draft: OrderDraft, site: SiteContext) -> list[ResourceClaim]:
    """Draw the budgets of the site's campaigns the order's adjustments name, all or none."""
    by_code = _campaign_adjustments(draft.adjustments)
    if not by_code:
        return []
    now = site.platform.clock.now()
    claims: list[ResourceClaim] = []
    with site.database.transaction() as session:
        # In code order, so two orders drawing the same campaigns lock them in one order.
        campaigns = session.scalars(
            select(Campaign).where(Campaign.code.in_(list(by_code))).order_by(Campaign.code)
        ).all()
        for campaign in campaigns:
            adjustments = by_code[campaign.code]
            amount_fen = sum(to_fen(a.amount) for a in adjustments)
            units = sum(a.units for a in adjustments)
            draw(
                session,
                campaign,
                order_number=draft.number,
                dealer=draft.dealer.code,
                amount_fen=amount_fen,
                units=units,
                now=now,
            )
            claims.append(
                ResourceClaim(
                    resource=f"{RESOURCE_PREFIX}{campaign.code}",
                    quantity=units,
                    payload={
                        "campaign_id": campaign.id,
                        "order": draft.number,
                        "amount_fen": amount_fen,
                        "units": units,
                    },
                )
            )
        if claims:
            # After every campaign row: the version's row lock is always taken last.
            published.bump(session)
    return claims


@hookimpl
def vintry_release_resources(claims: list[ResourceClaim], site: SiteContext) -> None:
    """Give back the draws of a failed placement (idempotent: the sweeper may repeat it).

    A claim the placement never recorded (the process died right after this hook; the
    sweeper sends ``unrecorded`` with the order number) gives back every draw of that order.
    """
    by_order: dict[str, list[int] | None] = {}
    for claim in claims:
        if claim.payload.get("unrecorded"):
            by_order[str(claim.payload["order"])] = None
        elif claim.resource.startswith(RESOURCE_PREFIX):
            drawn = by_order.setdefault(str(claim.payload["order"]), [])
            if drawn is not None:
                drawn.append(int(claim.payload["campaign_id"]))
    if not by_order:
        return
    now = site.platform.clock.now()
    with site.database.transaction() as session:
        given = sum(
            give_back(session, order_number=number, campaign_ids=campaign_ids, now=now)
            for number, campaign_ids in sorted(by_order.items())
        )
        if given:
            published.bump(session)


@hookimpl
def vintry_handle_event(event: Event, site: SiteContext) -> None:
    """A cancelled order (by its dealer, HQ or the expiry sweep) gives its draws back once."""
    if event.type != "order.status_changed" or event.payload.get("to") != "cancelled":
        return
    number = event.payload.get("number")
    if not isinstance(number, str):
        return
    now = site.platform.clock.now()
    with site.database.transaction() as session:
        if give_back(session, order_number=number, campaign_ids=None, now=now):
            published.bump(session)
