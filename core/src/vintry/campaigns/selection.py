"""Which campaigns are in force for a dealer now, and why the others are not.

:func:`live_campaigns` is what a promotion plugin calls from ``vintry_price_cart``: the
site's campaigns of one type, split into those the dealer's cart may use and, for the
others, a :class:`~vintry.contracts.CampaignSkip` saying why (outside its window, not
targeted, budget exhausted). :func:`campaigns_for_you` feeds the dealer's home page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from vintry.campaigns import published
from vintry.campaigns.models import Campaign, CampaignDealerUse, CampaignState, CampaignStatus
from vintry.campaigns.published import targets as targets  # the promotion plugins' import
from vintry.campaigns.schemas import ForYouItem
from vintry.clock import ensure_utc
from vintry.contracts import CampaignSelection, CampaignSkip, CampaignType, CampaignView, DealerView
from vintry.money import from_fen
from vintry.platform import SiteContext

log = logging.getLogger("vintry.campaigns")

EXPLAINED_MARGIN = timedelta(days=1)
"""Campaigns starting within this time, or ended within it, are still explained to a cart
(``outside_window``): a dealer whose offer just ended, or starts tomorrow, sees why."""


def state_of(campaign: Campaign, now: datetime) -> CampaignState:
    """The state of *campaign* at *now*: its stored status read against its window."""
    status = CampaignStatus(campaign.status)
    if status is CampaignStatus.DRAFT:
        return CampaignState.DRAFT
    if status is CampaignStatus.CANCELLED:
        return CampaignState.CANCELLED
    if status is CampaignStatus.ENDED or now >= ensure_utc(campaign.ends_at):
        return CampaignState.ENDED
    if now < ensure_utc(campaign.starts_at):
        return CampaignState.SCHEDULED
    return CampaignState.LIVE


def describe_targeting(campaign: Campaign) -> str:
    """Who a campaign is for, in words (for ``not_targeted``): "gold/platinum dealers tagged
    vip", "the dealers it names"."""
    tiers, tags = campaign.target_tiers, campaign.target_tags
    if not tiers and not tags:
        return "the dealers it names"
    who = f"{'/'.join(tiers)} dealers" if tiers else "dealers"
    if tags:
        who += f" tagged {'/'.join(tags)}"
    if campaign.target_dealers:
        who += " and the dealers it names"
    return who


def _window_skip(campaign: Campaign, state: CampaignState) -> CampaignSkip:
    if state is CampaignState.SCHEDULED:
        message = f"starts at {ensure_utc(campaign.starts_at).isoformat()}"
    else:
        message = f"ended at {ensure_utc(campaign.ends_at).isoformat()}"
    return CampaignSkip(
        campaign=campaign.code, name=campaign.name, code="outside_window", message=message
    )


def _exhausted(campaign: Campaign, dealer_uses: int) -> str | None:
    if campaign.uses_per_dealer is not None and dealer_uses >= campaign.uses_per_dealer:
        return f"this dealer used it {dealer_uses} of {campaign.uses_per_dealer} times allowed"
    if campaign.budget_units is not None and campaign.used_units >= campaign.budget_units:
        return f"all {campaign.budget_units} units of its budget are used"
    if (
        campaign.budget_amount_fen is not None
        and campaign.used_amount_fen >= campaign.budget_amount_fen
    ):
        return f"all {from_fen(campaign.budget_amount_fen)} yuan of its budget are used"
    return None


def _view(campaign: Campaign, campaign_type: CampaignType, dealer_uses: int) -> CampaignView:
    return CampaignView(
        code=campaign.code,
        name=campaign.name,
        type=campaign.type,
        config=campaign_type.config_model.model_validate(campaign.config),
        priority=campaign.priority,
        stacking_group=campaign.stacking_group,
        starts_at=ensure_utc(campaign.starts_at),
        ends_at=ensure_utc(campaign.ends_at),
        budget_units=campaign.budget_units,
        budget_amount=None
        if campaign.budget_amount_fen is None
        else from_fen(campaign.budget_amount_fen),
        uses_per_dealer=campaign.uses_per_dealer,
        used_units=campaign.used_units,
        used_amount=from_fen(campaign.used_amount_fen),
        dealer_uses=dealer_uses,
    )


