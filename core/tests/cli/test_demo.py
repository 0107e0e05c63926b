"""``vintry demo`` and ``seed_demo``: the demo brand with its order history, seeded twice."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import Result
from vintry.accounts.models import Role, User
from vintry.accounts.principal import Actor
from vintry.catalog.importer import bundled_catalog_rows
from vintry.clock import ManualClock, ensure_utc
from vintry.dealers.models import Dealer
from vintry.demo.campaigns import DEMO_CAMPAIGNS
from vintry.demo.data import HQ_WAREHOUSES, PROMOTION_SKUS, REGIONS
from vintry.demo.history import (
    HISTORY_DAYS,
    HOTSPOT_ORDERS,
    OPEN_ORDERS,
    RETURN_HOTSPOT,
    Fate,
    SkuChoice,
    plan_history,
)
from vintry.demo.pages import DEMO_PAGES
from vintry.demo.seed import seed_demo
from vintry.inventory import stock
from vintry.inventory.models import Stock, Warehouse
from vintry.inventory.service import list_warehouses
from vintry.orders.models import (
    DealerCredit,
    Order,
    OrderLine,
    OrderStatus,
    OutboxEvent,
    Payment,
    ReturnLine,
    ReturnRequest,
)
from vintry.orders.returns import REASON_CODES
from vintry.platform import Platform
from vintry.sites.models import Site, SiteKind

Invoke = Callable[..., Result]

SITES = 1 + len(REGIONS)
WAREHOUSES = len(HQ_WAREHOUSES) + sum(len(region.warehouses) for region in REGIONS)
DEALERS = 6 * len(REGIONS)
USERS = 2 * len(REGIONS)  # an operator and one dealer login per region
SKUS = len(bundled_catalog_rows()) + len(PROMOTION_SKUS)  # the catalog, and the campaigns' SKUs
STOCK_ROWS = WAREHOUSES * SKUS  # every SKU in every warehouse
CREDIT_LINES = DEALERS  # every demo dealer may pay on credit
ORDERS_PER_REGION = 2  # the default
ORDERS = ORDERS_PER_REGION * (len(REGIONS) - 1 + HOTSPOT_ORDERS) + len(OPEN_ORDERS)
CAMPAIGNS = len(DEMO_CAMPAIGNS)  # one per promotion plugin, each in its region
PAGES = len(DEMO_PAGES)  # HQ's default template and the regions' own home pages


def test_demo_seeds_the_brand_once_and_a_second_run_creates_nothing(
    vintry: Invoke, platform: Platform
) -> None:
    started = time.perf_counter()
    first = vintry("demo")
    elapsed = time.perf_counter() - started
    # 32 site databases created and migrated, and the order history played: seconds.
    assert elapsed < 40, f"demo took {elapsed:.1f}s"
    assert "not shown again" in first.stdout  # the demo initialised HQ, so it made the admin
    total = (
        SITES
        + WAREHOUSES
        + DEALERS
        + USERS
        + SKUS
        + STOCK_ROWS
        + CREDIT_LINES
        + ORDERS
        + CAMPAIGNS
        + PAGES
    )
    assert f"{total} object(s) created" in first.stdout
    assert f"Order history: {ORDERS} order(s) over the last ninety days" in first.stdout
    assert "refused" not in first.stdout, "every step of the history went through"
    assert "left out" not in first.stdout, "every demo campaign and page went through"

    second = seed_demo(platform, actor=platform_actor())
    assert second.created == 0
    assert second.admin_token is None
    assert {kind: (count.created, count.present) for kind, count in second.counts.items()} == {
        "sites": (0, SITES),
        "warehouses": (0, WAREHOUSES),
        "dealers": (0, DEALERS),
        "users": (0, USERS),
        "skus": (0, SKUS),
        "stock rows": (0, STOCK_ROWS),
        "credit lines": (0, CREDIT_LINES),
        "orders": (0, ORDERS),
        "campaigns": (0, CAMPAIGNS),
        "home pages": (0, PAGES),
    }
    assert second.history.problems == []

    with platform.hq.reading() as session:
        assert session.scalar(select(func.count()).select_from(Site)) == SITES
        assert session.scalar(select(func.count()).select_from(Warehouse)) == WAREHOUSES
        assert session.scalar(select(func.count()).select_from(Dealer)) == DEALERS
        assert session.scalar(select(func.count()).select_from(User)) == USERS + 1  # admin
        assert session.scalar(select(func.count()).select_from(Stock)) == STOCK_ROWS
        assert stock.ledger_discrepancies(session) == []
        tiers = set(session.scalars(select(Dealer.tier)))
        tags = {tag for dealer_tags in session.scalars(select(Dealer.tags)) for tag in dealer_tags}
        operator = session.scalar(select(User).where(User.username == "op-beijing"))
        dealer_login = session.scalar(select(User).where(User.username == "d-bj-001"))
    assert len(tiers) == 4 and len(tags) >= 5
    assert operator is not None and operator.role is Role.SITE_OPERATOR
    assert dealer_login is not None and dealer_login.role is Role.DEALER

    directory = platform.directory()
    beijing = directory.get("beijing")
    assert beijing.kind is SiteKind.REGION and beijing.parent_code == "hq"
    assert beijing.domains == ("beijing.vintry.localhost",)
    assert [w.code for w in list_warehouses(platform, region="hebei")] == ["WH-HE-01", "WH-HE-02"]
    hubs = [w for w in list_warehouses(platform) if w.region is None]
    assert [w.code for w in hubs] == sorted(w.code for w in HQ_WAREHOUSES)

    assert_history(platform, ORDERS, now=platform.clock.now())
    with platform.hq.reading() as session:
        hot_region, hot_sku = RETURN_HOTSPOT
        hot = session.scalar(
            select(func.count())
            .select_from(ReturnRequest)
            .join(ReturnLine, ReturnLine.return_id == ReturnRequest.id)
            .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)
            .where(
                ReturnRequest.site_id == directory.get(hot_region).id,
                OrderLine.sku_code == hot_sku,
                ReturnRequest.reason_code == "damaged_packaging",
            )
        )
    assert hot and hot >= 2, "the hotspot's damaged packaging stands out"


def assert_history(platform: Platform, orders: int, *, now: datetime) -> None:
    """The order history is complete, spread over ninety days, and consistent everywhere:
    statuses, payments and refunds, credit used, returns, stock ledger and outbox."""
    with platform.hq.reading() as session:
        found = list(session.scalars(select(Order)))
        payments: defaultdict[int, list[int]] = defaultdict(list)
        for order_id, amount in session.execute(select(Payment.order_id, Payment.amount_fen)):
            payments[order_id].append(amount)
        used = dict(session.execute(select(DealerCredit.dealer_id, DealerCredit.used_fen)).all())
        limits = dict(session.execute(select(DealerCredit.dealer_id, DealerCredit.limit_fen)).all())
        returned = list(session.scalars(select(ReturnRequest)))
        placed_events = session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "order.placed")
        )
        assert stock.ledger_discrepancies(session) == []
    assert len(found) == orders and placed_events == orders
    placed_at = sorted(ensure_utc(order.placed_at) for order in found)
    assert now - timedelta(days=HISTORY_DAYS) <= placed_at[0] < now - timedelta(days=60)
    assert now - timedelta(hours=1) <= placed_at[-1] <= now, "the newest are still open"

    statuses = Counter(order.status for order in found)
    assert statuses[OrderStatus.DELIVERED] > orders / 2, statuses
    assert statuses[OrderStatus.PLACED] == len(OPEN_ORDERS), statuses
    reasons = Counter(order.cancel_reason for order in found if order.status == "cancelled")
    assert reasons["expired"] >= 1 and len(reasons) >= 3, reasons
    net: defaultdict[int, int] = defaultdict(int)
    for order in found:
        paid = payments[order.id]
        if order.status == OrderStatus.CANCELLED and paid:
            assert sum(paid) == 0, "a paid order that was cancelled was refunded"
        elif order.paid_at is not None:
            assert paid[0] == order.total_fen, "paid in full, on credit"
        else:
            assert paid == []
        net[order.dealer_id] += sum(paid)
    assert all(used[dealer] == fen for dealer, fen in net.items()), "credit used = net paid"
    assert all(used[dealer] <= limits[dealer] for dealer in used)

    assert returned and {r.reason_code for r in returned} <= set(REASON_CODES)
    assert Counter(r.reason_code for r in returned).most_common(1)[0][0] == "damaged_packaging"
    for request in returned:
        if request.status == "approved":
            assert request.refund_fen > 0 and request.decided_at is not None


def platform_actor() -> Actor:
    """The actor the direct ``seed_demo`` call is recorded under."""
    return Actor(name="test-demo")


def test_the_demo_says_which_campaigns_and_pages_it_left_out(
    vintry: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the seckill plugin, its campaign and its page block are left out, and the
    command says so (the rest of the demo goes through)."""
    monkeypatch.setenv("VINTRY_LOAD_PLUGINS", "auction,groupbuy,discounts")
    result = vintry("demo", "--dealers-per-region", "1", "--orders-per-region", "0")
    out = " ".join(result.stdout.split())  # the console wraps long lines
    assert "campaign left out:" in out and "seckill" in out
    assert "page left out:" in out


