"""The products of a page: every block's selection resolved together, with live stock.

A page is rendered on every dealer's landing, so its product data must cost the same few
statements whatever the blocks ask for. What changes rarely is cached under the change
counters of what it derives from (:mod:`vintry.cache`): the SKUs a site offers with their
categories, tags and order of arrival (catalog and site-tree counters), the site's price
book (:mod:`vintry.catalog.price_book`), the warehouses serving the site. Best sellers are
cached per region for :data:`BEST_SELLERS_TTL` of the platform clock. On top of them, a
published layout's **shelves** (:func:`page_shelves`) — which SKUs each product block of
it shows at a site, with everything the page shows of them but stock — are kept under the
same counters and the best sellers' period, so a render only reads what must be live: the
units available, for all of the page's SKUs in one query (:meth:`PageShelves.stocked`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vintry.catalog import price_book
from vintry.catalog.assortment import offered_condition
from vintry.catalog.models import Category, Product, Sku
from vintry.contracts import Money, PageProduct, ProductSelection
from vintry.db.counters import CATALOG_COUNTER
from vintry.inventory.service import serving_warehouse_ids
from vintry.inventory.stock import available_now
from vintry.money import from_fen
from vintry.orders.models import Order, OrderLine, OrderStatus
from vintry.platform import SITES_COUNTER, SiteContext
from vintry.sites.directory import SiteDirectory
from vintry.sites.models import SiteKind

BEST_SELLERS_TTL = timedelta(minutes=10)
"""How long a region's best sellers are reused: a page need not recount orders per view."""
STOCK_LEVELS_KEPT = 8
"""Products kept per shelf item, one per stock level (see :attr:`ShelfItem.stocked`)."""
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


# --- a layout's shelves ------------------------------------------------------------------


@dataclass(frozen=True)
class ShelfItem:
    """A product as the page shows it, but for the units available."""

    sku_id: int
    sku: str
    name: str
    product: str
    brand: str
    category: str
    tags: tuple[str, ...]
    price: Money
    base_price: Money
    stocked: dict[int, PageProduct] = field(default_factory=dict, compare=False, repr=False)
    """The products made at the stock levels seen lately: stock moves only with orders, so
    most renders find theirs here (and the blocks' JSON of it, kept per product)."""

    def with_stock(self, units: int) -> PageProduct:
        """The page's product with *units* available now."""
        found = self.stocked.get(units)
        if found is None:
            found = PageProduct(
                sku=self.sku,
                name=self.name,
                product=self.product,
                brand=self.brand,
                category=self.category,
                tags=self.tags,
                price=self.price,
                base_price=self.base_price,
                available=units,
            )
            if len(self.stocked) >= STOCK_LEVELS_KEPT:
                self.stocked.clear()
            self.stocked[units] = found
        return found


@dataclass(frozen=True)
class PageShelves:
    """The SKUs every product block of a layout shows at one site (offered, in order, at
    most the block's limit) and what the page shows of each but its stock."""

    codes: Mapping[str, tuple[str, ...]]
    """Block key → SKU codes."""
    items: Mapping[str, ShelfItem]

    def stocked(
        self,
        session: Session,
        site: SiteContext,
        directory: SiteDirectory,
        blocks: Iterable[str],
        now: datetime,
    ) -> dict[str, PageProduct]:
        """The products of *blocks* with the units available now, from the warehouses
        serving *site*: one stock query for all of them (never cached)."""
        wanted = {code for key in blocks for code in self.codes.get(key, ())}
        if not wanted:
            return {}
        items = [self.items[code] for code in wanted]
        stock = available_now(
            site.platform.hq,
            sku_ids=[item.sku_id for item in items],
            warehouse_ids=serving_warehouse_ids(session, site, directory),
            now=now,
        )
        return {
            item.sku: item.with_stock(
                sum(max(units, 0) for units in stock.get(item.sku_id, {}).values())
            )
            for item in items
        }


NO_SHELVES = PageShelves(codes={}, items={})


def page_shelves(
    session: Session,
    site: SiteContext,
    directory: SiteDirectory,
    layout_key: Hashable,
    selections: Mapping[str, ProductSelection],
    now: datetime,
) -> PageShelves:
    """The shelves of the layout *layout_key* names (its product blocks' *selections*) at
    *site*: kept until the catalog or the site tree changes, or the best sellers' period
    turns; read on a miss with the site's catalog and price book (cached themselves)."""
    if not selections:
        return NO_SHELVES
    counters = site.versions(CATALOG_COUNTER, SITES_COUNTER)
    cacheable = min(counters) >= 0 and directory.version == counters[1]
    ranked = any(selection.rule == "best_sellers" for selection in selections.values())
    bucket = int(now.timestamp() // BEST_SELLERS_TTL.total_seconds()) if ranked else 0
    version = (*counters, bucket)
    cache = site.platform.cache("page_shelves", maxsize=1024)
    found = cache.get((site.code, layout_key), version) if cacheable else None
    if found is not None:
        return found  # type: ignore[no-any-return]
    catalog = site_catalog(session, site, directory)
    codes: dict[str, tuple[str, ...]] = {}
    for key, selection in selections.items():
        best: Sequence[str] = ()
        if selection.rule == "best_sellers":
            best = best_sellers(session, site, directory, selection.days, now)
        codes[key] = tuple(select_codes(selection, catalog, best))
    book = price_book.lookup(session, site, directory, {c for cs in codes.values() for c in cs})
    items = {
        code: ShelfItem(
            sku_id=entry.sku_id,
            sku=code,
            name=entry.name,
            product=entry.product,
            brand=entry.brand,
            category=entry.category,
            tags=entry.tags,
            price=from_fen(entry.price.price_fen),
            base_price=from_fen(entry.price.base_fen),
        )
        for code, entry in book.items()
        if entry.offered
    }
    shelves = PageShelves(
        codes={key: tuple(c for c in chosen if c in items) for key, chosen in codes.items()},
        items=items,
    )
    if cacheable:
        cache.put((site.code, layout_key), version, shelves)
    return shelves
