"""``vintry orders``: list (filters, pages), show, the expiry sweep once and ``--every``, and
the claims sweeper — on the test platform's databases and clock (both backends)."""

from __future__ import annotations

import math
import signal
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from vintry.cli import orders as orders_cli
from vintry.clock import ManualClock, ensure_utc
from vintry.inventory.models import Stock
from vintry.orders.models import ClaimStatus, Order, ResourceClaimRecord
from vintry.platform import Platform
from vintry_sdk.testing import VintryFactory

from ..conftest import Invoke
from .conftest import Shop
from .lifecycle_flows import Buyer, buyer


@pytest.fixture
def buyers(vintry_factory: VintryFactory, shop: Shop) -> tuple[Buyer, Buyer]:
    """Two dealers of the shop's region with ample credit."""
    return buyer(vintry_factory, shop), buyer(vintry_factory, shop)


def _numbers(output: str) -> list[str]:
    """Order numbers in a table printed by ``vintry orders list``, in printed order."""
    rows = [line.split("│") for line in output.splitlines() if line.startswith("│")]
    return [row[1].strip() for row in rows if row[1].strip().startswith("VO")]


def test_list_filters_by_site_dealer_and_status_and_pages_newest_first(
    platform_cli: Invoke, buyers: tuple[Buyer, Buyer], vintry_clock: ManualClock, shop: Shop
) -> None:
    first, second = buyers
    placed = []
    for who in (first, first, second, first):
        placed.append(who.place((shop.sku, 2))["number"])
        vintry_clock.advance(seconds=1)
    assert first.pay(placed[0]).status_code == 201
    newest_first = sorted(placed, reverse=True)

    everything = platform_cli("orders", "list").stdout
    assert _numbers(everything) == newest_first
    assert "Orders (4 shown)" in everything and "More:" not in everything
    assert "2,998.00" in everything  # two units at 1499.00, to the fen

    mine = _numbers(platform_cli("orders", "list", "--dealer", first.code).stdout)
    assert mine == [n for n in newest_first if n != placed[2]]
    paid = platform_cli("orders", "list", "--status", "paid").stdout
    assert _numbers(paid) == [placed[0]]
    assert _numbers(platform_cli("orders", "list", "--site", shop.region).stdout) == newest_first
    assert _numbers(platform_cli("orders", "list", "--site", "hq").stdout) == newest_first

    page = platform_cli("orders", "list", "--limit", "3").stdout
    assert _numbers(page) == newest_first[:3]
    assert f"More: --before {newest_first[2]}" in page
    rest = platform_cli("orders", "list", "--limit", "3", "--before", newest_first[2]).stdout
    assert _numbers(rest) == newest_first[3:] and "More:" not in rest

    unknown_site = platform_cli("orders", "list", "--site", "nowhere", expect=1)
    assert "site_not_found" in unknown_site.stderr
    unknown_dealer = platform_cli("orders", "list", "--dealer", "D-NOPE", expect=1).stderr
    assert "dealer_not_found" in unknown_dealer and "(field: dealer)" in unknown_dealer
    platform_cli("orders", "list", "--status", "lost", expect=2)


def test_show_prints_lines_allocations_prices_history_payments_and_returns(
    platform_cli: Invoke, buyers: tuple[Buyer, Buyer], vintry_clock: ManualClock, shop: Shop
) -> None:
    dealer, _other = buyers
    order = dealer.place((shop.sku, 3), (shop.other_sku, 1))
    number = order["number"]
    vintry_clock.advance(minutes=5)
    assert dealer.pay(number).status_code == 201
    vintry_clock.advance(hours=2)
    dealer.deliver(order)
    vintry_clock.advance(days=1)
    asked = dealer.client.post(
        f"/api/v1/orders/{number}/returns",
        json={"reason_code": "damaged_packaging", "lines": [{"sku": shop.sku, "quantity": 1}]},
    )
    assert asked.status_code == 201, asked.text

    shown = platform_cli("orders", "show", number).stdout
    assert f"Order {number} · site {shop.region} · dealer {dealer.code}" in shown
    assert "delivered" in shown
    lines = {line.split("│")[2].strip(): line for line in shown.splitlines() if "Feitian" in line}
    assert set(lines) == {shop.sku, shop.other_sku}
    assert "WH-E1 ×3" in lines[shop.sku] and "WH-HUB ×1" in lines[shop.other_sku]
    assert "1,499.00" in lines[shop.sku] and "4,497.00" in lines[shop.sku]
    assert "Price: subtotal 5,496.00 − discount 0.00 = 5,496.00" in shown
    history = shown[shown.index("History") :]
    for status in ("placed", "paid", "shipped", "delivered", "left_warehouse", "signed_for"):
        assert status in history, status
    assert history.index("placed") < history.index("paid") < history.index("delivered")
    assert "credit" in shown and "5,496.00" in shown[shown.index("Payments") :]
    returns = shown[shown.index("Returns") :]
    assert asked.json()["number"] in returns and "damaged_packaging" in returns
    assert "requested" in returns

    missing = platform_cli("orders", "show", "VO-NOPE", expect=1)
    assert "order_not_found" in missing.stderr


