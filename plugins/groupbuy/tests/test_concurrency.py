"""200 concurrent joins of one group over real connections to a two-worker server: every
join is answered (no 500), the group's counts equal its members, and success fires once."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from vintry.catalog.models import Sku
from vintry.inventory import stock
from vintry.inventory.models import Warehouse
from vintry_sdk import ManualClock, Platform
from vintry_sdk.testing.server import running_server

from vintry_groupbuy.models import Member, Transition

from .conftest import EAST, SKU, UNITS, Mall

pytestmark = pytest.mark.slow

JOINS = 200


@pytest.fixture(autouse=True)
def _wall_clock(vintry_clock: ManualClock) -> None:
    """The server runs on the wall clock: so do the tokens and windows made here."""
    vintry_clock.set(datetime.now(UTC))


def test_200_concurrent_joins_make_the_group_succeed_exactly_once(
    mall: Mall, vintry_platform: Platform, tmp_path: Path
) -> None:
    with vintry_platform.hq.transaction() as session:
        warehouse = session.scalar(select(Warehouse.id).where(Warehouse.code == "WH-EAST"))
        sku = session.scalar(select(Sku.id).where(Sku.code == SKU))
        assert warehouse is not None and sku is not None
        stock.receive(session, warehouse_id=warehouse, sku_id=sku, quantity=JOINS,
                      now=mall.clock.now())
    tokens = [
        mall.factory.token(mall.factory.user("dealer", EAST), expires_in_days=3650)
        for _ in range(JOINS)
    ]
    mall.deal(
        {
            "sku": SKU,
            "tier_basis": "participants",
            "tiers": [{"at": 50, "unit_price": "1400.00"}, {"at": 150, "unit_price": "1300.00"}],
            "min_participants": 50,
            "min_quantity": 50,
            "group_minutes": 600,
        }
    )
    group = mall.dealers[EAST][0].post(
        "/api/v1/x/groupbuy/deals/GB-1/groups", json={"quantity": 1}
    ).json()["code"]
    with running_server(vintry_platform.settings, tmp_path / "server.log", workers=2) as url:
        path = f"{url}/sites/{EAST}/api/v1/x/groupbuy/groups/{group}/members"

        def join(index: int) -> tuple[int, str]:
            with httpx.Client(
                timeout=120, headers={"Authorization": f"Bearer {tokens[index]}"}
            ) as client:
                response = client.post(path, json={"quantity": 1})
                code = "" if response.status_code == 201 else response.json()["error"]["code"]
                return response.status_code, code

        with ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(join, range(JOINS)))
    statuses = Counter(status for status, _ in results)
    assert statuses[500] == 0, (tmp_path / "server.log").read_text()[-3000:]
    joined = statuses[201]
    # UNITS + JOINS units cover the opener and every join: each one is taken.
    assert statuses == {201: JOINS}, Counter(code for _, code in results)
    mall.clock.set(datetime.now(UTC))
    (view,) = mall.operator[EAST].get("/api/v1/x/groupbuy/deals/GB-1/groups").json()
    assert view["status"] == "succeeded" and view["participants"] == joined + 1
    assert view["total_quantity"] == joined + 1 and view["tier_price"] == "1300.00"
    with mall.platform.site(EAST).database.reading() as session:
        assert session.scalar(select(func.count()).select_from(Member)) == joined + 1
        fired = session.execute(select(Transition.status, Transition.participants)).all()
    assert [status for status, _ in fired] == ["succeeded"]
    assert fired[0][1] == 50  # the join that crossed the minimum, and only it
    assert mall.free_units() == UNITS + JOINS - (joined + 1)
