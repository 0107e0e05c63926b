"""Seeding the demo brand: HQ, its 32 regional centers, warehouses, dealers and users, the
liquor catalog with stock, about ninety days of order history (:mod:`vintry.demo.history`),
and a campaign of each promotion plugin in four regions (:mod:`vintry.demo.campaigns`).

Everything goes through the same services the API uses, so the demo is audited and validated
like real data. Seeding is idempotent: objects are looked up by code first and only what is
missing is created (orders by their idempotency keys), so a second run creates nothing and
succeeds.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select

from vintry.accounts.models import Role, User
from vintry.accounts.principal import Actor
from vintry.accounts.schemas import UserCreate
from vintry.accounts.service import create_user
from vintry.bootstrap import initialise
from vintry.catalog.importer import bundled_catalog_rows, import_catalog
from vintry.catalog.models import Sku
from vintry.dealers.models import Dealer, DealerTier
from vintry.dealers.schemas import DealerCreate
from vintry.dealers.service import create_dealer
from vintry.demo.campaigns import launch_demo_campaigns
from vintry.demo.data import (
    HQ_CODE,
    HQ_DOMAINS,
    HQ_NAME,
    HQ_NAME_EN,
    HQ_WAREHOUSES,
    NEAR_EXPIRY_DAYS,
    PROMOTION_SKUS,
    REGIONS,
    DemoDealer,
    DemoRegion,
    DemoWarehouse,
    demo_dealers,
)
from vintry.demo.history import HistoryReport, seed_order_history
from vintry.demo.pages import publish_demo_pages
from vintry.inventory import stock
from vintry.inventory.models import Stock, Warehouse
from vintry.inventory.schemas import WarehouseCreate
from vintry.inventory.service import create_warehouse
from vintry.platform import Platform
from vintry.sites.models import SiteKind
from vintry.sites.schemas import SiteCreate
from vintry.sites.service import create_site

__all__ = ["DemoReport", "SeedCount", "dealer_username", "operator_username", "seed_demo"]


@dataclass
class SeedCount:
    """How many objects of one kind a seeding run created, and how many it found."""

    created: int = 0
    present: int = 0

    def tally(self, created: bool) -> None:
        """Count one object, created now or found already there."""
        if created:
            self.created += 1
        else:
            self.present += 1


@dataclass
class DemoReport:
    """What :func:`seed_demo` did; ``admin_token`` is set only when the admin was created."""

    sites: SeedCount = field(default_factory=SeedCount)
    warehouses: SeedCount = field(default_factory=SeedCount)
    dealers: SeedCount = field(default_factory=SeedCount)
    users: SeedCount = field(default_factory=SeedCount)
    skus: SeedCount = field(default_factory=SeedCount)
    stock_rows: SeedCount = field(default_factory=SeedCount)
    credit_lines: SeedCount = field(default_factory=SeedCount)
    orders: SeedCount = field(default_factory=SeedCount)
    campaigns: SeedCount = field(default_factory=SeedCount)
    campaigns_skipped: list[str] = field(default_factory=list)
    """Demo campaigns left out, and why (their plugin is not installed, say)."""
    pages: SeedCount = field(default_factory=SeedCount)
    pages_skipped: list[str] = field(default_factory=list)
    """Demo pages or blocks left out, and why (a plugin not installed, say)."""
    history: HistoryReport = field(default_factory=HistoryReport)
    """How the order history went: final statuses, returns, refused steps."""
    admin_token: str | None = None

    @property
    def counts(self) -> dict[str, SeedCount]:
        """Each kind of object with its count, in seeding order."""
        return {
            "sites": self.sites,
            "warehouses": self.warehouses,
            "dealers": self.dealers,
            "users": self.users,
            "skus": self.skus,
            "stock rows": self.stock_rows,
            "credit lines": self.credit_lines,
            "orders": self.orders,
            "campaigns": self.campaigns,
            "home pages": self.pages,
        }

    @property
    def created(self) -> int:
        """Objects created by this run, all kinds together."""
        return sum(count.created for count in self.counts.values())


def operator_username(region: DemoRegion) -> str:
    """The username of *region*'s site operator."""
    return f"op-{region.code}"


