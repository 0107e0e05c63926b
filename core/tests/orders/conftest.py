"""A region with a warehouse, a hub, a SKU in stock, and dealers to order it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from vintry.catalog.models import Brand, Category, Product, Sku
from vintry.inventory import stock
from vintry.inventory.models import Warehouse
from vintry.platform import Platform
from vintry_sdk.testing import VintryFactory


@dataclass(frozen=True)
class Shop:
    """Codes and ids of the ordering world."""

    region: str
    sku: str
    other_sku: str
    warehouse_ids: tuple[int, int]


@pytest.fixture
def shop(vintry_platform: Platform, vintry_factory: VintryFactory) -> Shop:
    region = vintry_factory.site("east")
    now = vintry_platform.clock.now()
    with vintry_platform.hq.transaction() as session:
        brand, category = Brand(code="MT", name="Maotai"), Category(code="BAIJIU", name="Baijiu")
        session.add_all([brand, category])
        session.flush()
        product = Product(
            code="FEITIAN", name="Feitian", brand_id=brand.id, category_id=category.id, tags=[]
        )
        session.add(product)
        session.flush()
        skus = [
            Sku(
                code=code,
                product_id=product.id,
                name=name,
                volume_ml=ml,
                abv=Decimal("53.0"),
                case_size=6,
                base_price_fen=price,
                updated_at=now,
            )
            for code, name, ml, price in (
                ("FT-500", "Feitian 500 ml", 500, 149_900),
                ("FT-375", "Feitian 375 ml", 375, 99_900),
            )
        ]
        warehouses = [
            Warehouse(
                code="WH-E1",
                name="East 1",
                city="Shanghai",
                region_site_id=region.id,
                latitude=Decimal("31.2304"),
                longitude=Decimal("121.4737"),
                priority=1,
            ),
            Warehouse(
                code="WH-HUB",
                name="Hub",
                city="Renhuai",
                region_site_id=None,
                latitude=Decimal("27.7913"),
                longitude=Decimal("106.4017"),
                priority=2,
            ),
        ]
        session.add_all([*skus, *warehouses])
        session.flush()
        stock.receive(
            session, warehouse_id=warehouses[0].id, sku_id=skus[0].id, quantity=100, now=now
        )
        stock.receive(
            session, warehouse_id=warehouses[1].id, sku_id=skus[1].id, quantity=10, now=now
        )
        return Shop(
            region=region.code,
            sku="FT-500",
            other_sku="FT-375",
            warehouse_ids=(warehouses[0].id, warehouses[1].id),
        )
