"""The seed's first pain point, under real concurrency over real connections.

One SKU with 100 units; 50 dealers place 500 orders of one unit at once against a real
server with two worker processes: exactly 100 are placed, the other 400 get 409
``out_of_stock``, nothing answers 500, and the ledger matches the stock. Then 50 concurrent
requests with one idempotency key make one order and one hold, and every answer equals the
first. Runs on SQLite and (with ``VINTRY_TEST_POSTGRES_URL``) on PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from vintry.catalog.models import Brand, Category, Product, Sku
from vintry.inventory import stock
from vintry.inventory.models import Reservation, Stock, Warehouse
from vintry.orders.models import Order
from vintry.platform import Platform
from vintry_sdk.testing import VintryFactory
from vintry_sdk.testing.server import running_server

pytestmark = pytest.mark.slow

DEALERS = 50
ORDERS_PER_DEALER = 10
STOCK = 100


@pytest.fixture
def hot_sku(vintry_platform: Platform, vintry_factory: VintryFactory) -> tuple[str, list[str]]:
    """A region, a SKU with 100 units in its warehouse, and 50 dealers' tokens."""
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
        sku = Sku(
            code="FT-500",
            product_id=product.id,
            name="Feitian 500 ml",
            volume_ml=500,
            abv=Decimal("53.0"),
            case_size=6,
            base_price_fen=149_900,
            updated_at=now,
        )
        warehouse = Warehouse(
            code="WH-E1",
            name="East 1",
            city="Shanghai",
            region_site_id=region.id,
            latitude=Decimal("31.2304"),
            longitude=Decimal("121.4737"),
            priority=1,
        )
        session.add_all([sku, warehouse])
        session.flush()
        stock.receive(session, warehouse_id=warehouse.id, sku_id=sku.id, quantity=STOCK, now=now)
    tokens = [
        vintry_factory.token(vintry_factory.user("dealer", region.code), expires_in_days=3650)
        for _ in range(DEALERS)
    ]
    return region.code, tokens


def test_500_concurrent_orders_sell_exactly_the_100_units(
    vintry_platform: Platform,
    vintry_backend: str,
    hot_sku: tuple[str, list[str]],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    region, tokens = hot_sku
    body = {"lines": [{"sku": "FT-500", "quantity": 1}]}
    with running_server(vintry_platform.settings, tmp_path / "server.log", workers=2) as url:

        def dealer(index: int) -> list[tuple[int, str]]:
            answers = []
            with httpx.Client(
                base_url=f"{url}/sites/{region}",
                timeout=120,
                headers={"Authorization": f"Bearer {tokens[index]}"},
            ) as client:
                for attempt in range(ORDERS_PER_DEALER):
                    response = client.post(
                        "/api/v1/orders",
                        json=body,
                        headers={"Idempotency-Key": f"d{index}-{attempt}"},
                    )
                    code = (
                        response.json().get("error", {}).get("code", "")
                        if response.status_code != 201
                        else ""
                    )
                    answers.append((response.status_code, code))
            return answers

        with ThreadPoolExecutor(max_workers=DEALERS) as pool:
            results = [a for answers in pool.map(dealer, range(DEALERS)) for a in answers]
        statuses = Counter(status for status, _ in results)
        codes = Counter(code for status, code in results if status != 201)
        assert statuses[500] == 0, (tmp_path / "server.log").read_text()[-3000:]
        assert statuses == {201: STOCK, 409: DEALERS * ORDERS_PER_DEALER - STOCK}
        assert codes == {"out_of_stock": DEALERS * ORDERS_PER_DEALER - STOCK}

        # One key, fifty concurrent requests: one order, one hold, identical answers.
        with vintry_platform.hq.transaction() as session:
            warehouse_id = session.scalar(select(Warehouse.id))
            sku_id = session.scalar(select(Sku.id))
            stock.receive(
                session,
                warehouse_id=warehouse_id,
                sku_id=sku_id,
                quantity=5,
                now=vintry_platform.clock.now(),
            )

        def same_key(_: int) -> tuple[int, bytes]:
            with httpx.Client(
                base_url=f"{url}/sites/{region}",
                timeout=120,
                headers={"Authorization": f"Bearer {tokens[0]}"},
            ) as client:
                response = client.post(
                    "/api/v1/orders", json=body, headers={"Idempotency-Key": "one-key"}
                )
                return response.status_code, response.content

        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(same_key, range(50)))
    placed = [content for status, content in answers if status == 201]
    assert placed and all(content == placed[0] for content in placed)
    assert {status for status, _ in answers} <= {201, 409}
    with vintry_platform.hq.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == STOCK + 1
        assert session.scalar(select(func.count()).select_from(Reservation)) == STOCK + 1
        row = session.scalar(select(Stock))
        assert row is not None and (row.on_hand, row.reserved) == (STOCK + 5, STOCK + 1)
        assert stock.ledger_discrepancies(session) == []
        numbers = session.scalars(select(Order.number)).all()
        assert len(set(numbers)) == len(numbers)
