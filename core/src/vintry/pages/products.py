"""The products of a page: every block's selection resolved together, with live stock.

A page is rendered on every dealer's landing, so its product data must cost the same few
statements whatever the blocks ask for. What changes rarely is cached under the change
counters of what it derives from (:mod:`vintry.cache`): the SKUs a site offers with their
categories, tags and order of arrival (catalog and site-tree counters), the site's price
book (:mod:`vintry.catalog.price_book`), the warehouses serving the site. Best sellers are
cached per region for :data:`BEST_SELLERS_TTL` of the platform clock. What must be live —
the units available — is read for all of the page's SKUs in one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vintry.catalog import price_book
from vintry.catalog.assortment import offered_condition
from vintry.catalog.models import Category, Product, Sku
from vintry.contracts import PageProduct, ProductSelection
from vintry.db.counters import CATALOG_COUNTER
from vintry.inventory.service import serving_warehouse_ids
from vintry.inventory.stock import available
from vintry.money import from_fen
from vintry.orders.models import Order, OrderLine, OrderStatus
from vintry.platform import SITES_COUNTER, SiteContext
from vintry.sites.directory import SiteDirectory
from vintry.sites.models import SiteKind

BEST_SELLERS_TTL = timedelta(minutes=10)
"""How long a region's best sellers are reused: a page need not recount orders per view."""
BEST_SELLERS_DEPTH = 200
"""Best sellers counted per region and period, before the site's assortment filters them."""


@dataclass(frozen=True)
class OfferedSku:
    code: str
    categories: frozenset[str]
    """Its category and every category above it."""
    tags: frozenset[str]


@dataclass(frozen=True)
class SiteCatalog:
    """What a site offers, newest SKU first, and the catalog's category codes."""

    skus: tuple[OfferedSku, ...]
    categories: frozenset[str]

    def codes(self) -> frozenset[str]:
        return frozenset(sku.code for sku in self.skus)


def site_catalog(session: Session, site: SiteContext, directory: SiteDirectory) -> SiteCatalog:
    """The SKUs *site* offers (cached until the catalog or the site tree changes)."""
    version = site.versions(CATALOG_COUNTER, SITES_COUNTER)
    cacheable = min(version) >= 0 and directory.version == version[1]
    cache = site.platform.cache("page_site_catalog", maxsize=1024)
    found = cache.get(site.code, version) if cacheable else None
    if found is not None:
        return found  # type: ignore[no-any-return]
    tree = {
        id_: (code, parent)
        for id_, code, parent in session.execute(
            select(Category.id, Category.code, Category.parent_id)
        )
    }

    def lineage(category_id: int) -> frozenset[str]:
        codes: list[str] = []
        current: int | None = category_id
        while current is not None and current in tree and len(codes) <= len(tree):
            code, current = tree[current]
            codes.append(code)
        return frozenset(codes)

    rows = session.execute(
        select(Sku.code, Product.category_id, Product.tags)
        .join(Product, Product.id == Sku.product_id)
        .where(offered_condition(directory, site.code))
        .order_by(Sku.id.desc())
    )
    catalog = SiteCatalog(
        skus=tuple(
            OfferedSku(code=code, categories=lineage(category_id), tags=frozenset(tags or ()))
            for code, category_id, tags in rows
        ),
        categories=frozenset(code for code, _parent in tree.values()),
    )
    if cacheable:
        cache.put(site.code, version, catalog)
    return catalog


def region_of(site: SiteContext) -> str:
    """The site whose subtree is *site*'s region: its region, or the root for HQ."""
    region = next((node for node in reversed(site.path) if node.kind is SiteKind.REGION), None)
    return (region or site.path[0]).code


def best_sellers(
    session: Session, site: SiteContext, directory: SiteDirectory, days: int, now: datetime
) -> tuple[str, ...]:
    """SKU codes by units ordered at the sites of *site*'s region over the last *days*
    (cancelled orders left out), most first; reused for :data:`BEST_SELLERS_TTL`."""
    region = region_of(site)
    bucket = int(now.timestamp() // BEST_SELLERS_TTL.total_seconds())
    cache = site.platform.cache("page_best_sellers", maxsize=1024)
    key = (region, days)
    found = cache.get(key, (bucket,))
    if found is not None:
        return found  # type: ignore[no-any-return]
    site_ids = [node.id for node in directory.subtree(region)]
    units = func.sum(OrderLine.quantity)
    rows = session.execute(
        select(OrderLine.sku_code, units)
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            Order.site_id.in_(site_ids),
            Order.placed_at >= now - timedelta(days=days),
            Order.placed_at < now,
            Order.status != OrderStatus.CANCELLED.value,
        )
        .group_by(OrderLine.sku_code)
        .order_by(units.desc(), OrderLine.sku_code)
        .limit(BEST_SELLERS_DEPTH)
    )
    codes = tuple(code for code, _units in rows)
    cache.put(key, (bucket,), codes)
    return codes


def select_codes(
    selection: ProductSelection,
    catalog: SiteCatalog,
    best: Sequence[str] = (),
) -> list[str]:
    """The SKU codes *selection* shows at the site *catalog* describes, at most its limit.

    Explicit SKUs keep their order and drop what the site no longer offers (a delisted SKU
    leaves a gap, never an error); category and tag selections list the newest first.
    """
    offered = catalog.codes()
    if selection.skus:
        picked = [code for code in dict.fromkeys(selection.skus) if code in offered]
    elif selection.category is not None:
        picked = [s.code for s in catalog.skus if selection.category in s.categories]
    elif selection.rule == "best_sellers":
        picked = [code for code in best if code in offered]
    elif selection.rule == "new_arrivals":
        picked = [s.code for s in catalog.skus]
    elif selection.rule == "tagged" and selection.tag is not None:
        picked = [s.code for s in catalog.skus if selection.tag in s.tags]
    else:
        picked = []
    return picked[: max(selection.limit, 0)]


def page_products(
    session: Session,
    site: SiteContext,
    directory: SiteDirectory,
    codes: Iterable[str],
    now: datetime,
) -> dict[str, PageProduct]:
    """*codes* as the page shows them: name, the site's price, units available now (one
    stock query for all of them; the price book is cached)."""
    book = price_book.lookup(session, site, directory, codes)
    entries = {code: entry for code, entry in book.items() if entry.offered}
    stock: dict[int, dict[int, int]] = {}
    if entries:
        stock = available(
            session,
            sku_ids=[entry.sku_id for entry in entries.values()],
            warehouse_ids=serving_warehouse_ids(session, site, directory),
            now=now,
        )
    return {
        code: PageProduct(
            sku=code,
            name=entry.name,
            product=entry.product,
            brand=entry.brand,
            category=entry.category,
            tags=entry.tags,
            price=from_fen(entry.price.price_fen),
            base_price=from_fen(entry.price.base_fen),
            available=sum(max(units, 0) for units in stock.get(entry.sku_id, {}).values()),
        )
        for code, entry in entries.items()
    }
