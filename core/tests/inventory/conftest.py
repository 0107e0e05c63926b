"""A warehouse pair and a SKU to hold stock of, made directly in HQ."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from vintry.catalog.models import Brand, Category, Product, Sku
from vintry.inventory.models import Warehouse
from vintry.platform import Platform


@dataclass(frozen=True)
class StockPlace:
    """Ids of the objects the stock tests work on."""

    warehouse_ids: tuple[int, int]
    sku_ids: tuple[int, int]


@pytest.fixture
def place(vintry_platform: Platform) -> StockPlace:
    now = vintry_platform.clock.now()
    with vintry_platform.hq.transaction() as session:
        brand = Brand(code="MT", name="Maotai")
        category = Category(code="BAIJIU", name="Baijiu")
        session.add_all([brand, category])
        session.flush()
        product = Product(
            code="FEITIAN", name="Feitian", brand_id=brand.id, category_id=category.id
        )
        session.add(product)
        session.flush()
        skus = [
            Sku(
                code=f"FT-{ml}",
                product_id=product.id,
                name=f"Feitian {ml} ml",
                volume_ml=ml,
                abv=Decimal("53.0"),
                case_size=6,
                base_price_fen=149_900,
                updated_at=now,
            )
            for ml in (500, 375)
        ]
        warehouses = [
            Warehouse(
                code=f"WH-{n}",
                name=f"Warehouse {n}",
                city="Guiyang",
                latitude=Decimal("26.6470"),
                longitude=Decimal("106.6302"),
                priority=n,
            )
            for n in (1, 2)
        ]
        session.add_all([*skus, *warehouses])
        session.flush()
        return StockPlace(
            warehouse_ids=(warehouses[0].id, warehouses[1].id), sku_ids=(skus[0].id, skus[1].id)
        )
