"""Finding catalog objects by code, each with its own not-found error.

Shared by the library service, pricing, assortment and the importer, so a missing object
is reported the same way (``brand_not_found``, ``sku_not_found`` ...) wherever it is named.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vintry.catalog.models import Brand, Category, Product, Sku
from vintry.errors import NotFound


def find_brand(session: Session, code: str, *, field: str = "brand") -> Brand:
    """Brand *code*, or 404 ``brand_not_found`` naming *field*."""
    brand = session.scalar(select(Brand).where(Brand.code == code))
    if brand is None:
        raise NotFound(f"brand {code!r} does not exist", code="brand_not_found", field=field)
    return brand


def find_category(session: Session, code: str, *, field: str = "category") -> Category:
    """Category *code*, or 404 ``category_not_found`` naming *field*."""
    category = session.scalar(select(Category).where(Category.code == code))
    if category is None:
        raise NotFound(f"category {code!r} does not exist", code="category_not_found", field=field)
    return category


def find_product(session: Session, code: str, *, field: str = "product") -> Product:
    """Product *code*, or 404 ``product_not_found`` naming *field*."""
    product = session.scalar(select(Product).where(Product.code == code))
    if product is None:
        raise NotFound(f"product {code!r} does not exist", code="product_not_found", field=field)
    return product


def find_sku(session: Session, code: str, *, for_update: bool = False, field: str = "sku") -> Sku:
    """SKU *code*, or 404 ``sku_not_found`` naming *field*.

    ``for_update`` locks the row on PostgreSQL until the transaction ends: every change to
    a SKU's prices, floors or base price takes this lock first, so two of them never check
    the floors against a state the other is about to change. (SQLite writers are already
    serialised by ``BEGIN IMMEDIATE``.)
    """
    query = select(Sku).where(Sku.code == code)
    if for_update:
        query = query.with_for_update()
    sku = session.scalar(query)
    if sku is None:
        raise NotFound(f"SKU {code!r} does not exist", code="sku_not_found", field=field)
    return sku
