"""Request and response bodies of the catalog: the library, site prices, floors, assortment.

Money crosses the API as ``Decimal`` yuan with at most two places (JSON numbers or strings
in, strings such as ``"1499.00"`` out) and is stored as integer fen; a float never touches
it. Requests refuse unknown fields; in a PATCH, ``null`` clears an optional field and is
refused for a required one.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from vintry.sites.schemas import RequestModel

CATALOG_CODE_PATTERN = r"^[A-Z0-9][A-Z0-9_-]{0,31}$"

CatalogCode = Annotated[str, StringConstraints(pattern=CATALOG_CODE_PATTERN)]
"""Brand, category, product and SKU codes: upper-case letters, digits, ``-`` and ``_``."""
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Tag = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]
Description = Annotated[str, StringConstraints(max_length=2000)]
Barcode = Annotated[str, StringConstraints(pattern=r"^[0-9]{8,14}$")]
"""A GTIN: EAN-8, UPC-A, EAN-13 or GTIN-14 digits."""
Batch = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Yuan = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
"""An amount of money in yuan, at most two decimal places (stored as fen)."""
VolumeMl = Annotated[int, Field(ge=1, le=100_000, description="Volume in millilitres.")]
Abv = Annotated[
    Decimal,
    Field(ge=0, le=100, max_digits=4, decimal_places=1, description="Alcohol by volume, %."),
]
CaseSize = Annotated[int, Field(ge=1, le=1000, description="Bottles per case.")]
BasisPoints = Annotated[int, Field(ge=0, le=10_000, description="1/100 of a percent.")]


def _refuse_null(value: object, info: ValidationInfo) -> object:
    # Runs only for fields the request set: an omitted field keeps its value, an explicit
    # null would blank a column that cannot be empty.
    if value is None:
        raise ValueError(f"{info.field_name} cannot be null; omit it to keep its value")
    return value


# --- brands ---------------------------------------------------------------------------


class BrandCreate(RequestModel):
    """A new brand of the group."""

    code: CatalogCode
    name: Name


class BrandUpdate(RequestModel):
    """Changes to a brand; omitted fields stay as they are."""

    name: Name | None = None

    _not_null = field_validator("name")(_refuse_null)


class BrandOut(BaseModel):
    """A brand as the API shows it."""

    code: str
    name: str


# --- categories -----------------------------------------------------------------------


class CategoryCreate(RequestModel):
    """A new category, top-level or below ``parent``."""

    code: CatalogCode
    name: Name
    parent: CatalogCode | None = Field(default=None, description="Code of the parent category.")


class CategoryUpdate(RequestModel):
    """Changes to a category; ``parent: null`` makes it top-level."""

    name: Name | None = None
    parent: CatalogCode | None = None

    _not_null = field_validator("name")(_refuse_null)


class CategoryOut(BaseModel):
    """A category as the API shows it."""

    code: str
    name: str
    parent: str | None


# --- products -------------------------------------------------------------------------


class ProductCreate(RequestModel):
    """A new product of the standard library."""

    code: CatalogCode
    name: Name
    brand: CatalogCode
    category: CatalogCode
    description: Description | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class ProductUpdate(RequestModel):
    """Changes to a product; omitted fields stay as they are."""

    name: Name | None = None
    brand: CatalogCode | None = None
    category: CatalogCode | None = None
    description: Description | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)

    _not_null = field_validator("name", "brand", "category", "tags")(_refuse_null)


class ProductOut(BaseModel):
    """A product as the API shows it."""

    code: str
    name: str
    brand: str
    category: str
    description: str | None
    tags: list[str]


# --- SKUs -----------------------------------------------------------------------------


class SkuCreate(RequestModel):
    """A new sellable unit of a product, with its HQ base price."""

    code: CatalogCode
    product: CatalogCode
    name: Name
    volume_ml: VolumeMl
    abv: Abv
    case_size: CaseSize = 6
    barcode: Barcode | None = None
    batch: Batch | None = None
    best_before: date | None = None
    base_price: Yuan = Field(description="HQ base price in yuan.")
    active: bool = True


class SkuUpdate(RequestModel):
    """Changes to a SKU; omitted fields stay as they are, ``null`` clears an optional one."""

    product: CatalogCode | None = None
    name: Name | None = None
    volume_ml: VolumeMl | None = None
    abv: Abv | None = None
    case_size: CaseSize | None = None
    barcode: Barcode | None = None
    batch: Batch | None = None
    best_before: date | None = None
    base_price: Yuan | None = None
    active: bool | None = None

    _not_null = field_validator(
        "product", "name", "volume_ml", "abv", "case_size", "base_price", "active"
    )(_refuse_null)


class SkuOut(BaseModel):
    """A SKU of the library as the API shows it."""

    code: str
    product: str
    brand: str
    category: str
    name: str
    volume_ml: int
    abv: Decimal
    case_size: int
    barcode: str | None
    batch: str | None
    best_before: date | None
    base_price: Decimal
    active: bool
    updated_at: datetime


# --- site prices, floors, assortment --------------------------------------------------


class PriceSet(RequestModel):
    """The addressed site's own price for a SKU (an absolute override of its parent's)."""

    price: Yuan


class FloorSet(RequestModel):
    """A floor for a SKU at the addressed site and its whole subtree; at least one bound."""

    min_price: Yuan | None = Field(default=None, description="Lowest price allowed, yuan.")
    max_discount_bp: BasisPoints | None = Field(
        default=None, description="Largest discount off the base price, in basis points."
    )

    @model_validator(mode="after")
    def _one_bound_at_least(self) -> FloorSet:
        if self.min_price is None and self.max_discount_bp is None:
            raise ValueError("a floor sets min_price, max_discount_bp or both")
        return self


class FloorOut(BaseModel):
    """The floor in force at a site: the strictest bounds along its path."""

    min_price: Decimal | None
    max_discount_bp: int | None
    lowest_price: Decimal | None = Field(
        description="The lowest price both bounds allow (null: no floor)."
    )
    decided_by: dict[str, str | None] = Field(
        description="Site that set each bound in force (``min_price``, ``max_discount``)."
    )


class SitePriceOut(BaseModel):
    """A SKU's price at a site, where it comes from, and the floor it may not cross."""

    site: str
    sku: str
    name: str
    active: bool
    offered: bool = Field(description="Whether the site's assortment offers the SKU.")
    base_price: Decimal
    price: Decimal
    decided_by: str | None = Field(description="Site whose price is in force (null: base).")
    own_price: Decimal | None = Field(description="The site's own override, if any.")
    floor: FloorOut


class SitePricePage(BaseModel):
    """A page of a site's prices, by SKU code."""

    items: list[SitePriceOut]
    next_after: str | None = Field(description="Pass as ``after`` for the next page.")


class AssortmentOut(BaseModel):
    """Whether a site offers a SKU, and which site hid it if not."""

    site: str
    sku: str
    active: bool
    offered: bool
    hidden_here: bool = Field(description="The site itself hides the SKU.")
    hidden_by: str | None = Field(description="The site nearest the root that hides it.")


class CatalogItemOut(BaseModel):
    """A SKU a site offers its dealers, with its price there and live available stock."""

    sku: str
    name: str
    product: str
    product_name: str
    brand: str
    brand_name: str
    category: str
    volume_ml: int
    abv: Decimal
    case_size: int
    barcode: str | None
    batch: str | None
    best_before: date | None
    base_price: Decimal
    price: Decimal
    price_decided_by: str | None
    available: int = Field(description="Units available to promise from eligible warehouses.")


class CatalogItemPage(BaseModel):
    """A page of the dealer-facing catalog, by SKU code."""

    items: list[CatalogItemOut]
    next_after: str | None = Field(description="Pass as ``after`` for the next page.")
