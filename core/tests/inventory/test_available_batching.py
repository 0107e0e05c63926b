"""Available-to-promise is read for a whole page at once: the statements a read runs do not
grow with the SKUs and warehouses on the page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, insert
from starlette.testclient import TestClient
from vintry.clock import ManualClock
from vintry.inventory import stock
from vintry.inventory.models import MovementKind, Stock, StockMovement
from vintry.inventory.stock import Hold
from vintry.platform import Platform

from .conftest import StockCatalog


@contextmanager
def counted_statements(platform: Platform) -> Iterator[list[str]]:
    """The SQL statements the HQ engine runs inside the block (BEGIN/COMMIT excluded)."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.split(None, 1)[0].upper() not in {"BEGIN", "COMMIT", "ROLLBACK"}:
            statements.append(statement)

    engine = platform.hq.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _stock_everywhere(platform: Platform, catalog: StockCatalog, skus: int, warehouses: int
                      ) -> tuple[list[int], list[int]]:
    """*skus* SKUs with 10 units in each of *warehouses* warehouses (ledger included)."""
    sku_ids = catalog.skus(*(f"ATP-{n:03d}" for n in range(skus)))
    warehouse_ids = [catalog.warehouse(f"WH-ATP-{n}") for n in range(warehouses)]
    now = platform.clock.now()
    rows = [{"warehouse_id": w, "sku_id": s, "on_hand": 10, "reserved": 0}
            for w in warehouse_ids for s in sku_ids]
    with platform.hq.transaction() as session:
        session.execute(insert(Stock), rows)
        session.execute(insert(StockMovement), [
            {"at": now, "warehouse_id": r["warehouse_id"], "sku_id": r["sku_id"],
             "kind": MovementKind.RECEIPT.value, "on_hand_delta": 10, "reserved_delta": 0}
            for r in rows
        ])
    return sku_ids, warehouse_ids


def test_available_for_a_page_is_one_statement_however_large_the_page(
    vintry_platform: Platform, vintry_clock: ManualClock, stock_catalog: StockCatalog
) -> None:
    sku_ids, warehouse_ids = _stock_everywhere(vintry_platform, stock_catalog, 50, 5)
    now = vintry_clock.now()
    with vintry_platform.hq.transaction() as session:
        stock.reserve(session, reference="O-LIVE", holds=[Hold(warehouse_ids[0], sku_ids[0], 4)],
                      now=now, expires_at=None)
        stock.reserve(session, reference="O-LATE", holds=[Hold(warehouse_ids[1], sku_ids[1], 6)],
                      now=now, expires_at=now + timedelta(minutes=5))
    later = vintry_clock.advance(minutes=10)

    def read(skus: list[int], warehouses: list[int]) -> tuple[dict[int, dict[int, int]], int]:
        with vintry_platform.hq.reading() as session, counted_statements(
            vintry_platform
        ) as statements:
            result = stock.available(session, sku_ids=skus, warehouse_ids=warehouses, now=later)
        return result, len(statements)

    _one, one_statements = read(sku_ids[:1], warehouse_ids[:1])
    everything, page_statements = read(sku_ids, warehouse_ids)
    assert one_statements == page_statements == 1
    assert len(everything) == 50 and all(len(per) == 5 for per in everything.values())
    assert everything[sku_ids[0]][warehouse_ids[0]] == 6  # a live hold keeps its units
    assert everything[sku_ids[1]][warehouse_ids[1]] == 10  # an expired one does not
    assert sum(units for per in everything.values() for units in per.values()) == 250 * 10 - 4


def test_a_page_of_stock_levels_costs_the_same_statements_as_one_sku(
    vintry_platform: Platform, vintry_admin: TestClient, stock_catalog: StockCatalog
) -> None:
    _stock_everywhere(vintry_platform, stock_catalog, 50, 5)

    def statements_for(limit: int) -> int:
        with counted_statements(vintry_platform) as statements:
            response = vintry_admin.get("/api/v1/stock", params={"limit": limit})
        assert response.status_code == 200, response.text
        assert len(response.json()) == limit
        assert all(len(level["warehouses"]) == 5 for level in response.json())
        return len(statements)

    statements_for(1)  # the first request also loads the site tree and the token
    assert statements_for(1) == statements_for(50)
