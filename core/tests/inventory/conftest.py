"""Objects the stock tests work on, made directly in HQ: a warehouse pair and two SKUs
(`place`), and a maker of more (`stock_catalog`)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session
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


class StockCatalog:
    """Makes SKUs and warehouses straight in HQ, for tests that need more than :class:`StockPlace`.

    The catalog's own service is not a dependency of the inventory tests: rows are added as
    the models define them, under one brand, category and product made on first use.
    """

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._product_id: int | None = None

    def _product(self, session: Session) -> int:
        if self._product_id is None:
            brand = Brand(code="TEST-BRAND", name="Test brand")
            category = Category(code="TEST-CAT", name="Test category")
            session.add_all([brand, category])
            session.flush()
            product = Product(
                code="TEST-PRODUCT", name="Test product", brand_id=brand.id, category_id=category.id
            )
            session.add(product)
            session.flush()
            self._product_id = product.id
        return self._product_id

    def skus(self, *codes: str) -> list[int]:
        """Create one SKU per code; returns their ids in order."""
        now = self.platform.clock.now()
        with self.platform.hq.transaction() as session:
            product_id = self._product(session)
            rows = [
                Sku(
                    code=code,
                    product_id=product_id,
                    name=f"Baijiu {code}",
                    volume_ml=500,
                    abv=Decimal("53.0"),
                    case_size=6,
                    base_price_fen=99_900,
                    updated_at=now,
                )
                for code in codes
            ]
            session.add_all(rows)
            session.flush()
            return [row.id for row in rows]

    def warehouse(self, code: str, *, region: str | None = None, priority: int = 5) -> int:
        """Create a warehouse serving site *region* (a national hub when None); its id."""
        region_id = self.platform.directory().get(region).id if region else None
        with self.platform.hq.transaction() as session:
            row = Warehouse(
                code=code,
                name=f"Warehouse {code}",
                city="Guiyang",
                region_site_id=region_id,
                latitude=Decimal("26.6470"),
                longitude=Decimal("106.6302"),
                priority=priority,
            )
            session.add(row)
            session.flush()
            return row.id


@pytest.fixture
def stock_catalog(vintry_platform: Platform) -> StockCatalog:
    """A :class:`StockCatalog` on the test platform."""
    return StockCatalog(vintry_platform)
