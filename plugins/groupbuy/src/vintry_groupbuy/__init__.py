"""Group buys for regional campaigns ("pin dan"): a dealer opens a group on a deal, others
join with their quantities; minimum members and units, discount tiers by members or units,
expiry.

A Vintry plugin found through the ``vintry`` entry point ``groupbuy``. It registers the
``group-buy`` campaign type with the kernel's campaign framework (operators create and
publish deals with ``/api/v1/campaigns``), keeps groups and members in its own tables in the
site's database, holds each member's units in HQ when it joins, and — through its sweep —
releases every hold of a group that expired without succeeding, or places every member's
order of a successful group at the tier reached, from the member's hold, through the
kernel's ``place_held`` (the units go from the hold to the order inside the order's own HQ
transaction).
"""

from __future__ import annotations

from vintry_sdk import (
    CampaignTypeRegistration,
    CommandsRegistration,
    MigrationsRegistration,
    PageBlockRegistration,
    RoutesRegistration,
    SettingsRegistration,
    campaign_block,
    hookimpl,
)

from vintry_groupbuy import service
from vintry_groupbuy.api import router
from vintry_groupbuy.campaign_types import CAMPAIGN_TYPES
from vintry_groupbuy.cli import app as cli_app
from vintry_groupbuy.config import GroupbuySettings

__all__ = [
    "PLUGIN_NAME",
    "vintry_register_campaign_types",
    "vintry_register_commands",
    "vintry_register_migrations",
    "vintry_register_routes",
    "vintry_register_settings",
]

# Must equal the entry-point name in pyproject.toml.
PLUGIN_NAME = service.PLUGIN_NAME


@hookimpl
def vintry_register_settings(register: SettingsRegistration) -> None:
    """Declare the settings model sites configure this plugin with."""
    register(GroupbuySettings)


@hookimpl
def vintry_register_campaign_types(register: CampaignTypeRegistration) -> None:
    """Offer group-buy deals to operators where the plugin is enabled."""
    for campaign_type in CAMPAIGN_TYPES:
        register(campaign_type)


@hookimpl
def vintry_register_migrations(register: MigrationsRegistration) -> None:
    """Groups, members and transitions live in each site's database."""
    register("site", "vintry_groupbuy:migrations/site")


@hookimpl
def vintry_register_routes(register: RoutesRegistration) -> None:
    """Serve the dealers' and operators' routes under ``/api/v1/x/groupbuy/``."""
    register(router)


@hookimpl
def vintry_register_commands(register: CommandsRegistration) -> None:
    """Add ``vintry groupbuy sweep``."""
    register(cli_app)


@hookimpl
def vintry_register_page_blocks(register: PageBlockRegistration) -> None:
    """Offer a home-page block listing this plugin's live campaigns for the dealer."""
    from vintry_groupbuy.campaign_types import GROUP_BUY

    register(
        campaign_block(
            name="open-group-buys",
            title="Group buys",
            types=(GROUP_BUY,),
            link="/api/v1/x/groupbuy/deals/{code}",
            description="The group-buy deals the dealer may open or join now.",
        )
    )
