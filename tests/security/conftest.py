"""A small site tree with one caller per role, shared by the security tests.

The tree::

    hq (hq)
    ├── east (region)
    │   └── east-s1 (store)
    └── west (region)

Every site has a *resident* dealer and a *resident* user, and every user has a spare token
besides the one it logs in with, so that a route can be called with real objects of any
site (a dealer code, a username, a token id) without revoking the caller's own token. A
probe plugin with a settings model gives the plugin routes a real plugin to name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import BaseModel
from sqlalchemy import func, select
from starlette.testclient import TestClient
from vintry.accounts.models import Role
from vintry.accounts.principal import Actor
from vintry.accounts.service import parse_token
from vintry.campaigns.schemas import CampaignCreate, CampaignTransition, TemplateCreate
from vintry.campaigns.service import create_campaign, create_template, transition_campaign
from vintry.catalog import service as catalog
from vintry.catalog.models import Sku
from vintry.catalog.schemas import BrandCreate, CategoryCreate, ProductCreate, SkuCreate
from vintry.contracts import CampaignType, CampaignTypeRegistration, SettingsRegistration
from vintry.db.base import HQBase
from vintry.dealers.models import Dealer, DealerTier
from vintry.events.outbox import record_event
from vintry.hookspecs import hookimpl
from vintry.inventory.models import Warehouse
from vintry.orders.models import DeadLetter, Order, OrderLine, ReturnRequest, Shipment
from vintry.pages import service as pages
from vintry.pages.schemas import LayoutCreate, PublishRequest
from vintry.pages.schemas import TemplateCreate as PageTemplateCreate
from vintry.platform import Platform
from vintry.sites.models import SiteKind
from vintry_sdk.testing import VintryFactory

HQ = "hq"
EAST = "east"
WEST = "west"
EAST_STORE = "east-s1"
PROBE_PLUGIN = "matrix-probe"
CATALOG_BRAND, CATALOG_CATEGORY, CATALOG_PRODUCT, CATALOG_SKU = "MX", "MX-CAT", "MX-P", "MX-500"
WRITABLE_TABLES = (
    "sites", "site_domains", "site_setting_overrides", "dealers", "users", "api_tokens",
    "audit_log", "warehouses",
    "brands", "categories", "products", "skus", "site_prices", "price_floors", "assortment_hides",
    "stock", "stock_movements", "reservations",
    "orders", "payments", "dealer_credit", "shipments", "tracking_events", "returns",
    "return_lines", "outbox",
)


def hq_row_counts(platform: Platform) -> dict[str, int]:
    """Rows in every HQ table an API request can write, to show a refused one wrote nothing."""
    with platform.hq.reading() as session:
        return {
            name: session.scalar(select(func.count()).select_from(HQBase.metadata.tables[name]))
            or 0
            for name in WRITABLE_TABLES
        }


class ProbeSettings(BaseModel):
    """Settings of the probe plugin: one field with a default."""

    greeting: str = "hello"


class ProbeOffer(BaseModel):
    """The configuration of the probe's campaign type: nothing but a label."""

    label: str = "probe"


PROBE_CAMPAIGN_TYPE = "matrix-offer"
PROBE_CAMPAIGN = "MX-CAMP"
PROBE_TEMPLATE = "MX-TPL"
PAGE_LAYOUT = "MX-LAYOUT"
PAGE_TEMPLATE = "MX-PAGE"
SECKILL_SALE = "MX-FLASH"
"""A live flash sale of the ``seckill`` plugin at every site, when that plugin is installed."""
AUCTION_LOT = "MX-AUCTION"
"""A live English auction of the ``auction`` plugin at every site, when it is installed."""
GROUPBUY_DEAL = "MX-GROUP"
"""A live deal of the ``groupbuy`` plugin at every site (with a group), when it is installed."""


class ProbePlugin:
    """A plugin contributing a settings model and a campaign type."""

    @hookimpl
    def vintry_register_settings(self, register: SettingsRegistration) -> None:
        """Register :class:`ProbeSettings`."""
        register(ProbeSettings)

    @hookimpl
    def vintry_register_campaign_types(self, register: CampaignTypeRegistration) -> None:
        """Register a campaign type that discounts nothing."""
        register(
            CampaignType(
                name=PROBE_CAMPAIGN_TYPE,
                title="Matrix offer",
                config_model=ProbeOffer,
                lowest_unit_prices=lambda config, skus: {},
            )
        )


