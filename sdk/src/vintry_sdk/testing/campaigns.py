"""A two-region mall for testing campaign plugins: the world every promotion test starts from.

:func:`campaign_world` builds it through the same services the API uses: the regions
(``east`` and ``south`` by default) under HQ, the plugin enabled in some of them only, a
catalog whose SKUs have stock in a warehouse of each region (``WH-EAST``, ``WH-SOUTH``), an
operator and dealers per region with authenticated clients. The :class:`CampaignWorld` it
returns creates and publishes campaigns through HTTP and reads what HQ holds, so a plugin's
``conftest.py`` is a few lines::

    @pytest.fixture
    def mall(vintry_factory, vintry_platform, vintry_clock):
        return campaign_world(vintry_factory, vintry_platform, vintry_clock, plugin="auction")

A plugin whose tests need more (a cart helper, its own routes) subclasses the world and
passes ``world=`` the subclass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import select
from starlette.testclient import TestClient
from vintry.catalog.models import Brand, Category, Product, Sku
from vintry.clock import ManualClock
from vintry.dealers.models import DealerTier
from vintry.inventory import stock
from vintry.inventory.models import Stock, Warehouse
from vintry.orders.handover import held_units
from vintry.platform import Platform

from vintry_sdk.testing.factories import VintryFactory

__all__ = [
    "EAST",
    "FEITIAN",
    "SOUTH",
    "CampaignWorld",
    "StockedSku",
    "campaign_world",
    "stock_catalog",
]

EAST, SOUTH = "east", "south"


@dataclass(frozen=True)
class StockedSku:
    """A SKU of the test catalog and the units each region's warehouse has of it."""

    code: str
    price_fen: int
    units: int = 100
    product: str = "FEITIAN"
    category: str = "SAUCE"
    name: str | None = None


FEITIAN = StockedSku("FT-500", 149_900, name="Feitian 500 ml")
"""Feitian 500 ml at 1499.00, 100 units in each region: the default catalog."""


def stock_catalog(
    platform: Platform, regions: Mapping[str, int], skus: Sequence[StockedSku] = (FEITIAN,)
) -> dict[str, int]:
    """Brand ``MT``, the SKUs' categories and products, the SKUs, and a warehouse
    ``WH-<REGION>`` per region (``regions``: code → site id) holding each SKU's units.
    Returns the SKU ids by code."""
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        brand = Brand(code="MT", name="Maotai")
        categories = {
            code: Category(code=code, name=code.title())
            for code in dict.fromkeys(sku.category for sku in skus)
        }
        session.add_all([brand, *categories.values()])
        session.flush()
        products = {
            sku.product: Product(
                code=sku.product,
                name=sku.product.title(),
                brand_id=brand.id,
                category_id=categories[sku.category].id,
                tags=[],
            )
            for sku in reversed(skus)  # the first SKU of a product decides its category
        }
        session.add_all(products.values())
        session.flush()
        rows = [
            Sku(
                code=sku.code,
                product_id=products[sku.product].id,
                name=sku.name or sku.code,
                volume_ml=500,
                abv=Decimal("53.0"),
                case_size=6,
                base_price_fen=sku.price_fen,
                updated_at=now,
            )
            for sku in skus
        ]
        session.add_all(rows)
        session.flush()
        for region, region_id in regions.items():
            warehouse = Warehouse(
                code=f"WH-{region.upper()}",
                name=region,
                city=region,
                region_site_id=region_id,
                latitude=Decimal("30.0"),
                longitude=Decimal("120.0"),
                priority=1,
            )
            session.add(warehouse)
            session.flush()
            for sku, row in zip(skus, rows, strict=True):
                stock.receive(
                    session, warehouse_id=warehouse.id, sku_id=row.id, quantity=sku.units, now=now
                )
        return {row.code: row.id for row in rows}


