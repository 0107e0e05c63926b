"""Two regions — east with the auction plugin on, south without — a SKU with stock in each
region's warehouse, an operator and dealers per region, all through ``vintry_sdk.testing``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from vintry.catalog.models import Brand, Category, Product, Sku
from vintry.inventory import stock
from vintry.inventory.models import Reservation, ReservationStatus, Stock, Warehouse
from vintry_sdk import ManualClock, Platform
from vintry_sdk.testing import VintryFactory

from vintry_auction import PLUGIN_NAME

EAST, SOUTH = "east", "south"
SKU = "FT-500"
"""Feitian 500 ml at 1499.00; 100 units in each region's warehouse."""
UNITS = 100


@dataclass
class Mall:
    """What the tests work with."""

    factory: VintryFactory
    platform: Platform
    clock: ManualClock
    operator: dict[str, TestClient]
    dealers: dict[str, list[TestClient]]

    def auction(
        self,
        type_: str,
        config: dict[str, Any],
        *,
        code: str = "AUC-1",
        site: str = EAST,
        minutes: float = 60,
        starts_in: timedelta = timedelta(0),
        publish: bool = True,
    ) -> dict[str, Any]:
        """Create (and publish) an auction of *type_* open for *minutes* from now."""
        now = self.clock.now() + starts_in
        body = {
            "code": code,
            "type": type_,
            "name": f"{type_} {code}",
            "config": config,
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(minutes=minutes)).isoformat(),
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

    def held(self, reference: str) -> int:
        """Units HQ holds under *reference*."""
        with self.platform.hq.reading() as session:
            return sum(
                session.scalars(
                    select(Reservation.quantity).where(
                        Reservation.reference == reference,
                        Reservation.status == ReservationStatus.HELD.value,
                    )
                )
            )

    def free_units(self, region: str = EAST) -> int:
        """On hand less held in *region*'s warehouse."""
        with self.platform.hq.reading() as session:
            row = session.execute(
                select(Stock.on_hand - Stock.reserved)
                .join(Warehouse, Warehouse.id == Stock.warehouse_id)
                .where(Warehouse.code == f"WH-{region.upper()}")
            ).scalar_one()
            return int(row)


def add_catalog(platform: Platform, regions: dict[str, int]) -> None:
    """One SKU and a warehouse per region holding :data:`UNITS` of it."""
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
            code=SKU,
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
            stock.receive(
                session, warehouse_id=warehouse.id, sku_id=sku.id, quantity=UNITS, now=now
            )


@pytest.fixture
def mall(
    vintry_factory: VintryFactory, vintry_platform: Platform, vintry_clock: ManualClock
) -> Mall:
    """east (auction on) and south (off), three dealers and an operator each."""
    regions = {code: vintry_factory.site(code).id for code in (EAST, SOUTH)}
    vintry_factory.enable_plugin(PLUGIN_NAME, EAST)
    add_catalog(vintry_platform, regions)
    dealers: dict[str, list[TestClient]] = {}
    for region in regions:
        dealers[region] = []
        for index in range(3):
            code = f"D-{region.upper()}-{index}"
            vintry_factory.dealer(region, code)
            dealers[region].append(vintry_factory.client_for("dealer", region, dealer=code))
    operators = {region: vintry_factory.client_for("site_operator", region) for region in regions}
    return Mall(vintry_factory, vintry_platform, vintry_clock, operators, dealers)