def dealer_username(dealer: DemoDealer) -> str:
    """The username of *dealer*'s demo login (usernames are lower-case)."""
    return dealer.code.lower()


def seed_demo(
    platform: Platform,
    *,
    actor: Actor,
    regions: Sequence[DemoRegion] = REGIONS,
    dealers_per_region: int = 6,
    orders_per_region: int = 2,
    on_step: Callable[[DemoRegion], None] | None = None,
    on_order: Callable[[int, int], None] | None = None,
) -> DemoReport:
    """Seed the demo brand into *platform*, initialising it first if needed.

    :param platform: the deployment to seed. While the order history is played, its
        ``clock`` is a manual clock walking the last ninety days: use a platform nothing
        else shares (the ``vintry demo`` process).
    :param actor: who the audit log attributes the changes to.
    :param regions: the regional centers to seed (all 32 by default; fewer for a quick
        demo or a test).
    :param dealers_per_region: dealers generated per regional center (see ``demo_dealers``).
    :param orders_per_region: orders of the history per regional center (0: none).
    :param on_step: told after each region is complete, for progress reporting.
    :param on_order: told ``(orders handled, orders planned)`` as the history is played.
    :returns: counts of what was created and what was already there.
    """
    report = DemoReport()
    init = initialise(
        platform,
        actor=actor,
        root_code=HQ_CODE,
        root_name=f"{HQ_NAME} {HQ_NAME_EN}",
        root_domains=list(HQ_DOMAINS),
    )
    report.admin_token = init.admin_token
    report.sites.tally(init.created_root)
    root = platform.directory().root
    assert root is not None, "initialise creates the root site"

    # One read of each code space up front: cheaper than a query per object, and no
    # error is used for control flow.
    with platform.hq.reading() as session:
        warehouses = set(session.scalars(select(Warehouse.code)))
        dealers = set(session.scalars(select(Dealer.code)))
        users = set(session.scalars(select(User.username)))

    for hub in HQ_WAREHOUSES:
        report.warehouses.tally(_ensure_warehouse(platform, hub, None, warehouses, actor))
    for region in regions:
        _seed_region(
            platform,
            region,
            root.code,
            dealers_per_region,
            report,
            actor,
            warehouses=warehouses,
            dealers=dealers,
            users=users,
        )
        if on_step is not None:
            on_step(region)
    _seed_catalog_and_stock(platform, report, actor)
    history = seed_order_history(
        platform,
        regions,
        actor=actor,
        dealers_per_region=dealers_per_region,
        orders_per_region=orders_per_region,
        on_order=on_order,
    )
    report.history = history
    report.credit_lines.created += history.credit_created
    report.credit_lines.present += history.credit_present
    report.orders.created += history.orders_created
    report.orders.present += history.orders_present
    launch = launch_demo_campaigns(platform, regions, actor=actor)
    report.campaigns.created += len(launch.created)
    report.campaigns.present += len(launch.present)
    report.campaigns_skipped = launch.skipped
    published = publish_demo_pages(platform, {region.code for region in regions}, actor=actor)
    report.pages.created += len(published.created)
    report.pages.present += len(published.present)
    report.pages_skipped = published.skipped
    return report