def _campaigns(factory: VintryFactory, sites: list[str]) -> None:
    """A draft campaign of the probe's type at every site, and an HQ template."""
    actor = Actor(name="security-world")
    factory.enable_plugin(PROBE_PLUGIN, HQ)
    now = factory.platform.clock.now()
    for site in sites:
        create_campaign(
            factory.platform.site(site),
            CampaignCreate(code=PROBE_CAMPAIGN, type=PROBE_CAMPAIGN_TYPE, name="Matrix",
                           starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=2)),
            actor=actor,
        )
    create_template(
        factory.platform,
        TemplateCreate(code=PROBE_TEMPLATE, type=PROBE_CAMPAIGN_TYPE, name="Matrix"),
        actor=actor,
    )


def _pages(factory: VintryFactory, sites: list[str]) -> None:
    """A published home-page layout at every site (version 1), and an HQ page template."""
    actor = Actor(name="security-world")
    for site in sites:
        context = factory.platform.site(site)
        pages.create_layout(context, LayoutCreate(code=PAGE_LAYOUT, title="Matrix"), actor=actor)
        pages.publish(context, PAGE_LAYOUT, PublishRequest(), actor=actor)
    pages.create_template(
        factory.platform, PageTemplateCreate(code=PAGE_TEMPLATE, title="Matrix"), actor=actor
    )


def _flash_sales(factory: VintryFactory, sites: list[str]) -> None:
    """A live flash sale at every site for the seckill plugin's ``/sales/{campaign}`` routes
    (its plugin is on at HQ like every installed plugin; nothing to do when it is absent)."""
    if factory.platform.plugins.get("seckill") is None:
        return
    actor = Actor(name="security-world")
    now = factory.platform.clock.now()
    for site in sites:
        context = factory.platform.site(site)
        create_campaign(
            context,
            CampaignCreate(code=SECKILL_SALE, type="seckill", name="Matrix flash",
                           config={"sku": CATALOG_SKU, "price": "999.00", "quantity": 10_000,
                                   "per_dealer_limit": 10_000},
                           starts_at=now, ends_at=now + timedelta(days=2)),
            actor=actor,
        )
        transition_campaign(context, SECKILL_SALE, CampaignTransition(to="scheduled"),
                            actor=actor)


def _auctions_and_group_buys(
    factory: VintryFactory, dealers: Mapping[str, str]
) -> dict[str, str]:
    """A live English auction and a live group-buy deal at every site of *dealers*, and a
    group opened by each site's resident dealer; returns each site's group code ("NONE"
    where the plugins are absent). Runs after ``_orders``, which makes the warehouse."""
    from vintry.contracts import DealerView
    from vintry.inventory import stock

    actor = Actor(name="security-world")
    now = factory.platform.clock.now()
    platform = factory.platform
    groups = dict.fromkeys(dealers, "NONE")
    with platform.hq.transaction() as session:
        sku = session.scalar(select(Sku).where(Sku.code == CATALOG_SKU))
        warehouse = session.scalar(select(Warehouse).where(Warehouse.code == "WH-MATRIX"))
        assert sku is not None and warehouse is not None
        stock.receive(session, warehouse_id=warehouse.id, sku_id=sku.id, quantity=100, now=now)
    offers = []
    if platform.plugins.get("auction") is not None:
        offers.append((AUCTION_LOT, "english-auction",
                       {"sku": CATALOG_SKU, "quantity": 1, "start_price": "1000.00",
                        "increment": "10.00"}))
    if platform.plugins.get("groupbuy") is not None:
        offers.append((GROUPBUY_DEAL, "group-buy",
                       {"sku": CATALOG_SKU, "tiers": [{"at": 2, "unit_price": "1400.00"}]}))
    for site, dealer_code in dealers.items():
        context = platform.site(site)
        for code, type_, config in offers:
            create_campaign(
                context,
                CampaignCreate(code=code, type=type_, name="Matrix", config=config,
                               starts_at=now, ends_at=now + timedelta(days=2)),
                actor=actor,
            )
            transition_campaign(context, code, CampaignTransition(to="scheduled"), actor=actor)
        if platform.plugins.get("groupbuy") is not None:
            from vintry_groupbuy.service import open_group

            with platform.hq.reading() as session:
                dealer = session.scalar(select(Dealer).where(Dealer.code == dealer_code))
                assert dealer is not None
            view = DealerView(code=dealer.code, name=dealer.name, tier=dealer.tier.value,
                              tags=tuple(dealer.tags), site=site)
            groups[site] = open_group(context, GROUPBUY_DEAL, dealer=view,
                                      dealer_id=dealer.id, quantity=1).code
    return groups


