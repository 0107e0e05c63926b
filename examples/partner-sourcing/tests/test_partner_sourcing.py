"""The partner's FEFO strategy, alone and through a platform, with ``vintry_sdk.testing``.

The plugin is loaded because its distribution is installed: nothing here registers it by
hand. Each platform test runs on SQLite, and on PostgreSQL when
``VINTRY_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import pytest
from vintry.catalog.models import Brand, Category, Product, Sku
from vintry.inventory import stock
from vintry.inventory.models import Warehouse
from vintry_sdk import Conflict, DealerView, Platform, SourcingRequest, WarehouseOption
from vintry_sdk.testing import VintryFactory

from vintry_partner_sourcing import PLUGIN_NAME, STRATEGY, first_expiry_first_out
from vintry_partner_sourcing.config import Lot

DEALER = DealerView(code="D-1", name="Dealer", tier="gold", site="east")
TODAY = date(2026, 1, 1)
_keys = itertools.count()


def _request(no_split: bool = False) -> SourcingRequest:
    return SourcingRequest(
        site="east",
        dealer=DEALER,
        lines={"GIFT": 8},
        warehouses=tuple(
            WarehouseOption(
                code=code,
                region="east",
                latitude=Decimal(0),
                longitude=Decimal(0),
                priority=1,
                available={"GIFT": units},
                distance_km=km,
            )
            for code, km, units in (("NEAR", 5.0, 10), ("MID", 50.0, 5), ("FAR", 500.0, 10))
        ),
        parameters={"no_split": no_split},
    )


def test_the_earliest_valid_lot_ships_first_then_the_next() -> None:
    lots = [
        Lot(warehouse="FAR", sku="GIFT", batch="B1", expires_on=date(2026, 2, 1)),
        Lot(warehouse="MID", sku="GIFT", batch="B2", expires_on=date(2026, 3, 1)),
        Lot(warehouse="NEAR", sku="GIFT", batch="B3", expires_on=date(2027, 1, 1)),
        Lot(warehouse="NEAR", sku="GIFT", batch="OLD", expires_on=date(2025, 12, 1)),
    ]
    plan = first_expiry_first_out(_request(), lots=lots, today=TODAY)
    assert [(a.warehouse, a.quantity) for a in plan.allocations] == [("FAR", 8)]
    lots[0] = Lot(warehouse="FAR", sku="GIFT", batch="B1", expires_on=date(2026, 4, 1))
    plan = first_expiry_first_out(_request(), lots=lots, today=TODAY)
    assert [(a.warehouse, a.quantity) for a in plan.allocations] == [("MID", 5), ("FAR", 3)]
    assert "lot expires 2026-03-01" in plan.explanation


def test_without_lots_it_ships_nearest_first_and_refuses_what_it_cannot_cover() -> None:
    plan = first_expiry_first_out(_request(), lots=[], today=TODAY)
    assert [(a.warehouse, a.quantity) for a in plan.allocations] == [("NEAR", 8)]
    short = _request().model_copy(update={"lines": {"GIFT": 100}})
    with pytest.raises(Conflict) as refused:
        first_expiry_first_out(short, lots=[], today=TODAY)
    assert refused.value.code == "out_of_stock"


def test_no_split_takes_one_warehouse_holding_it_all() -> None:
    lots = [Lot(warehouse="FAR", sku="GIFT", batch="B1", expires_on=date(2026, 2, 1))]
    plan = first_expiry_first_out(_request(no_split=True), lots=lots, today=TODAY)
    assert {a.warehouse for a in plan.allocations} == {"FAR"}


def test_the_installed_plugin_registers_its_strategy(vintry_platform: Platform) -> None:
    record = vintry_platform.plugins.get(PLUGIN_NAME)
    assert record is not None and record.version == "0.1.0"
    assert list(record.contribution.sourcing_strategies) == [STRATEGY]


def test_a_site_rule_sources_gift_boxes_by_expiry_through_the_platform(
    vintry_factory: VintryFactory, vintry_platform: Platform
) -> None:
    region = vintry_factory.site("east")
    now = vintry_platform.clock.now()
    with vintry_platform.hq.transaction() as session:
        brand, category = Brand(code="MT", name="Maotai"), Category(code="GIFTS", name="Gifts")
        session.add_all([brand, category])
        session.flush()
        product = Product(
            code="BOX", name="Box", brand_id=brand.id, category_id=category.id, tags=[]
        )
        session.add(product)
        session.flush()
        sku = Sku(
            code="GIFT",
            product_id=product.id,
            name="Gift box",
            volume_ml=500,
            abv=Decimal("53.0"),
            case_size=6,
            base_price_fen=50_000,
            updated_at=now,
        )
        session.add(sku)
        for code, lat, priority in (("WH-NEAR", "31.20", 1), ("WH-FAR", "39.90", 2)):
            warehouse = Warehouse(
                code=code,
                name=code,
                city=code,
                region_site_id=region.id,
                latitude=Decimal(lat),
                longitude=Decimal("121.00"),
                priority=priority,
            )
            session.add(warehouse)
            session.flush()
            stock.receive(session, warehouse_id=warehouse.id, sku_id=sku.id, quantity=20, now=now)
    admin = vintry_factory.admin_client("east")
    lots = [
        {
            "warehouse": "WH-FAR",
            "sku": "GIFT",
            "batch": "B-0101",
            "expires_on": (now.date().replace(year=now.year + 1)).isoformat(),
        }
    ]
    assert admin.patch(f"/api/v1/plugins/{PLUGIN_NAME}/config", json={"lots": lots}).is_success
    rules = {
        "rules": [{"name": "fefo-gifts", "when": {"categories": ["GIFTS"]}, "strategy": STRATEGY}],
        "default": {"strategy": "priority-nearest"},
    }
    assert admin.put("/api/v1/sourcing/rules", json=rules).status_code == 200
    vintry_factory.dealer("east", "D-EAST")
    dealer = vintry_factory.client_for("dealer", "east", dealer="D-EAST")
    placed = dealer.post(
        "/api/v1/orders",
        headers={"Idempotency-Key": f"fefo-{next(_keys)}"},
        json={"lines": [{"sku": "GIFT", "quantity": 3}]},
    )
    assert placed.status_code == 201, placed.text
    sourcing = placed.json()["sourcing"]
    assert (sourcing["rule"], sourcing["strategy"]) == ("fefo-gifts", STRATEGY)
    assert sourcing["warehouses"] == ["WH-FAR"] and sourcing["fallback"] == []
