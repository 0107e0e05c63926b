"""The dealer-facing catalog of a site: what it offers, at its price, with live stock.

Stock is summed over the warehouses that serve the site (its region's and the national
hubs), read live from HQ in one batched query per page: the statements a page costs do not
grow with its size.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from vintry.catalog.lookup import find_sku
from vintry.catalog.service import list_items
from vintry.clock import ManualClock
from vintry.inventory import stock
from vintry.inventory.models import Warehouse
from vintry.inventory.schemas import WarehouseCreate
from vintry.inventory.service import create_warehouse, eligible_warehouse_ids
from vintry.inventory.stock import Hold
from vintry.platform import Platform

from .conftest import ACTOR, EAST, STORE, WEST, Tree, counting_statements, error_of, make_sku

pytestmark = pytest.mark.usefixtures("library")


def _warehouse(platform: Platform, code: str, region: str | None, *, active: bool = True) -> int:
    create_warehouse(
        platform,
        WarehouseCreate(
            code=code, name=code, city="Guiyang", region=region,
            latitude=Decimal("26.6"), longitude=Decimal("106.6"), active=active,
        ),
        actor=ACTOR,
    )
    with platform.hq.reading() as session:
        warehouse_id = session.scalar(select(Warehouse.id).where(Warehouse.code == code))
    assert warehouse_id is not None
    return warehouse_id


def _receive(platform: Platform, warehouse_id: int, sku: str, units: int) -> None:
    with platform.hq.transaction() as session:
        stock.receive(
            session, warehouse_id=warehouse_id, sku_id=find_sku(session, sku).id,
            quantity=units, now=platform.clock.now(),
        )


@pytest.fixture
def warehouses(tree: Tree, library: Platform) -> dict[str, int]:
    """A national hub, a warehouse each for east and west, and an inactive one for east."""
    ids = {
        "HUB": _warehouse(library, "WH-HUB", None),
        "EAST": _warehouse(library, "WH-EAST", EAST),
        "WEST": _warehouse(library, "WH-WEST", WEST),
        "OLD": _warehouse(library, "WH-OLD", EAST, active=False),
    }
    for name, units in (("HUB", 10), ("EAST", 5), ("WEST", 7), ("OLD", 1000)):
        _receive(library, ids[name], "FT-500", units)
    return ids


def _available(tree: Tree, site: str) -> dict[str, int]:
    response = tree.dealer(site).get("/api/v1/catalog/items")
    assert response.status_code == 200, response.text
    return {item["sku"]: item["available"] for item in response.json()["items"]}


def test_stock_is_summed_over_the_warehouses_serving_the_site(
    tree: Tree, library: Platform, warehouses: dict[str, int]
) -> None:
    assert _available(tree, EAST) == {"FT-375": 0, "FT-500": 15}
    assert _available(tree, STORE) == {"FT-375": 0, "FT-500": 15}
    assert _available(tree, WEST) == {"FT-375": 0, "FT-500": 17}
    assert _available(tree, "hq") == {"FT-375": 0, "FT-500": 22}
    directory = library.directory()
    with library.hq.reading() as session:
        assert set(eligible_warehouse_ids(session, directory, STORE)) == {
            warehouses["HUB"], warehouses["EAST"]
        }
        assert set(eligible_warehouse_ids(session, directory, "hq")) == {
            warehouses["HUB"], warehouses["EAST"], warehouses["WEST"]
        }


def test_stock_is_live_holds_count_until_they_expire(
    tree: Tree, library: Platform, warehouses: dict[str, int], vintry_clock: ManualClock
) -> None:
    now = library.clock.now()
    with library.hq.transaction() as session:
        sku_id = find_sku(session, "FT-500").id
        stock.reserve(
            session, reference="O-1", holds=[Hold(warehouses["EAST"], sku_id, 4)],
            now=now, expires_at=now + timedelta(minutes=30),
        )
    assert _available(tree, EAST)["FT-500"] == 11
    vintry_clock.advance(minutes=31)
    assert _available(tree, EAST)["FT-500"] == 15


def test_items_carry_the_sites_price_and_filter_by_category_brand_and_text(
    tree: Tree, library: Platform
) -> None:
    tree.operator(EAST).put("/api/v1/catalog/prices/FT-500", json={"price": "1450.5"})
    admin = tree.admin()
    admin.post("/api/v1/catalog/brands", json={"code": "FJ", "name": "Fenjiu"})
    admin.post("/api/v1/catalog/products", json={
        "code": "QINGHUA", "name": "Qinghua", "brand": "FJ", "category": "LIGHT-AROMA"})
    make_sku(library, "QH-20", "499", product="QINGHUA")
    dealer = tree.dealer(STORE)
    [item] = dealer.get("/api/v1/catalog/items?q=ft-5").json()["items"]
    assert {k: item[k] for k in ("sku", "price", "base_price", "price_decided_by", "brand",
                                 "brand_name", "category", "product_name", "abv")} == {
        "sku": "FT-500", "price": "1450.50", "base_price": "1499.00", "price_decided_by": EAST,
        "brand": "MT", "brand_name": "Maotai", "category": "SAUCE-AROMA",
        "product_name": "Feitian", "abv": "53.0",
    }

    def codes(query: str) -> list[str]:
        response = dealer.get(f"/api/v1/catalog/items{query}")
        assert response.status_code == 200, response.text
        return [i["sku"] for i in response.json()["items"]]

    assert codes("?category=BAIJIU") == ["FT-375", "FT-500", "QH-20"]
    assert codes("?category=LIGHT-AROMA") == ["QH-20"]
    assert codes("?brand=MT") == ["FT-375", "FT-500"]
    assert codes("?q=qinghua") == ["QH-20"]
    assert codes("?q=6901234567892") == ["FT-500"]
    page = dealer.get("/api/v1/catalog/items?limit=2").json()
    assert [i["sku"] for i in page["items"]] == ["FT-375", "FT-500"]
    assert page["next_after"] == "FT-500"
    last = dealer.get(f"/api/v1/catalog/items?limit=2&after={page['next_after']}").json()
    assert ([i["sku"] for i in last["items"]], last["next_after"]) == (["QH-20"], None)
    error = error_of(dealer.get("/api/v1/catalog/items?category=NOPE"), 404, "category_not_found")
    assert error["field"] == "query.category"
    single = dealer.get("/api/v1/catalog/items/QH-20")
    assert single.json()["price"] == "499.00"


def test_a_page_costs_the_same_statements_whatever_its_size(
    tree: Tree, library: Platform, warehouses: dict[str, int]
) -> None:
    for n in range(25):
        code = f"BULK-{n:02d}"
        make_sku(library, code, f"{200 + n}")
        _receive(library, warehouses["HUB" if n % 2 else "EAST"], code, n + 1)
        if n % 3 == 0:
            tree.admin(EAST).put(f"/api/v1/catalog/prices/{code}", json={"price": "150"})
    dealer = tree.dealer(STORE)
    dealer.get("/api/v1/catalog/items?limit=1")  # warm up: the first request loads the tree
    counts = {}
    for limit in (2, 20):
        with counting_statements(library.hq.engine) as log:
            response = dealer.get(f"/api/v1/catalog/items?limit={limit}")
        assert response.status_code == 200 and len(response.json()["items"]) == limit
        counts[limit] = len(log)
    assert counts[2] == counts[20] > 5, counts

    directory = library.directory()
    for limit in (2, 20):
        with library.hq.reading() as session, counting_statements(library.hq.engine) as log:
            page = list_items(session, directory, STORE, now=library.clock.now(), limit=limit)
        # The page, site prices, floors, eligible warehouses, their stock.
        assert len(log) == 5, log.statements
    by_code = {item.sku: item for item in page.items}
    assert by_code["BULK-03"].price == Decimal("150.00")
    assert by_code["BULK-03"].available == 4 and by_code["BULK-04"].available == 5
