"""Auctions for regional campaigns: English (ascending bids, reserve, soft close) and Dutch
(a step-down price for lots of near-expiry stock).

A Vintry plugin found through the ``vintry`` entry point ``auction``. It registers two
campaign types with the kernel's campaign framework, which stores each site's auctions,
their windows, targeting and audit; operators create and publish them with
``/api/v1/campaigns``. The plugin keeps each auction's lot, bids and sales in its own tables
in the site's database (``vintry_register_migrations``), holds the lot's stock in HQ when
the auction is published (``vintry_handle_event``), serves the dealers' and operators'
routes (``vintry_register_routes``) and places each buyer's order from the lot's hold, at
the auction's price, through the kernel's ``place_held`` (the units go from the lot to the
order inside the order's own HQ transaction).
"""

from __future__ import annotations

import logging

from vintry_sdk import (
    CampaignTypeRegistration,
    CommandsRegistration,
    Event,
    MigrationsRegistration,
    NotFound,
    PageBlockRegistration,
    RoutesRegistration,
    SettingsRegistration,
    SiteContext,
    campaign_block,
    hookimpl,
)

from vintry_auction import service
from vintry_auction.api import router
from vintry_auction.campaign_types import CAMPAIGN_TYPES
from vintry_auction.cli import app as cli_app
from vintry_auction.config import AuctionSettings

__all__ = [
    "PLUGIN_NAME",
    "vintry_handle_event",
    "vintry_register_campaign_types",
    "vintry_register_commands",
    "vintry_register_migrations",
    "vintry_register_routes",
    "vintry_register_settings",
]

# Must equal the entry-point name in pyproject.toml: the kernel files the plugin's enablement
# and configuration under that name.
PLUGIN_NAME = service.PLUGIN_NAME

log = logging.getLogger(__name__)


@hookimpl
def vintry_register_settings(register: SettingsRegistration) -> None:
    """Declare the settings model sites configure this plugin with."""
    register(AuctionSettings)


@hookimpl
def vintry_register_campaign_types(register: CampaignTypeRegistration) -> None:
    """Offer English and Dutch auctions to operators where the plugin is enabled."""
    for campaign_type in CAMPAIGN_TYPES:
        register(campaign_type)


@hookimpl
def vintry_register_migrations(register: MigrationsRegistration) -> None:
    """Lots, bids and sales live in each site's database."""
    register("site", "vintry_auction:migrations/site")


@hookimpl
def vintry_register_routes(register: RoutesRegistration) -> None:
    """Serve the dealers' and operators' routes under ``/api/v1/x/auction/``."""
    register(router)


@hookimpl
def vintry_register_commands(register: CommandsRegistration) -> None:
    """Add ``vintry auction sweep``."""
    register(cli_app)


@hookimpl
def vintry_handle_event(event: Event, site: SiteContext) -> None:
    """Follow the auction campaigns: hold the lot when published, re-hold it when edited
    before it starts, settle it when ended early, release it when cancelled. Idempotent."""
    if event.type != "campaign.changed":
        return
    code = event.payload.get("campaign")
    action = event.payload.get("action")
    if not isinstance(code, str):
        return
    try:
        campaign = service.find_campaign(site, code)
    except NotFound:
        return  # not an auction
    if action == "scheduled":
        service.open_lot(site, campaign)
    elif action == "update":
        service.resync_untouched(site, campaign)
    elif action == "cancelled":
        service.cancel_lot(site, code)
    elif action == "ended":
        service.end_early(site, code)
    log.info("auction %s at %s: %s", code, site.code, action)


@hookimpl
def vintry_register_page_blocks(register: PageBlockRegistration) -> None:
    """Offer a home-page block listing this plugin's live campaigns for the dealer."""
    from vintry_auction.campaign_types import DUTCH, ENGLISH

    register(
        campaign_block(
            name="live-auctions",
            title="Live auctions",
            types=(ENGLISH, DUTCH),
            link="/api/v1/x/auction/auctions/{code}",
            description="The auctions open to the dealer now, English and Dutch.",
        )
    )
