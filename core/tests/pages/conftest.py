"""A small mall chain for the page tests: two regions, a catalog with stock, dealers of two
tiers, and a probe plugin offering a campaign type and a block type of its own.

The probe is enabled in east only, so west is where "a plugin not enabled here" is tested,
and turning it off in east is how "a disabled plugin's block disappears" is tested.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field
from starlette.testclient import TestClient
from vintry.api import create_app
from vintry.catalog.models import Brand, Category, Product, Sku
from vintry.clock import ManualClock
from vintry.dealers.models import DealerTier
from vintry.inventory import stock
from vintry.inventory.models import Warehouse
from vintry.platform import Platform
from vintry.plugins import PluginHost
from vintry_sdk import (
    BlockRender,
    BlockType,
    CampaignSkuView,
    CampaignType,
    CampaignTypeRegistration,
    PageBlockRegistration,
    PageEvent,
    SiteContext,
    hookimpl,
)
from vintry_sdk.testing import VintryFactory

PROBE = "page-probe"
EAST, WEST = "east", "west"
SKUS = tuple(f"SKU-{n:02d}" for n in range(1, 15))
"""Fourteen SKUs: 01–07 baijiu (tagged ``festival`` for the odd ones), 08–14 wine."""


class Offer(BaseModel):
    """So much off each unit of *skus* (the probe never prices carts: it is displayed)."""

    skus: list[str] = Field(min_length=1)
    off: Decimal = Field(gt=0, decimal_places=2)


class OffersBlock(BaseModel):
    title: str = "Offers"


def _offers(block: BlockRender) -> Mapping[str, Any] | None:
    try:
        asyncio.get_running_loop()
        RENDER_THREADS.append("event loop")
    except RuntimeError:
        RENDER_THREADS.append(threading.current_thread().name)
    offers = block.campaigns("probe-offer")
    if not offers:
        return None
    return {"title": block.config.title, "offers": [o.code for o in offers]}


@dataclass
class ProbePlugin:
    """A campaign type, a block type showing its live campaigns, and a page-event sink."""

    events: list[tuple[str, PageEvent]] = field(default_factory=list)

    @hookimpl
    def vintry_register_campaign_types(self, register: CampaignTypeRegistration) -> None:
        """Offer ``probe-offer``."""

        def lowest(config: Offer, skus: Sequence[CampaignSkuView]) -> Mapping[str, Decimal]:
            return {s.sku: s.unit_price - config.off for s in skus if s.sku in config.skus}

        register(
            CampaignType(
                name="probe-offer", title="Offer", config_model=Offer, lowest_unit_prices=lowest
            )
        )

    @hookimpl
    def vintry_register_page_blocks(self, register: PageBlockRegistration) -> None:
        """Offer ``probe-offers``."""
        register(
            BlockType(name="probe-offers", title="Offers", config_model=OffersBlock, render=_offers)
        )

    @hookimpl
    def vintry_record_page_events(self, events: list[PageEvent], site: SiteContext) -> None:
        """Keep what was recorded."""
        self.events.extend((site.code, event) for event in events)


@pytest.fixture
def probe() -> ProbePlugin:
    return ProbePlugin()


@pytest.fixture
def vintry_app(vintry_platform: Platform, probe: ProbePlugin) -> FastAPI:
    """The API with the probe installed first (as a server loads plugins)."""
    record = vintry_platform.plugins.register(PROBE, probe)
    assert record.status == "loaded", record.error
    return create_app(vintry_platform)


def _catalog(platform: Platform, east_id: int, west_id: int) -> None:
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        brand = Brand(code="MT", name="Maotai")
        drinks = Category(code="DRINKS", name="Drinks")
        session.add_all([brand, drinks])
        session.flush()
        baijiu = Category(code="BAIJIU", name="Baijiu", parent_id=drinks.id)
        wine = Category(code="WINE", name="Wine", parent_id=drinks.id)
        session.add_all([baijiu, wine])
        session.flush()
        skus = []
        for n, code in enumerate(SKUS, start=1):
            product = Product(
                code=f"P-{n:02d}",
                name=f"Product {n}",
                brand_id=brand.id,
                category_id=(baijiu if n <= 7 else wine).id,
                tags=["festival"] if n % 2 and n <= 7 else [],
            )
            session.add(product)
            session.flush()
            skus.append(
                Sku(
                    code=code,
                    product_id=product.id,
                    name=f"Bottle {n}",
                    volume_ml=500,
                    abv=Decimal("52.0"),
                    base_price_fen=10_000 * n,
                    updated_at=now,
                )
            )
        session.add_all(skus)
        warehouses = [
            Warehouse(
                code=f"WH-{site.upper()}",
                name=site,
                city=site,
                region_site_id=site_id,
                latitude=Decimal("31.23"),
                longitude=Decimal("121.47"),
                priority=1,
            )
            for site, site_id in ((EAST, east_id), (WEST, west_id))
        ]
        session.add_all(warehouses)
        session.flush()
        for warehouse in warehouses:
            for n, sku in enumerate(skus, start=1):
                stock.receive(
                    session, warehouse_id=warehouse.id, sku_id=sku.id, quantity=n, now=now
                )


@dataclass
class Mall:
    """Two regions, their operators, two dealers each (gold ``vip`` and silver), HQ."""

    factory: VintryFactory
    platform: Platform
    probe: ProbePlugin
    hq: TestClient
    operator: dict[str, TestClient]
    dealer: dict[str, TestClient]
    dealer_code: dict[str, str]

    def layout(self, site: str = EAST, code: str = "main", **fields: Any) -> dict[str, Any]:
        """Create layout *code* at *site* (201 asserted) and return it."""
        body: dict[str, Any] = {"code": code, "title": f"{site} home", "sections": SECTIONS}
        body.update(fields)
        created = self.operator[site].post("/api/v1/layouts", json=body)
        assert created.status_code == 201, created.text
        return dict(created.json())

    def publish(self, site: str = EAST, code: str = "main", **window: Any) -> dict[str, Any]:
        body = {k: v.isoformat() for k, v in window.items()}
        published = self.operator[site].post(f"/api/v1/layouts/{code}/publish", json=body)
        assert published.status_code == 201, published.text
        return dict(published.json())

    def home(self, who: str = "east-gold") -> dict[str, Any]:
        """The home page as dealer *who* sees it."""
        response = self.dealer[who].get("/api/v1/pages/home")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def campaign(self, site: str = EAST, code: str = "C1", **fields: Any) -> None:
        now = self.platform.clock.now()
        body: dict[str, Any] = {
            "code": code,
            "type": "probe-offer",
            "name": code,
            "config": {"skus": [SKUS[0]], "off": "10.00"},
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(days=7)).isoformat(),
        }
        body.update(fields)
        created = self.operator[site].post("/api/v1/campaigns", json=body)
        assert created.status_code == 201, created.text
        moved = self.operator[site].post(
            f"/api/v1/campaigns/{code}/transition", json={"to": "scheduled"}
        )
        assert moved.status_code == 200, moved.text


SECTIONS: list[dict[str, Any]] = [
    {
        "key": "top",
        "title": "Welcome",
        "blocks": [
            {
                "key": "hero",
                "type": "banner",
                "config": {"image_url": "/img/hero.jpg", "title": "Spring", "link": "/c/spring"},
            },
            {"key": "note", "type": "notice", "config": {"text": "Orders ship in 48h"}},
        ],
    },
    {
        "key": "picks",
        "blocks": [
            {
                "key": "premium",
                "type": "product-grid",
                "config": {"selection": {"by": "skus", "skus": [SKUS[2], SKUS[0]]}},
            },
            {"key": "for-you", "type": "campaigns-for-you", "config": {}},
        ],
    },
]


@pytest.fixture
def mall(vintry_factory: VintryFactory, vintry_platform: Platform, probe: ProbePlugin) -> Mall:
    east = vintry_factory.site(EAST)
    west = vintry_factory.site(WEST)
    vintry_factory.enable_plugin(PROBE, EAST)
    _catalog(vintry_platform, east.id, west.id)
    dealers, codes = {}, {}
    for site in (EAST, WEST):
        for label, tier, tags in (
            ("gold", DealerTier.GOLD, ["vip"]),
            ("silver", DealerTier.SILVER, []),
        ):
            code = f"D-{site.upper()}-{label.upper()}"
            vintry_factory.dealer(site, code, tier=tier, tags=tags)
            dealers[f"{site}-{label}"] = vintry_factory.client_for("dealer", site, dealer=code)
            codes[f"{site}-{label}"] = code
    operators = {site: vintry_factory.client_for("site_operator", site) for site in (EAST, WEST)}
    return Mall(
        vintry_factory,
        vintry_platform,
        probe,
        vintry_factory.admin_client(),
        operators,
        dealers,
        codes,
    )


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


@dataclass
class Worker:
    """A second Platform on the same databases — another worker process: its own caches,
    its own plugin host — and a client of it per dealer of the mall."""

    platform: Platform
    dealer: dict[str, TestClient]

    def home(self, who: str = "east-gold") -> dict[str, Any]:
        """The home page as dealer *who* sees it through this worker."""
        response = self.dealer[who].get("/api/v1/pages/home")
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture
def worker(mall: Mall, vintry_clock: ManualClock) -> Iterator[Worker]:
    platform = Platform(
        mall.platform.settings,
        clock=vintry_clock,
        plugins=PluginHost(allow=mall.platform.settings.load_plugins),
    )
    record = platform.plugins.register(PROBE, ProbePlugin())
    assert record.status == "loaded", record.error
    app = create_app(platform)
    with ExitStack() as clients:
        dealers = {
            who: clients.enter_context(
                TestClient(
                    app,
                    base_url=str(client.base_url),
                    headers={"Authorization": client.headers["Authorization"]},
                    raise_server_exceptions=False,
                )
            )
            for who, client in mall.dealer.items()
        }
        yield Worker(platform, dealers)
    platform.close()


RENDER_THREADS: list[str] = []
"""Where the probe block rendered: a worker thread's name, or "event loop" (cleared by
tests that look)."""
