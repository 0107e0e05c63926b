"""``vintry demo`` and ``seed_demo``: the demo brand, seeded twice."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import func, select
from typer.testing import Result
from vintry.accounts.models import Role, User
from vintry.accounts.principal import Actor
from vintry.catalog.importer import bundled_catalog_rows
from vintry.dealers.models import Dealer
from vintry.demo.data import HQ_WAREHOUSES, REGIONS
from vintry.demo.seed import seed_demo
from vintry.inventory import stock
from vintry.inventory.models import Stock, Warehouse
from vintry.inventory.service import list_warehouses
from vintry.platform import Platform
from vintry.sites.models import Site, SiteKind

Invoke = Callable[..., Result]

SITES = 1 + len(REGIONS)
WAREHOUSES = len(HQ_WAREHOUSES) + sum(len(region.warehouses) for region in REGIONS)
DEALERS = 6 * len(REGIONS)
USERS = 2 * len(REGIONS)  # an operator and one dealer login per region
SKUS = len(bundled_catalog_rows())  # one SKU per row of the bundled catalog
STOCK_ROWS = WAREHOUSES * SKUS  # every SKU in every warehouse


def test_demo_seeds_the_brand_once_and_a_second_run_creates_nothing(
    vintry: Invoke, platform: Platform
) -> None:
    started = time.perf_counter()
    first = vintry("demo")
    elapsed = time.perf_counter() - started
    # 32 site databases created and migrated: a few seconds at most on SQLite.
    assert elapsed < 30, f"demo took {elapsed:.1f}s"
    assert "not shown again" in first.stdout  # the demo initialised HQ, so it made the admin
    total = SITES + WAREHOUSES + DEALERS + USERS + SKUS + STOCK_ROWS
    assert f"{total} object(s) created" in first.stdout

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
    }

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


def platform_actor() -> Actor:
    """The actor the direct ``seed_demo`` call is recorded under."""
    return Actor(name="test-demo")