def _seed_catalog_and_stock(platform: Platform, report: DemoReport, actor: Actor) -> None:
    """The bundled liquor catalog, and stock of every SKU in every warehouse.

    Quantities are derived from the codes (no randomness), so every run agrees; a stock row
    that exists is left alone, so a second run receives nothing.
    """
    now = platform.clock.now()
    with platform.hq.reading() as session:
        known = set(session.scalars(select(Sku.code)))
    # The promotion SKUs are imported once: the near-expiry one's best-before date is set
    # from the first run's clock and must not move on a later run.
    promotions = [
        {**row, "best_before": (now + timedelta(days=NEAR_EXPIRY_DAYS)).date().isoformat()}
        if "batch" in row
        else dict(row)
        for row in PROMOTION_SKUS
        if row["sku_code"] not in known
    ]
    imported = import_catalog(platform, [*bundled_catalog_rows(), *promotions], actor=actor)
    report.skus.created += imported.objects_created.get("sku", 0)
    report.skus.present += imported.unchanged + imported.updated
    report.skus.present += len(PROMOTION_SKUS) - len(promotions)
    with platform.hq.transaction() as session:
        skus = list(session.execute(select(Sku.id, Sku.code, Sku.case_size)))
        warehouses = list(
            session.execute(select(Warehouse.id, Warehouse.code, Warehouse.region_site_id))
        )
        have = {(w, s) for w, s in session.execute(select(Stock.warehouse_id, Stock.sku_id))}
        for warehouse_id, warehouse_code, region_id in warehouses:
            for sku_id, sku_code, case_size in skus:
                if (warehouse_id, sku_id) in have:
                    report.stock_rows.present += 1
                    continue
                # Hubs hold more than regional warehouses; the mix varies by code.
                cases = (zlib.crc32(f"{warehouse_code}:{sku_code}".encode()) % 40) + 5
                cases *= 4 if region_id is None else 1
                stock.receive(
                    session,
                    warehouse_id=warehouse_id,
                    sku_id=sku_id,
                    quantity=cases * case_size,
                    now=now,
                    note="demo opening stock",
                )
                report.stock_rows.created += 1


def _seed_region(
    platform: Platform,
    region: DemoRegion,
    root_code: str,
    dealers_per_region: int,
    report: DemoReport,
    actor: Actor,
    *,
    warehouses: set[str],
    dealers: set[str],
    users: set[str],
) -> None:
    created_site = platform.directory().find(region.code) is None
    if created_site:
        create_site(
            platform,
            parent_code=root_code,
            request=SiteCreate(
                code=region.code,
                name=f"{region.name} {region.name_en}",
                kind=SiteKind.REGION,
                domains=[region.domain],
            ),
            actor=actor,
        )
    report.sites.tally(created_site)
    for warehouse in region.warehouses:
        report.warehouses.tally(
            _ensure_warehouse(platform, warehouse, region.code, warehouses, actor)
        )
    region_dealers = demo_dealers(region, dealers_per_region)
    for dealer in region_dealers:
        created = dealer.code not in dealers
        if created:
            create_dealer(
                platform,
                region.code,
                DealerCreate(
                    code=dealer.code,
                    name=dealer.name,
                    tier=DealerTier(dealer.tier),
                    tags=list(dealer.tags),
                    city=dealer.city,
                ),
                actor=actor,
            )
            dealers.add(dealer.code)
        report.dealers.tally(created)
    operator = UserCreate(
        username=operator_username(region),
        display_name=f"{region.name_en} operator",
        role=Role.SITE_OPERATOR,
        site=region.code,
    )
    report.users.tally(_ensure_user(platform, operator, users, actor))
    if region_dealers:
        first = region_dealers[0]
        login = UserCreate(
            username=dealer_username(first),
            display_name=first.name,
            role=Role.DEALER,
            site=region.code,
            dealer=first.code,
        )
        report.users.tally(_ensure_user(platform, login, users, actor))


def _ensure_warehouse(
    platform: Platform,
    warehouse: DemoWarehouse,
    region: str | None,
    existing: set[str],
    actor: Actor,
) -> bool:
    if warehouse.code in existing:
        return False
    request = WarehouseCreate(
        code=warehouse.code,
        name=warehouse.name,
        city=warehouse.city,
        region=region,
        latitude=warehouse.latitude,
        longitude=warehouse.longitude,
        priority=warehouse.priority,
    )
    create_warehouse(platform, request, actor=actor)
    existing.add(warehouse.code)
    return True


def _ensure_user(platform: Platform, request: UserCreate, existing: set[str], actor: Actor) -> bool:
    if request.username in existing:
        return False
    assert request.site is not None
    create_user(platform, request, default_site=request.site, actor=actor)
    existing.add(request.username)
    return True
