"""Discounts for regional campaigns: spend-X-save-Y (tiered, or "for every X"), gift with
purchase, limited-time discounts and quantity tier pricing.

A Vintry plugin found through the ``vintry`` entry point ``discounts``. It registers four
campaign types with the kernel's campaign framework, which stores each site's campaigns,
their windows, targeting, stacking, budgets and audit; operators manage them through
``/api/v1/campaigns`` on their own site. Where the plugin is enabled, ``vintry_price_cart``
proposes what each live campaign gives the cart and reports why the others do not apply, so
the cart's explanation covers every campaign considered.
"""

from __future__ import annotations

from datetime import datetime

from vintry_sdk import (
    AdjustmentCandidate,
    CampaignSkip,
    CampaignTypeRegistration,
    CartDraft,
    DealerView,
    PageBlockRegistration,
    SettingsRegistration,
    SiteContext,
    campaign_block,
    hookimpl,
    live_campaigns,
)

from vintry_discounts.campaign_types import CAMPAIGN_TYPES
from vintry_discounts.config import DiscountsSettings
from vintry_discounts.pricing import EVALUATORS

__all__ = [
    "PLUGIN_NAME",
    "settings_for",
    "vintry_price_cart",
    "vintry_register_campaign_types",
    "vintry_register_settings",
]

# Must equal the entry-point name in pyproject.toml: the kernel files the plugin's enablement
# and configuration under that name.
PLUGIN_NAME = "discounts"


def settings_for(site: SiteContext) -> DiscountsSettings:
    """This plugin's configuration in force on *site* (HQ's, merged with the site's overrides)."""
    return DiscountsSettings.model_validate(site.config(PLUGIN_NAME))


@hookimpl
def vintry_register_settings(register: SettingsRegistration) -> None:
    """Declare the settings model sites configure this plugin with."""
    register(DiscountsSettings)


@hookimpl
def vintry_register_campaign_types(register: CampaignTypeRegistration) -> None:
    """Offer the four discount types to operators where the plugin is enabled."""
    for campaign_type in CAMPAIGN_TYPES:
        register(campaign_type)


@hookimpl
def vintry_price_cart(
    cart: CartDraft, site: SiteContext, dealer: DealerView, now: datetime
) -> list[AdjustmentCandidate | CampaignSkip]:
    """What each live campaign of the site gives this cart, and why the others do not."""
    settings = settings_for(site)
    selection = live_campaigns(site, list(EVALUATORS), dealer, now)
    proposals: list[AdjustmentCandidate | CampaignSkip] = [
        skip
        for skip in selection.skipped
        if (settings.explain_untargeted or skip.code != "not_targeted")
        and (settings.explain_upcoming or skip.code != "outside_window")
    ]
    for view in selection.applicable:
        proposals.append(EVALUATORS[view.type](view, cart))
    return proposals


@hookimpl
def vintry_register_page_blocks(register: PageBlockRegistration) -> None:
    """Offer a home-page block listing this plugin's live campaigns for the dealer."""
    from vintry_discounts.campaign_types import GIFT, SPEND_OFF

    register(
        campaign_block(
            name="spend-offers",
            title="Spend more, save more",
            types=(SPEND_OFF, GIFT),
            link="/api/v1/cart",
            description="The live spend-X-get-Y-off and gift-with-purchase offers for the dealer.",
        )
    )
