"""A site's price book: what a cart or an order needs to know about each SKU, cached.

Pricing a 10-line order used to cost four HQ reads (the SKUs with their product, brand
and category; the assortment hides on the site's path; the site prices; the floors).
Those change rarely and every change to them bumps the ``catalog`` change counter in its
own transaction (``vintry.db.counters.count_changes``), so an entry read once is kept per
(site, SKU) under the catalog and site-tree versions this request's ``refresh()`` read,
and served until either counter moves. A miss reads exactly the missing SKUs, in the same
four queries as before, on the caller's session (never a second one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vintry.catalog.assortment import offered_at
from vintry.catalog.models import Brand, Category, Product, Sku
from vintry.catalog.pricing import EffectivePrice, effective_prices
from vintry.db.counters import CATALOG_COUNTER
from vintry.platform import SITES_COUNTER, SiteContext
from vintry.sites.directory import SiteDirectory

CACHE = "price_book"
CACHE_SIZE = 65_536


@dataclass(frozen=True)
class BookEntry:
    """One SKU as a site sells it."""

    sku_id: int
    code: str
    name: str
    product: str
    brand: str
    category: str
    tags: tuple[str, ...]
    offered: bool
    """Active, and hidden nowhere on the site's path."""
    price: EffectivePrice


def lookup(
    session: Session, site: SiteContext, directory: SiteDirectory, codes: Iterable[str]
) -> dict[str, BookEntry]:
    """The entries of *codes* at *site*; unknown codes are left out."""
    wanted = list(dict.fromkeys(codes))
    version = site.versions(CATALOG_COUNTER, SITES_COUNTER)
    cacheable = min(version, default=0) >= 0 and directory.version == version[1]
    cache = site.platform.cache(CACHE, maxsize=CACHE_SIZE)
    found: dict[str, BookEntry] = {}
    missing: list[str] = []
    for code in wanted:
        entry = cache.get((site.code, code), version) if cacheable else None
        if entry is None:
            missing.append(code)
        else:
            found[code] = entry
    if missing:
        for entry in _read(session, site.code, directory, missing):
            found[entry.code] = entry
            if cacheable:
                cache.put((site.code, entry.code), version, entry)
    return found


def _read(
    session: Session, site_code: str, directory: SiteDirectory, codes: list[str]
) -> list[BookEntry]:
    rows = session.execute(
        select(Sku, Product.code, Product.tags, Brand.code, Category.code)
        .join(Product, Product.id == Sku.product_id)
        .join(Brand, Brand.id == Product.brand_id)
        .join(Category, Category.id == Product.category_id)
        .where(Sku.code.in_(codes))
    ).all()
    if not rows:
        return []
    skus = {row[0].id: (row[0].code, row[0].active) for row in rows}
    offered = offered_at(session, directory, site_code, skus).value
    prices = effective_prices(
        session,
        directory,
        site_code,
        list(skus),
        base_fen={row[0].id: row[0].base_price_fen for row in rows},
    )
    return [
        BookEntry(
            sku_id=sku.id,
            code=sku.code,
            name=sku.name,
            product=product,
            brand=brand,
            category=category,
            tags=tuple(tags or ()),
            offered=sku.code in offered,
            price=prices[sku.id],
        )
        for sku, product, tags, brand, category in rows
    ]
