"""Two regions — east with the plugin on, south without — a small catalog with stock, and
an operator and dealers per region, all through the fixtures of ``vintry_sdk.testing``."""

from __future__ import annotations

from dataclasses import dataclass
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

from vintry_discounts import PLUGIN_NAME

EAST, SOUTH = "east", "south"
FEITIAN, SMALL, LIGHT, GLASS = "FT-500", "FT-375", "LT-500", "GLASS-6"
"""Feitian 1499.00 and 999.00 (category SAUCE), a light-aroma 299.00 (LIGHT), a glass set
88.00 (GIFTS); 100 units of each spirit per region, 3 glass sets."""


@dataclass
class Mall:
    """What the tests work with."""

    factory: VintryFactory
    platform: Platform
    operator: dict[str, TestClient]
    dealer: dict[str, TestClient]

    def campaign(self, type_: str, config: dict[str, Any], site: str = EAST, **fields: Any) -> Any:
        """Create and publish a campaign of *type_* (live for a week from now)."""
        now = self.platform.clock.now()
        body = {
            "code": fields.pop("code", type_.upper()),
            "type": type_,
            "name": fields.pop("name", type_.replace("-", " ").title()),
            "config": config,
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(days=7)).isoformat(),
            **fields,
        }
        created = self.operator[site].post("/api/v1/campaigns", json=body)
        assert created.status_code == 201, created.text
        published = self.operator[site].post(
            f"/api/v1/campaigns/{body['code']}/transition", json={"to": "scheduled"}
        )
        assert published.status_code == 200, published.text
        return published.json()

    def cart(self, dealer: str, lines: dict[str, int]) -> dict[str, Any]:
        """*dealer*'s cart holding *lines*, priced."""
        client = self.dealer[dealer]
        client.delete("/api/v1/cart")
        response = None
        for sku, quantity in lines.items():
            response = client.put(f"/api/v1/cart/lines/{sku}", json={"quantity": quantity})
            assert response.status_code == 200, response.text
        assert response is not None
        return dict(response.json())


def explained(cart: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The cart's explanation by campaign code."""
    return {entry["campaign"]: entry for entry in cart["campaigns"]}


def line(cart: dict[str, Any], sku: str) -> dict[str, Any]:
    """The cart's line of *sku*."""
    return next(item for item in cart["lines"] if item["sku"] == sku)


def _catalog(platform: Platform, regions: dict[str, int]) -> None:
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        brand = Brand(code="MT", name="Maotai")
        categories = {code: Category(code=code, name=code) for code in ("SAUCE", "LIGHT", "GIFTS")}
        session.add_all([brand, *categories.values()])
        session.flush()
        products = {
            code: Product(
                code=code,
                name=code,
                brand_id=brand.id,
                category_id=categories[category].id,
                tags=[],
            )
            for code, category in (("FEITIAN", "SAUCE"), ("LIGHTP", "LIGHT"), ("GLASSP", "GIFTS"))
        }
        session.add_all(products.values())
        session.flush()
        skus = [
            Sku(
                code=code,
                product_id=products[product].id,
                name=code,
                volume_ml=500,
                abv=Decimal("53.0"),
                case_size=6,
                base_price_fen=fen,
                updated_at=now,
            )
            for code, product, fen in (
                (FEITIAN, "FEITIAN", 149_900),
                (SMALL, "FEITIAN", 99_900),
                (LIGHT, "LIGHTP", 29_900),
                (GLASS, "GLASSP", 8_800),
            )
        ]
        session.add_all(skus)
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
            for sku in skus:
                units = 3 if sku.code == GLASS else 100
                stock.receive(
                    session, warehouse_id=warehouse.id, sku_id=sku.id, quantity=units, now=now
                )


@pytest.fixture
def mall(vintry_factory: VintryFactory, vintry_platform: Platform) -> Mall:
    """east (discounts on) and south (off), with a gold and a silver dealer each."""
    regions = {code: vintry_factory.site(code).id for code in (EAST, SOUTH)}
    vintry_factory.enable_plugin(PLUGIN_NAME, EAST)
    _catalog(vintry_platform, regions)
    dealers = {}
    for region in regions:
        for tier in (DealerTier.GOLD, DealerTier.SILVER):
            code = f"D-{region.upper()}-{tier.value.upper()}"
            vintry_factory.dealer(region, code, tier=tier)
            dealers[f"{region}-{tier.value}"] = vintry_factory.client_for(
                "dealer", region, dealer=code
            )
    operators = {region: vintry_factory.client_for("site_operator", region) for region in regions}
    return Mall(vintry_factory, vintry_platform, operators, dealers)