@dataclass(frozen=True)
class Caller:
    """One authenticated principal of the tree and what lies inside and outside its tenant."""

    label: str
    role: Role
    username: str
    site: str
    dealer: str | None
    token: str
    inside: tuple[str, ...]
    outside: tuple[str, ...]
    foreign: Mapping[str, str] = field(default_factory=dict)
    """Path-parameter values naming objects outside the tenant while addressing ``site``."""


@dataclass
class SecurityWorld:
    """The tree, its residents and the callers, built through the factory."""

    factory: VintryFactory
    resident_dealer: dict[str, str]
    resident_user: dict[str, str]
    spare_token_id: dict[str, str]
    callers: dict[str, Caller]
    resident_order: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per site: its resident dealer's order, a shipment and a return of it, by filler key."""
    dead_letter: dict[str, str] = field(default_factory=dict)
    group: dict[str, str] = field(default_factory=dict)
    """Per site: a group of the group-buy deal, opened by its resident dealer."""
    """Per site: the id of a relay dead letter of that site, for the relay routes."""

    def client(self, caller: Caller | None, site: str) -> TestClient:
        """A client addressing *site* through ``/sites/<code>/``, as *caller* (None: no token)."""
        return self.factory.client(caller.token if caller else None, site=site)

    def fillers(self, caller: Caller, site: str) -> dict[str, str]:
        """Path-parameter values naming real objects of *site*, keyed ``<segment>.<param>``.

        A dealer caller is given its own objects (the only ones it may touch); everyone
        else the site's residents, which every caller whose tenant holds *site* manages.
        """
        own = caller.role is Role.DEALER and site == caller.site
        username = caller.username if own else self.resident_user[site]
        return {
            "sites.code": site,
            "dealers.code": caller.dealer if own and caller.dealer else self.resident_dealer[site],
            "users.username": username,
            "tokens.token_id": self.spare_token_id[username],
            "plugins.name": PROBE_PLUGIN,
            # The library is HQ's and one for all sites: the same SKU everywhere.
            **dict.fromkeys(
                ("skus.sku", "prices.sku", "floors.sku", "assortment.sku", "items.sku",
                 "lines.sku"),
                CATALOG_SKU,
            ),
            "brands.brand": CATALOG_BRAND,
            "categories.category": CATALOG_CATEGORY,
            "products.product": CATALOG_PRODUCT,
            **self.resident_order[site],
            "dead-letters.letter_id": self.dead_letter[site],
            "campaigns.code": PROBE_CAMPAIGN,
            "campaign-types.type_name": PROBE_CAMPAIGN_TYPE,
            "campaign-templates.template": PROBE_TEMPLATE,
            "sales.campaign": SECKILL_SALE,
            "layouts.code": PAGE_LAYOUT,
            "page-blocks.type_name": "banner",
            "pages.page": "home",
            "versions.number": "1",
            "page-templates.code": PAGE_TEMPLATE,
            "auctions.code": AUCTION_LOT,
            "lots.code": AUCTION_LOT,
            "deals.code": GROUPBUY_DEAL,
            "groups.group": self.group[site],
        }


def _catalog(platform: Platform) -> None:
    """A brand, category, product and SKU for the catalog routes to name."""
    actor = Actor(name="security-world")
    catalog.create_brand(platform, BrandCreate(code=CATALOG_BRAND, name="Matrix"), actor=actor)
    catalog.create_category(
        platform, CategoryCreate(code=CATALOG_CATEGORY, name="Matrix"), actor=actor
    )
    catalog.create_product(
        platform,
        ProductCreate(code=CATALOG_PRODUCT, name="Matrix", brand=CATALOG_BRAND,
                      category=CATALOG_CATEGORY),
        actor=actor,
    )
    catalog.create_sku(
        platform,
        SkuCreate(code=CATALOG_SKU, product=CATALOG_PRODUCT, name="Matrix 500 ml", volume_ml=500,
                  abv=Decimal("53.0"), base_price=Decimal("1499.00")),
        actor=actor,
    )