def _pay_by(platform: Platform, number: str) -> timedelta:
    """How long from now until order *number* must be paid."""
    with platform.hq.reading() as session:
        pay_by = session.scalar(select(Order.pay_by).where(Order.number == number))
    assert pay_by is not None
    return ensure_utc(pay_by) - platform.clock.now()


def _held(platform: Platform, shop: Shop) -> int:
    """Units held at the region's warehouse (the shop's SKU is stocked there only)."""
    with platform.hq.reading() as session:
        held = session.scalar(
            select(func.sum(Stock.reserved)).where(Stock.warehouse_id == shop.warehouse_ids[0])
        )
    return int(held or 0)


def test_expire_cancels_unpaid_orders_past_pay_by_once_per_run(
    platform_cli: Invoke,
    buyers: tuple[Buyer, Buyer],
    vintry_platform: Platform,
    vintry_clock: ManualClock,
    shop: Shop,
) -> None:
    dealer, other = buyers
    unpaid = dealer.place((shop.sku, 4))["number"]
    paid = other.place((shop.sku, 1))["number"]
    assert other.pay(paid).status_code == 201

    early = platform_cli("orders", "expire").stdout
    assert "Cancelled 0 unpaid order(s) past their pay-by time." in early
    assert _held(vintry_platform, shop) == 4 + 1
    vintry_clock.advance(_pay_by(vintry_platform, unpaid))
    swept = platform_cli("orders", "expire").stdout
    assert "Cancelled 1 unpaid order(s) past their pay-by time." in swept
    assert unpaid in swept and paid not in swept
    assert dealer.status(unpaid) == "cancelled" and other.status(paid) == "paid"
    assert _held(vintry_platform, shop) == 1, "the cancelled order's units are free again"
    assert "Cancelled 0" in platform_cli("orders", "expire").stdout
    cancelled = platform_cli("orders", "list", "--status", "cancelled").stdout
    assert _numbers(cancelled) == [unpaid]


def test_expire_every_sweeps_on_schedule_until_sigterm(
    platform_cli: Invoke,
    buyers: tuple[Buyer, Buyer],
    vintry_platform: Platform,
    vintry_clock: ManualClock,
    shop: Shop,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dealer, _other = buyers
    number = dealer.place((shop.sku, 2))["number"]
    every = 600
    # Passes at 0, 10, 20 ... minutes; the first at or after pay_by cancels the order.
    cancelling_pass = math.ceil(_pay_by(vintry_platform, number).total_seconds() / every)
    pauses: list[float] = []

    def pause(stop: threading.Event, seconds: float) -> None:
        """Instead of waiting: move the clock; after the cancelling pass, send SIGTERM."""
        pauses.append(seconds)
        if len(pauses) == cancelling_pass + 1:
            signal.raise_signal(signal.SIGTERM)
            assert stop.is_set(), "SIGTERM asks the loop to stop"
            return
        vintry_clock.advance(seconds=seconds)

    monkeypatch.setattr(orders_cli, "_pause", pause)
    before = signal.getsignal(signal.SIGTERM)
    result = platform_cli("orders", "expire", "--every", str(every))

    passes = cancelling_pass + 1
    assert pauses == [every] * passes
    assert f"Expiry sweep every {every}s started" in result.stdout
    assert f"pass {passes} at" in result.stdout and number in result.stdout
    assert f"stopped after {passes} pass(es): 1 order(s) cancelled." in result.stdout
    assert dealer.status(number) == "cancelled"
    assert signal.getsignal(signal.SIGTERM) == before, "the previous handler is back"
    platform_cli("orders", "expire", "--every", "0.5", expect=2)  # at least a second apart


def test_sweep_claims_settles_old_pending_claims_of_orders_that_reached_hq(
    platform_cli: Invoke,
    buyers: tuple[Buyer, Buyer],
    vintry_platform: Platform,
    vintry_clock: ManualClock,
    shop: Shop,
) -> None:
    dealer, _other = buyers
    number = dealer.place((shop.sku, 1))["number"]
    # What a placement killed between its HQ commit and confirming its claims leaves.
    with vintry_platform.site_database(shop.region).transaction() as session:
        session.add(
            ResourceClaimRecord(
                order_number=number,
                plugin="slots",
                resource=f"slot:{number}",
                quantity=1,
                payload={},
                status=ClaimStatus.PENDING.value,
                created_at=vintry_clock.now(),
            )
        )

    recent = platform_cli("orders", "sweep-claims").stdout
    assert "Pending claims settled: 0 confirmed (their order reached HQ), 0 released" in recent
    vintry_clock.advance(minutes=6)
    settled = platform_cli("orders", "sweep-claims", "--older-than", "5").stdout
    assert "1 confirmed" in settled and "0 released" in settled
    with vintry_platform.site_database(shop.region).reading() as session:
        statuses = list(session.scalars(select(ResourceClaimRecord.status)))
    assert statuses == [ClaimStatus.CONFIRMED.value]