@dataclass
class CampaignWorld:
    """The regions, their operators and dealers, and what the tests ask of HQ."""

    factory: VintryFactory
    platform: Platform
    clock: ManualClock
    operator: dict[str, TestClient]
    """A site operator's client per region."""
    dealers: dict[str, list[TestClient]]
    """Each region's dealers' clients, in the order they were made."""
    dealer: dict[str, TestClient]
    """The same clients by ``<region>-<tier>`` (tiered dealers) or ``<region>-<n>``."""

    def campaign(
        self,
        type_: str,
        config: dict[str, Any],
        *,
        code: str | None = None,
        site: str = EAST,
        name: str | None = None,
        starts_in: timedelta = timedelta(0),
        lasts: timedelta = timedelta(days=1),
        publish: bool = True,
        **fields: Any,
    ) -> dict[str, Any]:
        """Create campaign *code* (the type in capitals by default) of *type_* at *site*
        through HTTP, starting *starts_in* from now and lasting *lasts*, with any other
        field of ``POST /api/v1/campaigns`` in *fields*; publish it unless told not to.
        Returns the campaign's JSON."""
        starts = self.clock.now() + starts_in
        code = code or type_.upper()
        body = {
            "code": code,
            "type": type_,
            "name": name or type_.replace("-", " ").title(),
            "config": config,
            "starts_at": starts.isoformat(),
            "ends_at": (starts + lasts).isoformat(),
            **fields,
        }
        created = self.operator[site].post("/api/v1/campaigns", json=body)
        assert created.status_code == 201, created.text
        if not publish:
            return dict(created.json())
        published = self.operator[site].post(
            f"/api/v1/campaigns/{code}/transition", json={"to": "scheduled"}
        )
        assert published.status_code == 200, published.text
        return dict(published.json())

    def set_floor(self, sku: str, min_price: str) -> None:
        """Set HQ's minimum price of *sku* through HTTP, as HQ's administrator."""
        hq = self.factory.admin_client(site=self.factory.root)
        response = hq.put(f"/api/v1/catalog/floors/{sku}", json={"min_price": min_price})
        assert response.status_code in (200, 201), response.text

    def held(self, reference: str) -> int:
        """Units HQ holds under reservation *reference*."""
        return held_units(self.platform.site(self.factory.root), reference)

    def free_units(self, region: str = EAST, sku: str = FEITIAN.code) -> int:
        """On hand less held of *sku* in *region*'s warehouse."""
        with self.platform.hq.reading() as session:
            free = session.execute(
                select(Stock.on_hand - Stock.reserved)
                .join(Warehouse, Warehouse.id == Stock.warehouse_id)
                .join(Sku, Sku.id == Stock.sku_id)
                .where(Warehouse.code == f"WH-{region.upper()}", Sku.code == sku)
            ).scalar_one()
            return int(free)


World = TypeVar("World", bound=CampaignWorld)


def campaign_world(
    factory: VintryFactory,
    platform: Platform,
    clock: ManualClock,
    *,
    plugin: str,
    world: type[World] = CampaignWorld,  # type: ignore[assignment]
    skus: Sequence[StockedSku] = (FEITIAN,),
    dealers: int | Sequence[DealerTier] = 3,
    regions: Sequence[str] = (EAST, SOUTH),
    enabled_in: Sequence[str] = (EAST,),
) -> World:
    """Build the world: *regions* under HQ, *plugin* on in *enabled_in* only, *skus* in
    stock in every region, an operator and *dealers* per region — a number of silver
    dealers coded ``D-<REGION>-<n>``, or one dealer per tier coded ``D-<REGION>-<TIER>``."""
    ids = {code: factory.site(code).id for code in regions}
    for code in enabled_in:
        factory.enable_plugin(plugin, code)
    stock_catalog(platform, ids, skus)
    by_region: dict[str, list[TestClient]] = {}
    by_key: dict[str, TestClient] = {}
    for region in regions:
        by_region[region] = []
        made: Sequence[tuple[str, DealerTier]] = (
            [(str(n), DealerTier.SILVER) for n in range(dealers)]
            if isinstance(dealers, int)
            else [(tier.value, tier) for tier in dealers]
        )
        for suffix, tier in made:
            code = f"D-{region.upper()}-{suffix.upper()}"
            factory.dealer(region, code, tier=tier)
            client = factory.client_for("dealer", region, dealer=code)
            by_region[region].append(client)
            by_key[f"{region}-{suffix}"] = client
    operators = {region: factory.client_for("site_operator", region) for region in regions}
    return world(factory, platform, clock, operators, by_region, by_key)
