"""The rush, over real connections: quota 100, hundreds of dealers pressing at once.

A real server (two worker processes) takes 2,000 concurrent attempts on PostgreSQL and 300
on SQLite: exactly 100 units are held, none oversold, no dealer past its limit of 2, and
nothing answers 500. The database is checked afterwards: counter, dealers' rows and holds
agree.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from vintry_sdk import Platform
from vintry_sdk.testing import VintryFactory
from vintry_sdk.testing.server import running_server

from vintry_seckill import PLUGIN_NAME
from vintry_seckill.models import SeckillCounter, SeckillDealerUnits, SeckillHold

from .conftest import EAST, FEITIAN, catalog

pytestmark = pytest.mark.slow

QUOTA = 100
LIMIT = 2
ATTEMPTS = {"sqlite": 300, "postgresql": 2000}
DEALERS = {"sqlite": 60, "postgresql": 200}


def test_a_rush_sells_exactly_the_quota(
    vintry_platform: Platform,
    vintry_factory: VintryFactory,
    vintry_backend: str,
    tmp_path: Path,
) -> None:
    region = vintry_factory.site(EAST)
    vintry_factory.enable_plugin(PLUGIN_NAME, EAST)
    catalog(vintry_platform, {EAST: region.id})
    # The server runs on the wall clock: the sale's window is around the real now.
    vintry_platform.clock.set(datetime.now(UTC))  # type: ignore[attr-defined]
    now = vintry_platform.clock.now()
    operator = vintry_factory.client_for("site_operator", EAST)
    created = operator.post(
        "/api/v1/campaigns",
        json={
            "code": "RUSH",
            "type": "seckill",
            "name": "Rush",
            "config": {"sku": FEITIAN, "price": "999.00", "quantity": QUOTA,
                       "per_dealer_limit": LIMIT},
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(days=1)).isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    published = operator.post("/api/v1/campaigns/RUSH/transition", json={"to": "scheduled"})
    assert published.status_code == 200, published.text
    tokens = [
        vintry_factory.token(vintry_factory.user("dealer", EAST), expires_in_days=30)
        for _ in range(DEALERS[vintry_backend])
    ]
    attempts = ATTEMPTS[vintry_backend]

    async def rush(url: str) -> list[tuple[int, str]]:
        limits = httpx.Limits(max_connections=attempts, max_keepalive_connections=attempts)
        async with httpx.AsyncClient(base_url=f"{url}/sites/{EAST}", timeout=180,
                                     limits=limits) as client:

            async def one(n: int) -> tuple[int, str]:
                response = await client.post(
                    "/api/v1/x/seckill/sales/RUSH/attempts",
                    headers={"Authorization": f"Bearer {tokens[n % len(tokens)]}"},
                )
                code = "" if response.status_code == 201 else response.json()["error"]["code"]
                return response.status_code, code

            return list(await asyncio.gather(*(one(n) for n in range(attempts))))

    log = tmp_path / "server.log"
    with running_server(vintry_platform.settings, log, workers=2) as url:
        answers = asyncio.run(rush(url))
    statuses = Counter(status for status, _ in answers)
    assert statuses[500] == 0, log.read_text()[-3000:]
    assert statuses[201] == QUOTA, (statuses, log.read_text()[-3000:])
    assert statuses == {201: QUOTA, 409: attempts - QUOTA}
    assert set(code for status, code in answers if status == 409) <= {
        "seckill_sold_out",
        "seckill_limit_reached",
    }
    site = vintry_platform.site(EAST)
    with site.database.reading() as session:
        counter = session.get(SeckillCounter, "RUSH")
        assert counter is not None and (counter.taken, counter.quota) == (QUOTA, QUOTA)
        held = session.scalar(select(func.sum(SeckillHold.quantity))) or 0
        assert held == QUOTA  # 0 oversold
        per_dealer = dict(
            session.execute(
                select(SeckillHold.dealer_code, func.sum(SeckillHold.quantity)).group_by(
                    SeckillHold.dealer_code
                )
            ).all()
        )
        assert max(per_dealer.values()) <= LIMIT
        rows = dict(
            session.execute(
                select(SeckillDealerUnits.dealer_code, SeckillDealerUnits.units)
            ).all()
        )
        assert {d: u for d, u in rows.items() if u} == per_dealer
