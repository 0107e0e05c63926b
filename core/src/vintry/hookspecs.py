"""Every hook of Vintry, typed and documented where it is declared.

Hooks receive keyword arguments only. Registration hooks (``vintry_register_*``) run once
per plugin at load, each call with a ``register`` callback bound to that plugin, so the
kernel always knows who contributed what. Per-site hooks are called *for a site*: only the
plugins enabled on that site are called, and they read their configuration from ``site``.

The reference, with examples, is ``docs/plugins/hooks.md``; ``tests`` fail when a hook here
is not documented there with the same signature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from datetime import datetime

    from vintry.contracts import (
        AdjustmentCandidate,
        CampaignSkip,
        CampaignTypeRegistration,
        CarrierRegistration,
        CartDraft,
        CommandsRegistration,
        DealerView,
        Event,
        MigrationsRegistration,
        OrderDraft,
        OrderView,
        PageBlockRegistration,
        PageEvent,
        PaymentResult,
        ResourceClaim,
        RoutesRegistration,
        SettingsRegistration,
        SourcingRegistration,
    )
    from vintry.platform import SiteContext

PROJECT = "vintry"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- registration hooks: called once per plugin at load ---------------------------------


@hookspec
def vintry_register_settings(register: SettingsRegistration) -> None:
    """Declare the plugin's settings model.

    :param register: call ``register(Model)`` with a pydantic model whose every field has
        a default. Sites override fields down the tree; every merged result is validated
        against the model, and its JSON Schema is served for configuration forms.
    :returns: nothing; contributions go through ``register``.
    """


@hookspec
def vintry_register_routes(register: RoutesRegistration) -> None:
    """Add HTTP routes.

    :param register: call ``register(router)`` with a FastAPI ``APIRouter``. Its routes are
        served under ``/api/v1/x/<plugin>/`` for every site; where the plugin is not enabled
        they answer 404 ``plugin_not_enabled``. Every route must declare its permission with
        ``Depends(authorize(Permission.X))`` (or ``public``), like the kernel's.
    :returns: nothing.
    """


@hookspec
def vintry_register_commands(register: CommandsRegistration) -> None:
    """Add CLI commands.

    :param register: call ``register(typer_app)``; it becomes ``vintry <plugin> ...``.
    :returns: nothing.
    """


@hookspec
def vintry_register_migrations(register: MigrationsRegistration) -> None:
    """Ship Alembic migrations for the plugin's own tables.

    :param register: call ``register("hq" | "site", "package:path")`` for each script
        directory. Site migrations run on every site, enabled or not (enablement never
        changes a schema). Each directory's ``env.py`` calls
        ``vintry.db.alembic_env.run_migrations()``; its version table is
        ``<plugin>_<scope>_version``.
    :returns: nothing.
    """


@hookspec
def vintry_register_sourcing_strategies(register: SourcingRegistration) -> None:
    """Contribute named sourcing strategies (which warehouses ship an order).

    :param register: call ``register(name, strategy)``; ``strategy(request)`` receives a
        ``SourcingRequest`` (lines, the eligible warehouses with what each has available,
        the destination, the rule's parameters) and returns a ``SourcingPlan`` covering
        every line, or raises ``Conflict(code="out_of_stock")``. Names are global; sites
        choose among them through their sourcing rules.
    :returns: nothing.
    """


@hookspec
def vintry_register_campaign_types(register: CampaignTypeRegistration) -> None:
    """Offer kinds of campaign (flash sale, spend-X-get-Y-off, ...) to sites' operators.

    :param register: call ``register(CampaignType(...))`` once per type: a global name, a
        title, the pydantic model that validates each campaign's configuration (its JSON
        Schema is served for forms), and ``lowest_unit_prices(config, skus)``, the lowest
        unit price a campaign of that configuration can produce per SKU, which the kernel
        holds against HQ's price floors when a campaign is created. A name another plugin
        registered refuses the plugin.
    :returns: nothing. Types are global once installed; an operator creates campaigns only
        of the types whose plugin is enabled on its site, and the kernel stores them in the
        site's database (``vintry.campaigns``).
    """


@hookspec
def vintry_register_page_blocks(register: PageBlockRegistration) -> None:
    """Offer kinds of home-page block (a seckill countdown, live auctions, ...) to operators.

    :param register: call ``register(BlockType(...))`` once per block type: a global name, a
        title, the pydantic model validating each block's configuration (its JSON Schema is
        served for the console's forms), ``render(block)`` returning the block's data, and
        optionally ``products(config)`` (the products it shows, resolved by the kernel for
        the whole page in one stock read) and ``references(config)`` (the SKUs and
        categories it names, checked when a layout is saved). A name another plugin
        registered refuses the plugin.
    :returns: nothing. A layout may use a block type only where its plugin is enabled; a
        published layout's block whose plugin is later disabled is left out of the page,
        never an error. ``render`` must not raise: an exception leaves that block out and
        is logged.
    """


# --- per-site hooks: called only for plugins enabled on the site ----------------------


@hookspec
def vintry_handle_event(event: Event, site: SiteContext) -> None:
    """React to an event after the change it describes has committed.

    :param event: the event; the same event may be delivered more than once, so handlers
        must be idempotent (use ``event.id``).
    :param site: the site the event belongs to; ``site.config(<plugin>)`` is the plugin's
        configuration in force there.
    :returns: nothing. Each plugin's handler runs isolated: an exception is logged and
        counted against the plugin, never propagated to the change that raised the event.
    """


@hookspec
def vintry_price_cart(
    cart: CartDraft, site: SiteContext, dealer: DealerView, now: datetime
) -> list[AdjustmentCandidate | CampaignSkip]:
    """Propose discounts for a cart; the kernel chooses among every plugin's candidates.

    :param cart: the cart's lines with base and site prices, and the subtotal.
    :param site: the site (its configuration via ``site.config(<plugin>)``).
    :param dealer: the dealer pricing the cart (tier and tags for targeting).
    :param now: the platform clock's time; use it for campaign windows, never the wall clock.
    :returns: candidate adjustments, and a ``CampaignSkip`` for each campaign considered that
        does not apply (not targeted, outside its window, threshold not met, budget
        exhausted, sold out); an empty list when the plugin has nothing to say. Collect-all:
        the kernel picks the valid combination worth most, caps it at HQ's floors and
        explains every campaign considered. Runs inside the order's unit of work: an
        exception aborts the pricing with a clear error and changes nothing.
    """


@hookspec
def vintry_claim_resources(draft: OrderDraft, site: SiteContext) -> list[ResourceClaim]:
    """Claim what the plugin must hold for an order being placed (saga step one).

    :param draft: the order about to be placed, with its number, lines and adjustments.
    :param site: the site of the order.
    :returns: the claims to hold, pending, in the site's database (empty when none). Raise a
        ``vintry_sdk.VintryError`` (e.g. ``Conflict(code="campaign_sold_out")``) to refuse
        the order: every claim already made by other plugins is released and nothing is
        written to HQ. Collect-all.
    """


@hookspec
def vintry_release_resources(claims: list[ResourceClaim], site: SiteContext) -> None:
    """Give back claims of an order that was not placed (compensation).

    :param claims: this plugin's claims for the failed order, as it returned them.
    :param site: the site of the order.
    :returns: nothing. Must be idempotent: the sweeper may release the same claims again
        after a crash. Collect-all; each plugin receives only its own claims. After a crash
        right after this plugin's claim hook (before placement recorded what it returned),
        the sweeper sends one claim with ``payload["unrecorded"]`` true and
        ``payload["order"]`` the order number: release everything held for that order.
    """


@hookspec
def vintry_record_page_events(events: list[PageEvent], site: SiteContext) -> None:
    """Record what dealers saw and clicked on a site's page (block impressions and clicks).

    :param events: validated events, each naming the page, the published version, the
        block's key and type, and the product clicked if any.
    :param site: the site whose page it was.
    :returns: nothing. Called after the kernel accepted the batch; each plugin's handler runs
        isolated (an exception is logged, never returned to the dealer). Collect-all.
    """


# --- payment hooks: called for the site of the order, inside its payment ------------------


@hookspec(firstresult=True)
def vintry_authorize_payment(order: OrderView, method: str) -> PaymentResult | None:
    """Take the payment of an order by the method the dealer chose.

    :param order: the order being paid (status ``placed``, before its ``pay_by``): number,
        site, dealer, lines and the total to collect.
    :param method: the payment method the dealer named, e.g. ``"credit"``.
    :returns: a ``PaymentResult`` if this plugin handles *method* — approved, or refused with
        a ``reason`` code — or None to leave the method to other providers. Stops at the
        first result; when no plugin answers, the payment is refused with 422
        ``payment_method_unsupported``. Runs inside the HQ transaction that marks the order
        paid, after the order row is locked: a refusal or an exception rolls everything
        back and the order stays ``placed``.
    """


# --- fulfilment hooks: called once per plugin at load -------------------------------------


@hookspec
def vintry_register_carriers(register: CarrierRegistration) -> None:
    """Offer carriers that move shipments from warehouses to dealers.

    :param register: call ``register(Carrier(...))`` once per carrier: a global name, its
        service levels (the first is the default), ``estimate_arrival(progress)`` — the
        arrival estimate, recomputed by the kernel after every tracking event of a shipment
        from its distance, service level and the nodes passed — and, for a simulation,
        ``planned_nodes(progress)``, the nodes the kernel records as its clock reaches
        them. A name another plugin registered refuses the plugin.
    :returns: nothing. Carriers are global; a shipment names its carrier and service level
        when it is created (the built-in ``simulated`` carrier by default).
    """
