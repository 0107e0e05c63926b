"""Auctions under real concurrency, over real connections to a server with two workers.

The server runs on the wall clock, so the test sets the platform's manual clock to the wall
clock before creating the auctions (their windows are then the same for both) and waits on
the server only by polling with a bound.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from vintry_sdk import ManualClock, Platform
from vintry_sdk.testing import VintryFactory
from vintry_sdk.testing.server import running_server

from .conftest import EAST, SKU, UNITS, Mall

pytestmark = pytest.mark.slow

DEALERS = 50
BIDS_PER_DEALER = 10
INCREMENT = Decimal("0.50")


@pytest.fixture(autouse=True)
def _wall_clock(vintry_clock: ManualClock) -> None:
    """The server runs on the wall clock: so do the tokens and windows made here."""
    vintry_clock.set(datetime.now(UTC))


def _tokens(factory: VintryFactory, count: int) -> list[str]:
    return [factory.token(factory.user("dealer", EAST), expires_in_days=3650) for _ in range(count)]


def _start_now(clock: ManualClock) -> None:
    clock.set(datetime.now(UTC))


def _error_code(response: httpx.Response) -> str:
    if response.status_code < 300:
        return ""
    return str(response.json().get("error", {}).get("code", ""))


def test_500_concurrent_english_bids_rise_strictly_and_stop_at_the_close(
    mall: Mall, vintry_platform: Platform, tmp_path: Path
) -> None:
    tokens = _tokens(mall.factory, DEALERS)
    with running_server(vintry_platform.settings, tmp_path / "server.log", workers=2) as url:
        # Created once the server is up, on the wall clock: a window of six seconds with a
        # soft close of as much, so every bid lands in the final window and each accepted
        # bid moves the end to four seconds after it whenever that is later.
        _start_now(mall.clock)
        created = mall.auction(
            "english-auction",
            {
                "sku": SKU,
                "quantity": 2,
                "start_price": "100.00",
                "increment": str(INCREMENT),
                "soft_close_seconds": 6,
                "extension_seconds": 4,
                "max_extension_minutes": 30,
            },
            code="HOT",
            minutes=0.1,
        )
        scheduled_end = datetime.fromisoformat(created["ends_at"])
        base = f"{url}/sites/{EAST}/api/v1/x/auction/auctions/HOT"

        def bidder(index: int) -> list[tuple[int, str]]:
            answers = []
            rng = random.Random(index)
            amount = Decimal("100.00") + INCREMENT * rng.randint(0, 3)
            with httpx.Client(
                timeout=120, headers={"Authorization": f"Bearer {tokens[index]}"}
            ) as client:
                for _ in range(BIDS_PER_DEALER):
                    response = client.post(f"{base}/bids", json={"amount": str(amount)})
                    code = _error_code(response)
                    answers.append((response.status_code, code))
                    if code == "bid_too_low":
                        minimum = Decimal(response.json()["error"]["details"]["minimum"])
                        amount = minimum + INCREMENT * rng.randint(0, 2)
                    else:
                        amount += INCREMENT * rng.randint(1, 3)
            return answers

        with ThreadPoolExecutor(max_workers=DEALERS) as pool:
            results = [a for answers in pool.map(bidder, range(DEALERS)) for a in answers]
        statuses = Counter(status for status, _ in results)
        assert statuses[500] == 0, (tmp_path / "server.log").read_text()[-3000:]
        assert len(results) == DEALERS * BIDS_PER_DEALER
        assert set(statuses) <= {201, 409}
        assert {code for status, code in results if status == 409} <= {
            "bid_too_low",
            "auction_closed",
        }

        with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {tokens[0]}"}) as client:
            deadline = time.monotonic() + 120
            while client.get(base).json()["bidding_open"]:
                assert time.monotonic() < deadline, "the auction never closed"
                time.sleep(0.2)  # polling the server's clock, bounded by the deadline
            after = [client.post(f"{base}/bids", json={"amount": "9999.00"}) for _ in range(5)]
            late = [client.post(f"{base}/bids", json={"amount": "1499.00"}) for _ in range(5)]
        assert {r.status_code for r in after} == {422}  # over the list price, refused first
        assert {_error_code(r) for r in late} == {"auction_closed"}

    mall.clock.set(datetime.now(UTC))
    lot = mall.operator[EAST].get("/api/v1/x/auction/lots/HOT").json()
    bids = sorted(lot["bids"], key=lambda bid: bid["seq"])
    accepted = statuses[201]
    assert len(bids) == lot["bid_count"] == accepted > 0
    assert [bid["seq"] for bid in bids] == list(range(1, accepted + 1))
    for before, bid in itertools.pairwise(bids):
        assert Decimal(bid["amount"]) >= Decimal(before["amount"]) + INCREMENT
        # Accepted only before the end in force when it arrived.
        assert bid["placed_at"] < before["closes_at"]
    assert lot["extensions"] > 0
    assert datetime.fromisoformat(lot["closes_at"]) > scheduled_end
    assert any(bid["extended"] for bid in bids)
    assert datetime.fromisoformat(bids[-1]["closes_at"]) == datetime.fromisoformat(lot["closes_at"])
    assert lot["current_price"] == bids[-1]["amount"]


def test_concurrent_dutch_purchases_sell_exactly_the_lot_each_at_its_step(
    mall: Mall, vintry_platform: Platform, tmp_path: Path
) -> None:
    tokens = _tokens(mall.factory, 40)
    with running_server(vintry_platform.settings, tmp_path / "server.log", workers=2) as url:
        _start_now(mall.clock)
        lot_units, start, step, interval = 40, Decimal("1200.00"), Decimal("1.00"), 1
        mall.auction(
            "dutch-auction",
            {
                "sku": SKU,
                "quantity": lot_units,
                "start_price": str(start),
                "step": str(step),
                "interval_seconds": interval,
                "floor_price": "1100.00",
            },
            code="NEAR-EXPIRY",
            minutes=10,
        )
        opens_at = mall.clock.now()
        base = f"{url}/sites/{EAST}/api/v1/x/auction/auctions/NEAR-EXPIRY"

        def buyer(index: int) -> list[tuple[int, str, dict[str, Any]]]:
            answers = []
            with httpx.Client(
                timeout=120, headers={"Authorization": f"Bearer {tokens[index]}"}
            ) as client:
                for attempt in range(3):
                    response = client.post(
                        f"{base}/purchases", json={"quantity": 1 + (index + attempt) % 2}
                    )
                    answers.append((response.status_code, _error_code(response), response.json()))
            return answers

        with ThreadPoolExecutor(max_workers=40) as pool:
            results = [a for answers in pool.map(buyer, range(40)) for a in answers]
    statuses = Counter(status for status, _, _ in results)
    assert statuses[500] == 0, (tmp_path / "server.log").read_text()[-3000:]
    assert set(statuses) <= {201, 409}
    assert {code for status, code, _ in results if status == 409} <= {
        "auction_sold_out",
        "lot_insufficient",
    }
    sales = [body for status, _, body in results if status == 201]
    assert sum(sale["quantity"] for sale in sales) == lot_units
    for sale in sales:
        sold_at = datetime.fromisoformat(sale["sold_at"])
        steps = int((sold_at - opens_at) / timedelta(seconds=interval))
        assert Decimal(sale["unit_price"]) == max(Decimal("1100.00"), start - step * steps)
        assert sale["status"] == "ordered"
    mall.clock.set(datetime.now(UTC))
    lot = mall.operator[EAST].get("/api/v1/x/auction/lots/NEAR-EXPIRY").json()
    assert lot["remaining"] == 0 and lot["lot_status"] == "sold"
    for sale in lot["sales"]:
        order = mall.operator[EAST].get(f"/api/v1/orders/{sale['order']}").json()
        (line,) = order["lines"]
        assert Decimal(line["total"]) == Decimal(sale["unit_price"]) * sale["quantity"]
    assert mall.held("auction:east:NEAR-EXPIRY") == 0
    assert mall.free_units() == UNITS - lot_units
