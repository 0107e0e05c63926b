"""A small world for the analytics tests, built through the kernel's own services.

::

    hq
    ├── east (region, warehouse WH-E)
    │   └── east-s1 (store)
    └── west (region, warehouse WH-W)

The plugin is on at HQ (so everywhere); dealers, a catalogue and stock exist; orders and
returns are written straight into HQ with their outbox events, and the relay delivers those
to the plugin exactly as in production. Each test gets its own platform (SQLite, and
PostgreSQL too when ``VINTRY_TEST_POSTGRES_URL`` is set).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from typer.testing import CliRunner
from vintry.accounts.models import Role
from vintry.accounts.principal import Actor
from vintry.catalog import service as catalog
from vintry.catalog.models import Sku
from vintry.catalog.schemas import BrandCreate, CategoryCreate, ProductCreate, SkuCreate
from vintry.cli.console import console
from vintry.dealers.models import Dealer, DealerTier
from vintry.events.outbox import record_event
from vintry.events.read_models import rebuild_site
from vintry.events.relay import Relay
from vintry.inventory import stock
from vintry.inventory.models import Warehouse
from vintry.orders.models import Order, OrderLine, ReturnLine, ReturnRequest, Shipment
from vintry.platform import Platform
from vintry.sites.models import SiteKind
from vintry_sdk import ManualClock
from vintry_sdk.testing import VintryFactory

from vintry_analytics.models import BehaviourEvent
from vintry_analytics.storage import epoch_ms

ACTOR = Actor(name="analytics-tests")
SKUS = {"FT-500": "1499.00", "FT-200": "699.00", "FT-100": "399.00", "LJ-500": "899.00"}
BASE = "/api/v1/x/analytics"
UNTIL = "2026-01-01T00:00:00+00:00"
"""The end of the CLI tests' reports (the test clock's now)."""


@dataclass
class World:
    """The tree, its dealers and helpers to seed behaviour, orders and returns."""

    factory: VintryFactory
    clock: ManualClock
    dealers: dict[str, list[str]] = field(default_factory=dict)
    warehouses: dict[str, int] = field(default_factory=dict)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def platform(self) -> Platform:
        """The test platform."""
        return self.factory.platform

    def dealer_client(self, dealer: str, site: str) -> TestClient:
        """A client logged in as a user of *dealer*, addressing *site*."""
        return self.factory.client_for(Role.DEALER, site, dealer=dealer)

    def operator_client(self, site: str) -> TestClient:
        """A client of a new operator of *site*."""
        return self.factory.client_for(Role.SITE_OPERATOR, site)

    def hq_client(self, site: str = "hq") -> TestClient:
        """The HQ administrator addressing *site*."""
        return self.factory.admin_client(site=site)

    def events(self, site: str, rows: Sequence[tuple[str, str, str | None, datetime]]) -> None:
        """Store behaviour events (dealer, type, SKU, time) straight into *site*'s database."""
        with self.platform.site_database(site).transaction() as session:
            session.add_all(
                BehaviourEvent(
                    uid=None,
                    dealer=dealer,
                    session="s-test",
                    type=type_,
                    sku=sku,
                    occurred_ms=epoch_ms(moment),
                    received_at=moment,
                    source="client",
                    dwell_ms=30_000 if type_ == "product_view" else None,
                    quantity=1 if type_ in ("add_to_cart", "order_placed") else None,
                    amount_fen=None,
                    reference=None,
                    properties={},
                )
                for dealer, type_, sku, moment in rows
            )

    def order(
        self,
        dealer: str,
        lines: Sequence[tuple[str, int]],
        *,
        placed_at: datetime,
        status: str = "placed",
        campaign: str | None = None,
        returned: Sequence[tuple[str, int, str]] = (),
    ) -> str:
        """An order of *dealer* written into HQ with its ``order.placed`` event; delivered
        orders get a signed shipment; *returned* adds a requested return per (SKU, units,
        reason)."""
        number = f"VO-T{next(self._numbers):05d}"
        with self.platform.hq.transaction() as session:
            owner = session.scalar(select(Dealer).where(Dealer.code == dealer))
            assert owner is not None
            site = self.platform.directory().by_id(owner.site_id).code
            skus = {s.code: s for s in session.scalars(select(Sku))}
            subtotal = sum(skus[sku].base_price_fen * qty for sku, qty in lines)
            pricing: dict[str, Any] = {"applied": []}
            if campaign:
                pricing["applied"] = [{"campaign": campaign, "amount": "1.00"}]
            shipped = status in ("shipped", "delivered")
            order = Order(
                number=number,
                site_id=owner.site_id,
                dealer_id=owner.id,
                status=status,
                subtotal_fen=subtotal,
                discount_fen=0,
                total_fen=subtotal,
                pricing=pricing,
                sourcing={},
                note=None,
                placed_at=placed_at,
                pay_by=None,
                paid_at=placed_at if status != "placed" else None,
                cancelled_at=None,
                cancel_reason=None,
                updated_at=placed_at,
            )
            session.add(order)
            session.flush()
            order_lines = {}
            for index, (sku, qty) in enumerate(lines, start=1):
                line = OrderLine(
                    order_id=order.id,
                    line_no=index,
                    sku_id=skus[sku].id,
                    sku_code=sku,
                    name=sku,
                    quantity=qty,
                    base_unit_fen=skus[sku].base_price_fen,
                    unit_fen=skus[sku].base_price_fen,
                    discount_fen=0,
                    total_fen=skus[sku].base_price_fen * qty,
                    shipped_quantity=qty if shipped else 0,
                    returned_quantity=0,
                )
                session.add(line)
                order_lines[sku] = line
            session.flush()
            if shipped:
                session.add(
                    Shipment(
                        number=f"VS-{number}",
                        order_id=order.id,
                        warehouse_id=next(iter(self.warehouses.values())),
                        status="signed_for" if status == "delivered" else "left_warehouse",
                        shipped_at=placed_at,
                        estimated_arrival=placed_at,
                        delivered_at=placed_at + timedelta(days=1)
                        if status == "delivered"
                        else None,
                    )
                )
            record_event(
                session,
                type="order.placed",
                site=site,
                payload={"number": number, "dealer": dealer},
                now=placed_at,
            )
            for index, (sku, units, reason) in enumerate(returned):
                request = ReturnRequest(
                    number=f"VR-{number}-{index}",
                    order_id=order.id,
                    dealer_id=owner.id,
                    site_id=owner.site_id,
                    status="requested",
                    reason_code=reason,
                    reason_text=None,
                    requested_at=placed_at + timedelta(days=2),
                    decided_at=None,
                    decided_by=None,
                    refund_fen=0,
                )
                session.add(request)
                session.flush()
                session.add(
                    ReturnLine(
                        return_id=request.id,
                        order_line_id=order_lines[sku].id,
                        quantity=units,
                        disposition=None,
                        warehouse_id=None,
                        refund_fen=0,
                    )
                )
        return number

    def relay(self) -> None:
        """Deliver the outbox to the read models and the plugins, as the relay process does."""
        relay = Relay(self.platform)
        for _ in range(50):
            report = relay.run_once(batch=500)
            if not report.applied and not report.delivered and not report.pending:
                break


