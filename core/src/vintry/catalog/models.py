"""Brands, categories, products and SKUs (HQ), with per-site prices, floors and hides."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vintry.db.base import HQBase, JSONValue
from vintry.db.counters import CATALOG_COUNTER, count_changes


class Brand(HQBase):
    """A brand of the group (the flagship and its sub-brands)."""

    __tablename__ = "brands"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Category(HQBase):
    """A product category; categories nest (baijiu → sauce-aroma)."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))


class Product(HQBase):
    """A product of the standard library; sold as one or more SKUs."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSONValue, default=list)


class Sku(HQBase):
    """A sellable unit with its HQ base price in fen."""

    __tablename__ = "skus"
    __table_args__ = (
        CheckConstraint("base_price_fen >= 0", name="base_price_not_negative"),
        CheckConstraint("case_size >= 1", name="case_size_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    volume_ml: Mapped[int]
    abv: Mapped[Decimal] = mapped_column(Numeric(4, 1))
    case_size: Mapped[int] = mapped_column(default=6)
    barcode: Mapped[str | None] = mapped_column(String(32), unique=True)
    batch: Mapped[str | None] = mapped_column(String(64))
    best_before: Mapped[date | None] = mapped_column(Date)
    base_price_fen: Mapped[int]
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime]


class SitePrice(HQBase):
    """A site's absolute price for a SKU; the nearest one on the path wins."""

    __tablename__ = "site_prices"
    __table_args__ = (CheckConstraint("price_fen >= 0", name="price_not_negative"),)

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"), primary_key=True)
    price_fen: Mapped[int]
    updated_at: Mapped[datetime]


class PriceFloorRule(HQBase):
    """HQ's floor for a SKU below a site: a minimum price and a maximum discount.

    ``max_discount_bp`` is in basis points of the base price (3000 = 30 % off at most).
    Floors hold for the site and its whole subtree; the strictest along the path wins.
    """

    __tablename__ = "price_floors"
    __table_args__ = (
        CheckConstraint("min_price_fen IS NULL OR min_price_fen >= 0", name="min_not_negative"),
        CheckConstraint(
            "max_discount_bp IS NULL OR (max_discount_bp >= 0 AND max_discount_bp <= 10000)",
            name="discount_in_range",
        ),
    )

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"), primary_key=True)
    min_price_fen: Mapped[int | None]
    max_discount_bp: Mapped[int | None]
    updated_at: Mapped[datetime]


class AssortmentHide(HQBase):
    """A SKU a site hides from itself and its subtree (sites only narrow the catalog)."""

    __tablename__ = "assortment_hides"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"), primary_key=True)
    updated_at: Mapped[datetime]


for _model in (Brand, Category, Product, Sku, SitePrice, PriceFloorRule, AssortmentHide):
    count_changes(_model, CATALOG_COUNTER)