def _published_query() -> Any:
    """Published campaigns of some types near a time, built once (the types, the time and
    the margins are bound): a home page asks on every view."""
    types: Any = bindparam("types", expanding=True)
    return (
        select(Campaign)
        .where(
            Campaign.type.in_(types),
            Campaign.status.in_([CampaignStatus.SCHEDULED.value, CampaignStatus.ENDED.value]),
            Campaign.ends_at > bindparam("ends_after"),
            Campaign.starts_at <= bindparam("starts_before"),
        )
        .order_by(Campaign.priority.desc(), Campaign.code)
    )


_PUBLISHED = _published_query()


def _published(session: Session, now: datetime, types: Iterable[str]) -> list[Campaign]:
    parameters = {
        "types": list(types),
        "ends_after": now - EXPLAINED_MARGIN,
        "starts_before": now + EXPLAINED_MARGIN,
    }
    return list(session.scalars(_PUBLISHED, parameters))


def _dealer_uses(session: Session, campaigns: Sequence[Campaign], dealer: str) -> dict[int, int]:
    limited = [c.id for c in campaigns if c.uses_per_dealer is not None]
    if not limited:
        return {}
    rows = session.execute(
        select(CampaignDealerUse.campaign_id, CampaignDealerUse.uses).where(
            CampaignDealerUse.campaign_id.in_(limited), CampaignDealerUse.dealer_code == dealer
        )
    )
    return {campaign_id: uses for campaign_id, uses in rows}


def live_campaigns(
    site: SiteContext, types: str | Sequence[str], dealer: DealerView, now: datetime
) -> CampaignSelection:
    """The campaigns of *types* (one type name or several) at *site* that *dealer*'s cart
    may use now, in priority order, and a skip for each other one published near now.

    One read of the site's database. Types whose plugin is not enabled on the site are left
    out (their campaigns are dormant there). A campaign whose stored configuration no
    longer validates (the plugin changed its model) is skipped as ``not_applicable`` and
    logged, never raised into a cart.
    """
    registered = site.platform.plugins.campaign_types()
    wanted = [types] if isinstance(types, str) else list(types)
    usable = {
        name: registered[name][1]
        for name in wanted
        if name in registered and site.is_enabled(registered[name][0])
    }
    if not usable:
        return CampaignSelection()
    with site.database.reading() as session:
        campaigns = _published(session, now, usable)
        uses = _dealer_uses(session, campaigns, dealer.code)
    selection = CampaignSelection()
    for campaign in campaigns:
        state = state_of(campaign, now)
        if state is not CampaignState.LIVE:
            selection.skipped.append(_window_skip(campaign, state))
            continue
        if not targets(campaign, dealer):
            selection.skipped.append(
                CampaignSkip(
                    campaign=campaign.code,
                    name=campaign.name,
                    code="not_targeted",
                    message=f"for {describe_targeting(campaign)} only",
                )
            )
            continue
        exhausted = _exhausted(campaign, uses.get(campaign.id, 0))
        if exhausted is not None:
            selection.skipped.append(
                CampaignSkip(
                    campaign=campaign.code,
                    name=campaign.name,
                    code="budget_exhausted",
                    message=exhausted,
                )
            )
            continue
        try:
            view = _view(campaign, usable[campaign.type], uses.get(campaign.id, 0))
            selection.applicable.append(view)
        except ValidationError as error:
            log.error(
                "campaign %s at %s has an invalid config: %s", campaign.code, site.code, error
            )
            selection.skipped.append(
                CampaignSkip(
                    campaign=campaign.code,
                    name=campaign.name,
                    code="not_applicable",
                    message="its configuration is no longer valid for its type",
                )
            )
    return selection


def campaigns_for_you(
    site: SiteContext, dealer: DealerView, now: datetime, *, version: int | None = None
) -> list[ForYouItem]:
    """Live campaigns of *site* targeted at *dealer* with budget left, for the home page:
    highest priority first, then the one ending soonest, then by code.

    Only campaigns whose type's plugin is enabled on the site now are listed, so a plugin
    turned off (or never on) here shows nothing, whatever its tables hold. The site's
    published campaigns are cached under its campaigns version (:mod:`.published`):
    *version* is the one the caller read in this request (a page reads it with the
    version serving), else it is read here, in one small statement.
    """
    if version is None:
        with site.database.reading() as session:
            version = published.read_version(session)
    return published.for_you(site, dealer, now, version)


def is_live(campaign: Campaign, now: datetime) -> bool:
    """Whether *campaign* is live at *now*."""
    return state_of(campaign, now) is CampaignState.LIVE
