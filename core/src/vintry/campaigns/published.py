"""A site's published campaigns, kept in memory under the site's campaigns version.

Every dealer's home page lists the live campaigns targeted at it, so loading the site's
campaigns through the ORM on every view cost more than the rest of the page's data. The
site database holds a **campaigns version** (the ``campaigns_version`` row of
``site_meta``), bumped in the same transaction as every change that can move a campaign
in or out of a dealer's list: a campaign inserted, edited, published, cancelled or ended
(ORM flushes, through mapper events, and the services' bulk updates) and every budget
draw or give-back (:mod:`vintry.campaigns.budgets`). A render reads the version in the
statement that finds the serving page (:func:`version_column`), so the cached list is
reused while the number stands still and reloaded, in every worker process, as soon as it
moves: nothing is invalidated by message and nothing lives by a time-to-live.

What the cache holds does not depend on the time: every campaign whose stored status is
``scheduled`` and whose window had not closed a day before the load, with its targeting,
whether its budget is spent, and its home-page item. The window, the targeting, the
plugin's enablement and the dealer's own uses are applied per request
(:func:`for_you`), with the platform's injectable clock.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Integer, String, cast, event, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from vintry.campaigns.models import Campaign, CampaignDealerUse, CampaignStatus
from vintry.campaigns.schemas import ForYouItem
from vintry.clock import ensure_utc
from vintry.contracts import CampaignType, DealerView
from vintry.platform import SiteContext
from vintry.sites.site_models import SiteMeta

log = logging.getLogger("vintry.campaigns")

VERSION_KEY = "campaigns_version"
"""The ``site_meta`` row holding the site's campaigns version (absent: version 0)."""
LOAD_MARGIN = timedelta(days=1)
"""Campaigns that ended this long before a load are left out of it; a load serves the
requests whose clock reads no earlier than its time minus this margin."""
CACHE = "published_campaigns"
USES_CACHE = "campaign_dealer_uses"
CACHE_SIZE = 4096

_BUMPED = "vintry.campaigns_version_bumped"


# --- the version -------------------------------------------------------------------------


def version_column() -> Any:
    """The site's campaigns version as a scalar subquery (``NULL`` before the first
    change), to read in the same statement as something else; see :func:`as_version`."""
    return select(SiteMeta.value).where(SiteMeta.key == VERSION_KEY).scalar_subquery()


def as_version(value: str | int | None) -> int:
    """The number :func:`version_column` read."""
    return 0 if value is None else int(value)


_READ_VERSION = select(version_column())


def read_version(session: Session) -> int:
    """The campaigns version of the site database *session* reads."""
    return as_version(session.connection().execute(_READ_VERSION).scalar())


def bump_version(connection: Connection) -> None:
    """Move the campaigns version of the site database *connection* writes to, once per
    transaction: readers anywhere drop what they cached when it commits.

    Called after the campaign rows a transaction changes have been written, so that it
    takes the version's row lock last and two transactions never wait on each other.
    """
    transaction = connection.get_transaction()
    if transaction is not None and connection.info.get(_BUMPED) is transaction:
        return
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    connection.execute(
        insert(SiteMeta)
        .values(key=VERSION_KEY, value="1")
        .on_conflict_do_update(
            index_elements=[SiteMeta.key],
            set_={"value": cast(cast(SiteMeta.value, Integer) + 1, String)},
        )
    )
    connection.info[_BUMPED] = transaction


def bump(session: Session) -> None:
    """:func:`bump_version` in *session*'s transaction (for bulk updates of campaigns and
    of their budgets, which no mapper event sees)."""
    bump_version(session.connection())


def _on_flush(_mapper: Any, connection: Connection, _target: Any) -> None:
    bump_version(connection)


for _model in (Campaign, CampaignDealerUse):
    for _name in ("after_insert", "after_update", "after_delete"):
        event.listen(_model, _name, _on_flush)


# --- the cached campaigns ----------------------------------------------------------------


@dataclass(frozen=True)
class PublishedCampaign:
    """What a dealer's list needs of one published campaign."""

    id: int
    type: str
    starts_at: datetime
    ends_at: datetime
    target_tiers: tuple[str, ...]
    target_tags: tuple[str, ...]
    target_dealers: tuple[str, ...]
    budget_spent: bool
    """Its unit or money budget is used up (for every dealer)."""
    uses_per_dealer: int | None
    item: ForYouItem


@dataclass(frozen=True)
class PublishedCampaigns:
    """A site's published campaigns as loaded at one campaigns version, in the order a
    dealer's list shows them: highest priority first, then the one ending soonest."""

    version: int
    loaded_at: datetime
    campaigns: tuple[PublishedCampaign, ...]
    limited: tuple[int, ...]
    """The ids of those with a per-dealer limit."""

    def serves(self, now: datetime) -> bool:
        """Whether this load holds every campaign that may be live at *now*."""
        return now >= self.loaded_at - LOAD_MARGIN


def targets(campaign: PublishedCampaign | Campaign, dealer: DealerView) -> bool:
    """Whether *campaign* is for *dealer* (see :class:`~vintry.campaigns.schemas.Targeting`)."""
    if dealer.code in campaign.target_dealers:
        return True
    tiers, tags = campaign.target_tiers, campaign.target_tags
    if not tiers and not tags:
        return not campaign.target_dealers
    return (not tiers or dealer.tier in tiers) and (not tags or bool(set(tags) & set(dealer.tags)))


