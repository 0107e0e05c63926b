"""``vintry stock``: show, receive, adjust, sweep, check — on the test platform's databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from typer.testing import Result
from vintry.audit.models import AuditEntry
from vintry.inventory import stock
from vintry.inventory.models import Stock
from vintry.inventory.stock import Hold
from vintry.platform import Platform

from .conftest import StockCatalog

Invoke = Callable[..., Result]


@pytest.fixture
def places(stock_catalog: StockCatalog) -> tuple[dict[str, int], dict[str, int]]:
    warehouses = {code: stock_catalog.warehouse(code) for code in ("WH-GY", "WH-SH")}
    skus = dict(zip(["FT-500", "FT-375"], stock_catalog.skus("FT-500", "FT-375"), strict=True))
    return warehouses, skus


def test_receive_adjust_and_show(
    platform_cli: Invoke, vintry_platform: Platform, places: tuple[dict[str, int], dict[str, int]]
) -> None:
    received = platform_cli("stock", "receive", "WH-GY", "FT-500", "12", "--note", "PO 7")
    assert "Received FT-500 at WH-GY: 12 on hand, 0 reserved, 12 available." in received.stdout
    platform_cli("stock", "receive", "WH-SH", "FT-500", "3")
    platform_cli("stock", "receive", "WH-SH", "FT-375", "5")
    adjusted = platform_cli("stock", "adjust", "WH-GY", "FT-500", "-2", "--note", "broken")
    assert "Adjusted FT-500 at WH-GY: 10 on hand" in adjusted.stdout

    everything = platform_cli("stock", "show").stdout
    assert "Stock (2 SKU(s))" in everything
    assert all(code in everything for code in ("FT-375", "FT-500", "WH-GY", "WH-SH"))
    one = platform_cli("stock", "show", "--sku", "FT-500", "--warehouse", "WH-SH").stdout
    assert "Stock (1 SKU(s))" in one and "WH-GY" not in one and "FT-375" not in one

    with vintry_platform.hq.reading() as session:
        actors = list(
            session.scalars(select(AuditEntry.actor).where(AuditEntry.object_type == "stock"))
        )
    assert len(actors) == 4 and all(actor.startswith("cli:") for actor in actors)


def test_errors_are_one_line_with_the_code_and_field(
    platform_cli: Invoke, vintry_platform: Platform, places: tuple[dict[str, int], dict[str, int]]
) -> None:
    nowhere = platform_cli("stock", "receive", "WH-XX", "FT-500", "1", expect=1)
    assert "warehouse_not_found" in nowhere.stderr and "(field: warehouse)" in nowhere.stderr
    unknown = platform_cli("stock", "show", "--sku", "NOPE", expect=1)
    assert "sku_not_found" in unknown.stderr
    zero = platform_cli("stock", "receive", "WH-GY", "FT-500", "0", expect=1)
    assert "invalid_input" in zero.stderr and "(field: quantity)" in zero.stderr

    platform_cli("stock", "receive", "WH-GY", "FT-500", "4")
    warehouses, skus = places
    now = vintry_platform.clock.now()
    with vintry_platform.hq.transaction() as session:
        stock.reserve(
            session,
            reference="O-1",
            now=now,
            expires_at=None,
            holds=[Hold(warehouses["WH-GY"], skus["FT-500"], 3)],
        )
    below = platform_cli("stock", "adjust", "WH-GY", "FT-500", "-2", "--note", "count", expect=1)
    assert "adjustment_below_reserved" in below.stderr
    never = platform_cli("stock", "adjust", "WH-SH", "FT-500", "2", "--note", "found", expect=1)
    assert "stock_not_received" in never.stderr
    platform_cli("stock", "adjust", "WH-GY", "FT-500", "-1", expect=2)  # --note is required
    assert "Traceback" not in nowhere.output + below.output + never.output


def test_sweep_and_check(
    platform_cli: Invoke, vintry_platform: Platform, places: tuple[dict[str, int], dict[str, int]]
) -> None:
    warehouses, skus = places
    platform_cli("stock", "receive", "WH-GY", "FT-500", "5")
    # The command line runs on the wall clock: a hold that ran out years ago.
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    with vintry_platform.hq.transaction() as session:
        stock.reserve(
            session,
            reference="O-OLD",
            now=long_ago,
            expires_at=long_ago + timedelta(minutes=30),
            holds=[Hold(warehouses["WH-GY"], skus["FT-500"], 3)],
        )
    assert "Released 3 unit(s)" in platform_cli("stock", "sweep").stdout
    assert "Released 0 unit(s)" in platform_cli("stock", "sweep").stdout
    assert "matches" in platform_cli("stock", "check").stdout

    with vintry_platform.hq.transaction() as session:  # a write that bypassed the ledger
        session.execute(update(Stock).values(on_hand=Stock.on_hand + 2))
    broken = platform_cli("stock", "check", expect=1)
    assert "Ledger discrepancies (1)" in broken.stderr and "WH-GY" in broken.stderr