def _catalog(platform: Platform) -> None:
    catalog.create_brand(platform, BrandCreate(code="FT", name="Feitian"), actor=ACTOR)
    catalog.create_category(platform, CategoryCreate(code="BAIJIU", name="Baijiu"), actor=ACTOR)
    catalog.create_product(
        platform,
        ProductCreate(code="FT-P", name="Feitian", brand="FT", category="BAIJIU"),
        actor=ACTOR,
    )
    for code, price in SKUS.items():
        catalog.create_sku(
            platform,
            SkuCreate(
                code=code,
                product="FT-P",
                name=f"Feitian {code}",
                volume_ml=500,
                abv=Decimal("53.0"),
                base_price=Decimal(price),
            ),
            actor=ACTOR,
        )


@pytest.fixture
def world(vintry_factory: VintryFactory, vintry_clock: ManualClock) -> World:
    """The tree with the plugin on at HQ, dealers, catalogue, stock and built read models."""
    factory = vintry_factory
    factory.site("east", kind=SiteKind.REGION)
    factory.site("west", kind=SiteKind.REGION)
    factory.site("east-s1", parent="east", kind=SiteKind.STORE)
    factory.enable_plugin("analytics", factory.root)
    built = World(factory, vintry_clock)
    tiers = [DealerTier.GOLD, DealerTier.SILVER, DealerTier.BRONZE, DealerTier.PLATINUM]
    for site, prefix, count in (("east", "DE", 8), ("west", "DW", 8), ("east-s1", "DS", 3)):
        built.dealers[site] = [
            factory.dealer(site, f"{prefix}-{n:02d}", tier=tiers[n % len(tiers)]).code
            for n in range(count)
        ]
    _catalog(factory.platform)
    now = vintry_clock.now()
    with factory.platform.hq.transaction() as session:
        directory = factory.platform.directory()
        skus = {s.code: s.id for s in session.scalars(select(Sku))}
        for code, region in (("WH-E", "east"), ("WH-W", "west")):
            warehouse = Warehouse(
                code=code,
                name=code,
                city="City",
                priority=1,
                region_site_id=directory.get(region).id,
                latitude=Decimal("30.0"),
                longitude=Decimal("120.0"),
            )
            session.add(warehouse)
            session.flush()
            built.warehouses[region] = warehouse.id
            for sku_id in skus.values():
                stock.receive(
                    session, warehouse_id=warehouse.id, sku_id=sku_id, quantity=500, now=now
                )
    for code in ("hq", "east", "west", "east-s1"):
        rebuild_site(factory.platform, code)
    built.relay()
    return built


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner whose ``Platform()`` opens the test platform's databases."""
    settings = world.platform.settings
    monkeypatch.setenv("VINTRY_DATA_DIR", str(settings.data_dir))
    for name, value in (
        ("VINTRY_HQ_DATABASE_URL", settings.hq_database_url),
        ("VINTRY_SITE_DATABASE_URL", settings.site_database_url),
    ):
        if value:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("VINTRY_CONFIG_FILE", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    # Rich reads COLUMNS once, when the shared console is built: set its width too.
    monkeypatch.setattr(console, "width", 200)
    return CliRunner()