def _budget_spent(campaign: Campaign) -> bool:
    if campaign.budget_units is not None and campaign.used_units >= campaign.budget_units:
        return True
    return (
        campaign.budget_amount_fen is not None
        and campaign.used_amount_fen >= campaign.budget_amount_fen
    )


def summary(campaign: Campaign, campaign_type: CampaignType) -> str:
    """The one line a dealer's list shows for *campaign*: its type's description of the
    configuration, or the type's title."""
    if campaign_type.describe is None:
        return campaign_type.title
    try:
        return campaign_type.describe(campaign_type.config_model.model_validate(campaign.config))
    except Exception:  # a summary is decoration: never fail the home page for it
        log.exception("describing campaign %s failed", campaign.code)
        return campaign_type.title


def _load(site: SiteContext, version: int, now: datetime) -> PublishedCampaigns:
    registered = site.platform.plugins.campaign_types()
    with site.database.reading() as session:
        rows = session.scalars(
            select(Campaign).where(
                Campaign.status == CampaignStatus.SCHEDULED.value,
                Campaign.ends_at > now - LOAD_MARGIN,
            )
        ).all()
    published = []
    for row in rows:
        found = registered.get(row.type)
        if found is None:  # its plugin is not installed: no worker can show it
            continue
        campaign_type = found[1]
        item = ForYouItem(
            code=row.code,
            name=row.name,
            description=row.description,
            type=row.type,
            title=campaign_type.title,
            summary=summary(row, campaign_type),
            priority=row.priority,
            stacking_group=row.stacking_group,
            starts_at=ensure_utc(row.starts_at),
            ends_at=ensure_utc(row.ends_at),
        )
        published.append(
            PublishedCampaign(
                id=row.id,
                type=row.type,
                starts_at=item.starts_at,
                ends_at=item.ends_at,
                target_tiers=tuple(row.target_tiers),
                target_tags=tuple(row.target_tags),
                target_dealers=tuple(row.target_dealers),
                budget_spent=_budget_spent(row),
                uses_per_dealer=row.uses_per_dealer,
                item=item,
            )
        )
    published.sort(key=lambda c: (-c.item.priority, c.ends_at, c.item.code))
    return PublishedCampaigns(
        version=version,
        loaded_at=now,
        campaigns=tuple(published),
        limited=tuple(c.id for c in published if c.uses_per_dealer is not None),
    )


def published(site: SiteContext, version: int, now: datetime) -> PublishedCampaigns:
    """The published campaigns of *site* at campaigns *version* (read by the caller before
    this call), loaded with one site read when no worker thread of this process holds them.
    """
    cache = site.platform.cache(CACHE, maxsize=CACHE_SIZE)
    found: PublishedCampaigns | None = cache.get(site.code, (version,))
    if found is not None and found.serves(now):
        return found
    # Read after the version: what is loaded is at least as new as the number it is
    # stored under, so a later change always shows as a new number.
    loaded = _load(site, version, now)
    cache.put(site.code, (version,), loaded)
    return loaded


def dealer_uses(
    site: SiteContext, version: int, dealer: str, campaign_ids: Collection[int]
) -> Mapping[int, int]:
    """How many times *dealer* used each of *campaign_ids* (the ones with a per-dealer
    limit loaded at *version*); every use moves the campaigns version, so the counts are
    kept under it."""
    cache = site.platform.cache(USES_CACHE, maxsize=CACHE_SIZE)
    found: tuple[frozenset[int], Mapping[int, int]] | None = cache.get(
        (site.code, dealer), (version,)
    )
    if found is not None and found[0].issuperset(campaign_ids):
        return found[1]
    with site.database.reading() as session:
        rows = session.execute(
            select(CampaignDealerUse.campaign_id, CampaignDealerUse.uses).where(
                CampaignDealerUse.campaign_id.in_(list(campaign_ids)),
                CampaignDealerUse.dealer_code == dealer,
            )
        )
        uses = {campaign_id: count for campaign_id, count in rows}
    cache.put((site.code, dealer), (version,), (frozenset(campaign_ids), uses))
    return uses


def for_you(site: SiteContext, dealer: DealerView, now: datetime, version: int) -> list[ForYouItem]:
    """The live campaigns of *site* targeted at *dealer* with budget left at *now*, highest
    priority first, then the one ending soonest, then by code; *version* is the site's
    campaigns version the caller read in this request. Only the types whose plugin is
    enabled on the site now are listed."""
    registered = site.platform.plugins.campaign_types()
    loaded = published(site, version, now)
    enabled: dict[str, bool] = {}
    chosen: list[PublishedCampaign] = []
    for campaign in loaded.campaigns:
        usable = enabled.get(campaign.type)
        if usable is None:
            usable = enabled[campaign.type] = site.is_enabled(registered[campaign.type][0])
        if (
            usable
            and campaign.starts_at <= now < campaign.ends_at
            and not campaign.budget_spent
            and targets(campaign, dealer)
        ):
            chosen.append(campaign)
    if any(c.uses_per_dealer is not None for c in chosen):
        uses = dealer_uses(site, version, dealer.code, loaded.limited)
        chosen = [
            c for c in chosen if c.uses_per_dealer is None or uses.get(c.id, 0) < c.uses_per_dealer
        ]
    return [campaign.item for campaign in chosen]