def _orders(platform: Platform, owners: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """A delivered order of each dealer of *owners* (key → dealer code), with a shipment and
    a pending return, written straight to HQ for the order routes' path parameters."""
    now = platform.clock.now()
    made: dict[str, dict[str, str]] = {}
    with platform.hq.transaction() as session:
        sku = session.scalar(select(Sku).where(Sku.code == CATALOG_SKU))
        assert sku is not None
        warehouse = Warehouse(code="WH-MATRIX", name="Matrix", city="Hangzhou",
                              region_site_id=None, latitude=Decimal("30.27"),
                              longitude=Decimal("120.15"), priority=9)
        session.add(warehouse)
        session.flush()
        for key, code in owners.items():
            dealer = session.scalar(select(Dealer).where(Dealer.code == code))
            assert dealer is not None
            tag = key.upper()
            order = Order(number=f"VOMX-{tag}", site_id=dealer.site_id, dealer_id=dealer.id,
                          status="delivered", subtotal_fen=sku.base_price_fen, discount_fen=0,
                          total_fen=sku.base_price_fen, pricing={}, sourcing={}, note=None,
                          placed_at=now, pay_by=None, paid_at=now, cancelled_at=None,
                          cancel_reason=None, updated_at=now)
            session.add(order)
            session.flush()
            session.add(OrderLine(order_id=order.id, line_no=1, sku_id=sku.id, sku_code=sku.code,
                                  name=sku.name, quantity=1, base_unit_fen=sku.base_price_fen,
                                  unit_fen=sku.base_price_fen, discount_fen=0,
                                  total_fen=sku.base_price_fen, shipped_quantity=1,
                                  returned_quantity=0))
            shipment = Shipment(number=f"VSMX-{tag}", order_id=order.id,
                                warehouse_id=warehouse.id, status="signed_for", shipped_at=now,
                                estimated_arrival=now, delivered_at=now)
            request = ReturnRequest(number=f"VRMX-{tag}", order_id=order.id, dealer_id=dealer.id,
                                    site_id=dealer.site_id, status="requested",
                                    reason_code="quality", reason_text=None, requested_at=now,
                                    decided_at=None, decided_by=None, refund_fen=0)
            session.add_all([shipment, request])
            made[key] = {"orders.number": order.number, "shipments.shipment": shipment.number,
                         "returns.number": request.number}
    return made


def _dead_letters(platform: Platform, dealers: Mapping[str, str]) -> dict[str, str]:
    """A dead letter of the relay on each site (its resident dealer's change), by site."""
    now = platform.clock.now()
    made: dict[str, str] = {}
    with platform.hq.transaction() as session:
        for site, dealer in dealers.items():
            event = record_event(session, type="dealer.changed", site=site,
                                 payload={"dealer": dealer}, now=now)
            session.flush()
            letter = DeadLetter(event_id=event.id, consumer="site-read-models", site=site,
                                type=event.type, error="RuntimeError: matrix", attempts=5,
                                failed_at=now, resolved_at=None)
            session.add(letter)
            session.flush()
            made[site] = str(letter.id)
    return made


def _token_id(token: str) -> str:
    return parse_token(token)[0]


@pytest.fixture
def security_world(vintry_factory: VintryFactory) -> SecurityWorld:
    """Build the tree, residents, callers and their tokens on the test platform."""
    factory = vintry_factory
    probe = factory.platform.plugins.register(PROBE_PLUGIN, ProbePlugin())
    assert probe.status == "loaded", probe.error
    factory.site(EAST, kind=SiteKind.REGION)
    factory.site(WEST, kind=SiteKind.REGION)
    factory.site(EAST_STORE, parent=EAST, kind=SiteKind.STORE)
    # Installed plugins' routes answer 404 plugin_not_enabled where the plugin is off: turn
    # each on at HQ so the matrix checks their own permissions and tenancy, not the gate.
    for record in factory.platform.plugins.loaded():
        if not record.builtin and record.name != PROBE_PLUGIN:
            factory.enable_plugin(record.name, factory.root)
    resident_dealer = {
        HQ: factory.dealer(HQ, "D-HQ").code,
        EAST: factory.dealer(EAST, "D-EAST", tier=DealerTier.GOLD, tags=["vip"]).code,
        WEST: factory.dealer(WEST, "D-WEST").code,
        EAST_STORE: factory.dealer(EAST_STORE, "D-EAST-S1").code,
    }
    other_east_dealer = factory.dealer(EAST, "D-EAST-2").code
    usernames = {
        "hq-boss": factory.user(Role.HQ_ADMIN, HQ, username="hq-boss"),
        "op-east": factory.user(Role.SITE_OPERATOR, EAST, username="op-east"),
        "op-store": factory.user(Role.SITE_OPERATOR, EAST_STORE, username="op-store"),
        "dealer-east": factory.user(Role.DEALER, EAST, dealer="D-EAST", username="dealer-east"),
        "dealer-west": factory.user(Role.DEALER, WEST, dealer="D-WEST", username="dealer-west"),
    }
    resident_user = {HQ: "hq-boss", EAST: "op-east", EAST_STORE: "op-store", WEST: "dealer-west"}
    _catalog(factory.platform)
    _campaigns(factory, [HQ, EAST, WEST, EAST_STORE])
    _flash_sales(factory, [HQ, EAST, WEST, EAST_STORE])
    _pages(factory, [HQ, EAST, WEST, EAST_STORE])
    orders = _orders(factory.platform, {**resident_dealer, "east-2": other_east_dealer})
    groups = _auctions_and_group_buys(factory, resident_dealer)
    tokens = {name: factory.token(name) for name in usernames}
    spare = {name: _token_id(factory.token(name)) for name in usernames}

    def caller(
        label: str, username: str, role: Role, site: str, *, dealer: str | None = None,
        inside: tuple[str, ...], outside: tuple[str, ...], foreign: dict[str, str] | None = None,
    ) -> Caller:
        return Caller(label, role, username, site, dealer, tokens[username], inside, outside,
                      foreign or {})

    callers = [
        caller("hq_admin", "hq-boss", Role.HQ_ADMIN, HQ,
               inside=(HQ, EAST, EAST_STORE, WEST), outside=()),
        caller("operator_east", "op-east", Role.SITE_OPERATOR, EAST,
               inside=(EAST, EAST_STORE), outside=(WEST, HQ),
               foreign={"sites.code": WEST, "dealers.code": "D-WEST",
                        "users.username": "hq-boss", "tokens.token_id": spare["dealer-west"]}),
        caller("operator_east_s1", "op-store", Role.SITE_OPERATOR, EAST_STORE,
               inside=(EAST_STORE,), outside=(EAST, WEST, HQ),
               foreign={"sites.code": EAST, "dealers.code": "D-EAST",
                        "users.username": "op-east", "tokens.token_id": spare["op-east"]}),
        caller("dealer_east", "dealer-east", Role.DEALER, EAST, dealer="D-EAST",
               inside=(EAST,), outside=(WEST, EAST_STORE, HQ),
               foreign={"sites.code": EAST_STORE, "dealers.code": other_east_dealer,
                        "users.username": "op-east", "tokens.token_id": spare["op-east"]}),
        caller("dealer_west", "dealer-west", Role.DEALER, WEST, dealer="D-WEST",
               inside=(WEST,), outside=(EAST, HQ),
               foreign={"sites.code": HQ, "dealers.code": "D-EAST",
                        "users.username": "dealer-east", "tokens.token_id": spare["dealer-east"]}),
    ]
    # Each caller's foreign order (with its shipment and return): another tenant's.
    foreign_order = {"operator_east": WEST, "operator_east_s1": EAST, "dealer_east": "east-2",
                     "dealer_west": EAST}
    callers = [
        replace(c, foreign={**c.foreign, **orders[foreign_order[c.label]]})
        if c.label in foreign_order else c
        for c in callers
    ]
    return SecurityWorld(
        factory=factory,
        resident_dealer=resident_dealer,
        resident_user=resident_user,
        spare_token_id=spare,
        callers={c.label: c for c in callers},
        resident_order={site: orders[site] for site in resident_dealer},
        dead_letter=_dead_letters(factory.platform, resident_dealer),
        group=groups,
    )
