"""One region with three warehouses — one near holding X, one near holding Y, one far
holding both — two SKUs, and a gold dealer, through the fixtures of ``vintry_sdk.testing``."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from starlette.testclient import TestClient
from vintry.catalog.models import Brand, Category, Product, Sku
from vintry.dealers.models import DealerTier
from vintry.inventory import stock
from vintry.inventory.models import Warehouse
from vintry_sdk import Platform
from vintry_sdk.testing import VintryFactory

EAST = "east"
_keys = itertools.count()


@dataclass
class World:
    """The dealer's code and client."""

    dealer: str
    client: TestClient

    def place(self, lines: dict[str, int]) -> dict[str, Any]:
        """Place an order of *lines*; its JSON."""
        response = self.client.post(
            "/api/v1/orders",
            headers={"Idempotency-Key": f"sourcing-{next(_keys)}"},
            json={"lines": [{"sku": sku, "quantity": units} for sku, units in lines.items()]},
        )
        assert response.status_code == 201, response.text
        return dict(response.json())


@pytest.fixture
def world(vintry_factory: VintryFactory, vintry_platform: Platform) -> World:
    """East with WH-HOME (the region's reference point), two near and one far warehouse."""
    region = vintry_factory.site(EAST)
    now = vintry_platform.clock.now()
    with vintry_platform.hq.transaction() as session:
        brand, category = Brand(code="MT", name="Maotai"), Category(code="SAUCE", name="Sauce")
        session.add_all([brand, category])
        session.flush()
        product = Product(code="P", name="P", brand_id=brand.id, category_id=category.id, tags=[])
        session.add(product)
        session.flush()
        skus = {
            code: Sku(
                code=code,
                product_id=product.id,
                name=code,
                volume_ml=500,
                abv=Decimal("53.0"),
                case_size=6,
                base_price_fen=10_000,
                updated_at=now,
            )
            for code in ("X", "Y")
        }
        session.add_all(skus.values())
        places = [
            ("WH-HOME", "31.2000", "121.4000", 1, {}),
            ("WH-NEAR-X", "31.3000", "121.5000", 2, {"X": 50}),
            ("WH-NEAR-Y", "31.1000", "121.3000", 2, {"Y": 50}),
            ("WH-FAR", "39.9000", "116.4000", 3, {"X": 50, "Y": 50}),
        ]
        for code, lat, lon, priority, units in places:
            warehouse = Warehouse(
                code=code,
                name=code,
                city=code,
                region_site_id=region.id,
                latitude=Decimal(lat),
                longitude=Decimal(lon),
                priority=priority,
            )
            session.add(warehouse)
            session.flush()
            for sku, quantity in units.items():
                stock.receive(
                    session,
                    warehouse_id=warehouse.id,
                    sku_id=skus[sku].id,
                    quantity=quantity,
                    now=now,
                )
    dealer = vintry_factory.dealer(EAST, "D-GOLD", tier=DealerTier.GOLD)
    return World(dealer.code, vintry_factory.client_for("dealer", EAST, dealer="D-GOLD"))
