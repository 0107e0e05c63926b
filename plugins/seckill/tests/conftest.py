"""Two regions — east with seckill on, south without — a SKU in stock, an operator and
dealers per region, all through the fixtures of ``vintry_sdk.testing``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
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

from vintry_seckill import PLUGIN_NAME

EAST, SOUTH = "east", "south"
FEITIAN = "FT-500"
"""Feitian at 1499.00, 500 units in each region's warehouse."""
STOCK = 500


@dataclass
class Mall:
    """What the tests work with."""

    factory: VintryFactory
    platform: Platform
    operator: dict[str, TestClient]
    dealer: dict[str, TestClient]
    extra: dict[str, TestClient] = field(default_factory=dict)

    def sale(
        self, code: str = "FLASH", *, site: str = EAST, publish: bool = True, **config: Any
    ) -> dict[str, Any]:
        """Create (and publish) a flash sale of FT-500 at 999.00, live for a day from now."""
        now = self.platform.clock.now()
        body = {
            "code": code,
            "type": "seckill",
            "name": f"Flash {code}",
            "config": {"sku": FEITIAN, "price": "999.00", "quantity": 3,
                       "per_dealer_limit": 2, **config},
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(days=1)).isoformat(),
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

    def grab(self, dealer: str, code: str = "FLASH", quantity: int | None = None) -> Any:
        """*dealer*'s attempt on sale *code*."""
        client = self.dealer.get(dealer) or self.extra[dealer]
        body = None if quantity is None else {"quantity": quantity}
        return client.post(f"/api/v1/x/seckill/sales/{code}/attempts", json=body)

    def status(self, code: str = "FLASH", site: str = EAST) -> dict[str, Any]:
        """The sale's counter, as the operator reads it."""
        response = self.operator[site].get(f"/api/v1/x/seckill/sales/{code}")
        assert response.status_code == 200, response.text
        return dict(response.json())


def error_code(response: Any) -> str:
    """The error code of a refused response."""
    return str(response.json()["error"]["code"])


def catalog(platform: Platform, regions: dict[str, int], units: int = STOCK) -> None:
    """Feitian 1499.00 with *units* in a warehouse of each region."""
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        brand, category = Brand(code="MT", name="Maotai"), Category(code="SAUCE", name="Sauce")
        session.add_all([brand, category])
        session.flush()
        product = Product(
            code="FEITIAN", name="Feitian", brand_id=brand.id, category_id=category.id, tags=[]
        )
        session.add(product)
        session.flush()
        sku = Sku(
            code=FEITIAN,
            product_id=product.id,
            name="Feitian 500 ml",
            volume_ml=500,
            abv=Decimal("53.0"),
            case_size=6,
            base_price_fen=149_900,
            updated_at=now,
        )
        session.add(sku)
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
            stock.receive(session, warehouse_id=warehouse.id, sku_id=sku.id, quantity=units,
                          now=now)


@pytest.fixture
def mall(vintry_factory: VintryFactory, vintry_platform: Platform) -> Mall:
    """east (seckill on) and south (off), with a gold, a silver and a third dealer each."""
    regions = {code: vintry_factory.site(code).id for code in (EAST, SOUTH)}
    vintry_factory.enable_plugin(PLUGIN_NAME, EAST)
    catalog(vintry_platform, regions)
    dealers = {}
    for region in regions:
        for tier in (DealerTier.GOLD, DealerTier.SILVER, DealerTier.BRONZE):
            code = f"D-{region.upper()}-{tier.value.upper()}"
            vintry_factory.dealer(region, code, tier=tier)
            dealers[f"{region}-{tier.value}"] = vintry_factory.client_for(
                "dealer", region, dealer=code
            )
    operators = {region: vintry_factory.client_for("site_operator", region) for region in regions}
    return Mall(vintry_factory, vintry_platform, operators, dealers)
