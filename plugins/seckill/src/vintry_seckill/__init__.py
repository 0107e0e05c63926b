"""Flash sales (seckill): a limited quantity of one SKU at a special price within a window.

A Vintry plugin found through the ``vintry`` entry point ``seckill``. It registers the
campaign type ``seckill`` with the kernel's campaign framework, which stores each site's
sales, their windows, targeting, stacking, budgets and audit; operators create and manage
them through ``/api/v1/campaigns``. Where the plugin is enabled:

- a dealer *attempts* a sale (``POST /api/v1/x/seckill/sales/{campaign}/attempts``): an
  atomic claim that holds units for it, under the quota and its per-dealer limit
  (:mod:`vintry_seckill.admission`: batched, Redis first when configured, SQL the record);
- its cart gets the special price on the units it holds (``vintry_price_cart``), and the
  order's claim converts the holds (``vintry_claim_resources``; given back by
  ``vintry_release_resources`` when placement fails);
- an unordered hold expires after the hold time and its units return to the quota; a
  cancelled order returns its units; a paid one marks them paid (``vintry_handle_event``);
- a sold-out sale is answered from memory before the request is read
  (:mod:`vintry_seckill.board`).
"""

from __future__ import annotations

from datetime import datetime

from vintry_sdk import (
    AdjustmentCandidate,
    CampaignSkip,
    CampaignTypeRegistration,
    CartDraft,
    CommandsRegistration,
    DealerView,
    Event,
    MigrationsRegistration,
    OrderDraft,
    PageBlockRegistration,
    ResourceClaim,
    RoutesRegistration,
    SettingsRegistration,
    SiteContext,
    campaign_block,
    hookimpl,
)

from vintry_seckill.api import attempts_router, router
from vintry_seckill.board import board_for
from vintry_seckill.campaign_type import SECKILL_TYPE
from vintry_seckill.config import SeckillSettings
from vintry_seckill.sales import PLUGIN_NAME, sale_cache, settings_for

__all__ = [
    "PLUGIN_NAME",
    "settings_for",
    "vintry_claim_resources",
    "vintry_handle_event",
    "vintry_price_cart",
    "vintry_register_campaign_types",
    "vintry_register_commands",
    "vintry_register_migrations",
    "vintry_register_routes",
    "vintry_register_settings",
    "vintry_release_resources",
]


@hookimpl
def vintry_register_settings(register: SettingsRegistration) -> None:
    """Declare the settings model sites configure this plugin with."""
    register(SeckillSettings)


@hookimpl
def vintry_register_campaign_types(register: CampaignTypeRegistration) -> None:
    """Offer the ``seckill`` campaign type to operators where the plugin is enabled."""
    register(SECKILL_TYPE)


@hookimpl
def vintry_register_routes(register: RoutesRegistration) -> None:
    """Serve the attempt, holds and counter routes under ``/api/v1/x/seckill/``."""
    register(attempts_router)
    register(router)


@hookimpl
def vintry_register_migrations(register: MigrationsRegistration) -> None:
    """Counters and holds live in every site's database."""
    register("site", "vintry_seckill:migrations/site")


@hookimpl
def vintry_register_commands(register: CommandsRegistration) -> None:
    """Add ``vintry seckill expire|status|rebuild``."""
    from vintry_seckill.cli import app

    register(app)


@hookimpl
def vintry_price_cart(
    cart: CartDraft, site: SiteContext, dealer: DealerView, now: datetime
) -> list[AdjustmentCandidate | CampaignSkip]:
    """The special price on the units the dealer holds; why each other sale does not apply."""
    from vintry_seckill.pricing import price_cart

    return price_cart(cart, site, dealer, now)


@hookimpl
def vintry_claim_resources(draft: OrderDraft, site: SiteContext) -> list[ResourceClaim]:
    """Convert the holds the order's seckill adjustments cover (409 if one expired)."""
    from vintry_seckill.holds import convert_holds

    return convert_holds(draft, site)


@hookimpl
def vintry_release_resources(claims: list[ResourceClaim], site: SiteContext) -> None:
    """Give a failed placement's holds back to the dealer (idempotent)."""
    from vintry_seckill.holds import restore_holds

    restore_holds(claims, site)


@hookimpl
def vintry_handle_event(event: Event, site: SiteContext) -> None:
    """Follow the sales' campaigns and the orders that bought their units (idempotent)."""
    from vintry_seckill.admission import redis_counter
    from vintry_seckill.holds import order_cancelled, order_paid
    from vintry_seckill.redis_counter import RedisCounter

    payload = event.payload
    if event.type == "campaign.changed" and isinstance(payload.get("campaign"), str):
        code = payload["campaign"]
        sale_cache(site.platform).forget(site, code)
        board_for(site.platform).clear(site.code, code)
        counter = redis_counter(site)
        if counter is not None:  # a changed sale is loaded again on its next attempt
            counter.drop(RedisCounter.key(site.database.url, code))
    elif event.type == "order.status_changed" and isinstance(payload.get("number"), str):
        if payload.get("to") == "paid":
            order_paid(site, payload["number"])
        elif payload.get("to") == "cancelled":
            order_cancelled(site, payload["number"])


@hookimpl
def vintry_register_page_blocks(register: PageBlockRegistration) -> None:
    """Offer a home-page block listing this plugin's live campaigns for the dealer."""
    from vintry_seckill.campaign_type import SECKILL

    register(
        campaign_block(
            name="seckill-countdown",
            title="Flash sales",
            types=(SECKILL,),
            link="/api/v1/x/seckill/sales/{code}",
            description="The live flash sales for the dealer, with a countdown to their end.",
        )
    )