def test_a_small_demo_plays_its_history_on_the_test_clock_and_once(
    vintry_platform: Platform, vintry_clock: ManualClock
) -> None:
    """Three regions, on either backend: the history ends at the platform's (manual) time,
    hands the platform its own clock back, and a second run creates nothing."""
    regions = [r for r in REGIONS if r.code in {"beijing", "shanghai", RETURN_HOTSPOT[0]}]
    now = vintry_clock.now()
    report = seed_demo(
        vintry_platform,
        actor=platform_actor(),
        regions=regions,
        dealers_per_region=3,
        orders_per_region=4,
    )
    assert vintry_platform.clock is vintry_clock and vintry_clock.now() == now
    assert report.history.problems == []
    orders = 4 * (len(regions) - 1 + HOTSPOT_ORDERS) + len(OPEN_ORDERS)
    assert (report.orders.created, report.credit_lines.created) == (orders, 3 * len(regions))
    assert_history(vintry_platform, orders, now=now)

    again = seed_demo(
        vintry_platform,
        actor=platform_actor(),
        regions=regions,
        dealers_per_region=3,
        orders_per_region=4,
    )
    assert (again.orders.present, again.orders.created, again.credit_lines.created) == (
        orders,
        0,
        0,
    )


def test_the_history_plan_is_deterministic_and_ends_before_now() -> None:
    now = datetime.fromisoformat("2026-06-01T08:00:00+00:00")
    skus = [SkuChoice(f"SKU-{n:02d}", n * 10_000, 6) for n in range(1, 30)]
    skus.append(SkuChoice(RETURN_HOTSPOT[1], 189_900, 6))
    plan = plan_history(REGIONS, skus, now=now, dealers_per_region=6, orders_per_region=2)
    assert plan == plan_history(REGIONS, skus, now=now, dealers_per_region=6, orders_per_region=2)
    assert len(plan) == ORDERS and len({order.key for order in plan}) == ORDERS
    assert all(now - timedelta(days=HISTORY_DAYS) <= o.placed_at < now for o in plan)
    assert [o.placed_at for o in plan] == sorted(o.placed_at for o in plan)
    assert {o.fate for o in plan} == set(Fate)
    assert {o.region for o in plan} == {region.code for region in REGIONS}
    codes = {sku.code: sku.case_size for sku in skus}
    assert all(units % codes[sku] == 0 for o in plan for sku, units in o.lines), "whole cases"
    hot_region, hot_sku = RETURN_HOTSPOT
    delivered = [o for o in plan if o.fate is Fate.DELIVERED]
    hot = [o for o in delivered if o.region == hot_region and hot_sku in dict(o.lines)]
    assert all(o.returned is None or o.returned.sku == hot_sku for o in hot)
    hot_rate = sum(1 for o in hot if o.returned) / len(hot)
    rate = sum(1 for o in delivered if o.returned) / len(delivered)
    assert hot_rate > 3 * rate, "the hotspot returns far more than average"
    assert plan_history(REGIONS, skus, now=now, dealers_per_region=0, orders_per_region=2) == []
