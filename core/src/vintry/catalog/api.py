"""Routes of the catalog: HQ's library, a site's prices, floors and assortment, and the
dealer-facing catalog with live stock.

The library is HQ's and the same whatever site a request addresses: everyone inside a
tenant may read it, only HQ administrators change it (``catalog:write``). Prices,
assortment and floors are the addressed site's own; they hold for its subtree.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from vintry.accounts.permissions import Permission
from vintry.api.security import RequestScope, authorize
from vintry.catalog import assortment, pricing, service
from vintry.catalog.lookup import find_brand, find_category, find_product, find_sku
from vintry.catalog.schemas import (
    AssortmentOut,
    BrandCreate,
    BrandOut,
    BrandUpdate,
    CatalogItemOut,
    CatalogItemPage,
    CategoryCreate,
    CategoryOut,
    CategoryUpdate,
    FloorSet,
    PriceSet,
    ProductCreate,
    ProductOut,
    ProductUpdate,
    SitePriceOut,
    SitePricePage,
    SkuCreate,
    SkuOut,
    SkuUpdate,
)

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"])

CodeParam = Annotated[str, Path(max_length=32)]
After = Annotated[str | None, Query(max_length=32, description="Last code of the previous page.")]
FilterCode = Annotated[str | None, Query(max_length=32)]
CategoryFilter = Annotated[
    str | None, Query(max_length=32, description="A category code; its subcategories too.")
]
Search = Annotated[
    str | None,
    Query(max_length=100, description="Part of a SKU code, SKU or product name, or a barcode."),
]

Reader = Annotated[RequestScope, Depends(authorize(Permission.CATALOG_READ))]
Writer = Annotated[RequestScope, Depends(authorize(Permission.CATALOG_WRITE))]
PriceWriter = Annotated[RequestScope, Depends(authorize(Permission.PRICES_WRITE))]
FloorWriter = Annotated[RequestScope, Depends(authorize(Permission.FLOORS_WRITE))]


# --- brands ---------------------------------------------------------------------------


@router.get("/brands", response_model=list[BrandOut], summary="Brands")
def list_brands(
    scope: Reader, after: After = None, limit: int = Query(default=100, ge=1, le=1000)
) -> list[BrandOut]:
    """Brands of the library by code, a page at a time."""
    with scope.platform.hq.reading() as session:
        return service.list_brands(session, after=after, limit=limit)


@router.post(
    "/brands",
    response_model=BrandOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a brand",
)
def create_brand(request: BrandCreate, scope: Writer) -> BrandOut:
    """Add a brand to the library (409 ``brand_exists``)."""
    return service.create_brand(scope.platform, request, actor=scope.actor)


@router.get("/brands/{brand}", response_model=BrandOut, summary="One brand")
def get_brand(brand: CodeParam, scope: Reader) -> BrandOut:
    """A brand by code (404 ``brand_not_found``)."""
    with scope.platform.hq.reading() as session:
        return service.brand_out(find_brand(session, brand))


@router.patch("/brands/{brand}", response_model=BrandOut, summary="Change a brand")
def update_brand(brand: CodeParam, request: BrandUpdate, scope: Writer) -> BrandOut:
    """Rename a brand."""
    return service.update_brand(scope.platform, brand, request, actor=scope.actor)


# --- categories -----------------------------------------------------------------------


@router.get("/categories", response_model=list[CategoryOut], summary="Categories")
def list_categories(
    scope: Reader, after: After = None, limit: int = Query(default=100, ge=1, le=1000)
) -> list[CategoryOut]:
    """Categories by code, each naming its parent."""
    with scope.platform.hq.reading() as session:
        return service.list_categories(session, after=after, limit=limit)


@router.post(
    "/categories",
    response_model=CategoryOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a category",
)
def create_category(request: CategoryCreate, scope: Writer) -> CategoryOut:
    """Add a category, top-level or below ``parent`` (409 ``category_exists``)."""
    return service.create_category(scope.platform, request, actor=scope.actor)


@router.get("/categories/{category}", response_model=CategoryOut, summary="One category")
def get_category(category: CodeParam, scope: Reader) -> CategoryOut:
    """A category by code (404 ``category_not_found``)."""
    with scope.platform.hq.reading() as session:
        return service.category_out(session, find_category(session, category))


@router.patch("/categories/{category}", response_model=CategoryOut, summary="Change a category")
def update_category(category: CodeParam, request: CategoryUpdate, scope: Writer) -> CategoryOut:
    """Rename or move a category (422 ``category_cycle`` if it would nest in itself)."""
    return service.update_category(scope.platform, category, request, actor=scope.actor)


# --- products -------------------------------------------------------------------------


@router.get("/products", response_model=list[ProductOut], summary="Products")
def list_products(
    scope: Reader,
    brand: FilterCode = None,
    category: CategoryFilter = None,
    after: After = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[ProductOut]:
    """Products by code, optionally of one brand or category."""
    with scope.platform.hq.reading() as session:
        return service.list_products(
            session, brand=brand, category=category, after=after, limit=limit
        )


@router.post(
    "/products",
    response_model=ProductOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a product",
)
def create_product(request: ProductCreate, scope: Writer) -> ProductOut:
    """Add a product of a brand in a category (409 ``product_exists``)."""
    return service.create_product(scope.platform, request, actor=scope.actor)


@router.get("/products/{product}", response_model=ProductOut, summary="One product")
def get_product(product: CodeParam, scope: Reader) -> ProductOut:
    """A product by code (404 ``product_not_found``)."""
    with scope.platform.hq.reading() as session:
        return service.product_out(session, find_product(session, product))


@router.patch("/products/{product}", response_model=ProductOut, summary="Change a product")
def update_product(product: CodeParam, request: ProductUpdate, scope: Writer) -> ProductOut:
    """Change a product's name, brand, category, description or tags."""
    return service.update_product(scope.platform, product, request, actor=scope.actor)


# --- SKUs -----------------------------------------------------------------------------


@router.get("/skus", response_model=list[SkuOut], summary="SKUs of the library")
def list_skus(
    scope: Reader,
    product: FilterCode = None,
    brand: FilterCode = None,
    category: CategoryFilter = None,
    active: bool | None = None,
    q: Search = None,
    after: After = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[SkuOut]:
    """Every SKU of the library by code, active or not (dealers shop from ``/items``)."""
    with scope.platform.hq.reading() as session:
        return service.list_skus(
            session,
            product=product,
            brand=brand,
            category=category,
            active=active,
            q=q,
            after=after,
            limit=limit,
        )


@router.post(
    "/skus", response_model=SkuOut, status_code=status.HTTP_201_CREATED, summary="Create a SKU"
)
def create_sku(request: SkuCreate, scope: Writer) -> SkuOut:
    """Add a SKU with its base price (409 ``sku_exists``, ``barcode_exists``)."""
    return service.create_sku(scope.platform, request, actor=scope.actor)


@router.get("/skus/{sku}", response_model=SkuOut, summary="One SKU")
def get_sku(sku: CodeParam, scope: Reader) -> SkuOut:
    """A SKU of the library by code (404 ``sku_not_found``)."""
    with scope.platform.hq.reading() as session:
        return service.get_sku(session, sku)


@router.patch("/skus/{sku}", response_model=SkuOut, summary="Change a SKU")
def update_sku(sku: CodeParam, request: SkuUpdate, scope: Writer) -> SkuOut:
    """Change a SKU; a base price under which a site's price would cross its floor is
    refused with 409 ``floor_conflicts_with_prices``."""
    return service.update_sku(scope.platform, sku, request, actor=scope.actor)


# --- prices, floors and assortment of the addressed site ------------------------------


@router.get("/prices", response_model=SitePricePage, summary="Prices at the site")
def list_prices(
    scope: PriceWriter, after: After = None, limit: int = Query(default=100, ge=1, le=1000)
) -> SitePricePage:
    """The site's pricing worksheet: every SKU's price in force, the site that decided it,
    the site's own price, the floor, and whether the site offers it."""
    with scope.platform.hq.reading() as session:
        return pricing.list_site_prices(
            session, scope.directory, scope.site.code, after=after, limit=limit
        )


@router.get("/prices/{sku}", response_model=SitePriceOut, summary="One SKU's price at the site")
def get_price(sku: CodeParam, scope: PriceWriter) -> SitePriceOut:
    """One line of the pricing worksheet."""
    with scope.platform.hq.reading() as session:
        return pricing.site_price_out(
            session, scope.directory, scope.site.code, find_sku(session, sku)
        )


@router.put("/prices/{sku}", response_model=SitePriceOut, summary="Set the site's price")
def set_price(sku: CodeParam, request: PriceSet, scope: PriceWriter) -> SitePriceOut:
    """Set the addressed site's own price (422 ``below_price_floor`` if it, or a
    descendant inheriting it, would cross a floor; nothing is written then)."""
    return pricing.set_site_price(
        scope.platform, scope.site.code, sku, request.price, actor=scope.actor
    )


@router.delete("/prices/{sku}", response_model=SitePriceOut, summary="Clear the site's price")
def clear_price(sku: CodeParam, scope: PriceWriter) -> SitePriceOut:
    """Remove the addressed site's own price so its parent's applies (idempotent)."""
    return pricing.clear_site_price(scope.platform, scope.site.code, sku, actor=scope.actor)


@router.put("/floors/{sku}", response_model=SitePriceOut, summary="Set a price floor")
def set_floor(sku: CodeParam, request: FloorSet, scope: FloorWriter) -> SitePriceOut:
    """Set the floor at the addressed site for its subtree; refused with 409
    ``floor_conflicts_with_prices`` while a price in force there would cross it."""
    return pricing.set_price_floor(scope.platform, scope.site.code, sku, request, actor=scope.actor)


@router.delete("/floors/{sku}", response_model=SitePriceOut, summary="Clear a price floor")
def clear_floor(sku: CodeParam, scope: FloorWriter) -> SitePriceOut:
    """Remove the floor set at the addressed site (idempotent); floors above still hold."""
    return pricing.clear_price_floor(scope.platform, scope.site.code, sku, actor=scope.actor)


@router.put(
    "/assortment/{sku}/hidden", response_model=AssortmentOut, summary="Hide a SKU at the site"
)
def hide(sku: CodeParam, scope: PriceWriter) -> AssortmentOut:
    """Hide a SKU at the addressed site and its subtree (idempotent)."""
    return assortment.hide_sku(scope.platform, scope.site.code, sku, actor=scope.actor)


@router.delete(
    "/assortment/{sku}/hidden", response_model=AssortmentOut, summary="Stop hiding a SKU"
)
def unhide(sku: CodeParam, scope: PriceWriter) -> AssortmentOut:
    """Remove the addressed site's own hide (idempotent); an ancestor's hide still holds,
    and ``hidden_by`` names it."""
    return assortment.unhide_sku(scope.platform, scope.site.code, sku, actor=scope.actor)


# --- the dealer-facing catalog --------------------------------------------------------


@router.get("/items", response_model=CatalogItemPage, summary="The site's catalog")
def list_items(
    scope: Reader,
    category: CategoryFilter = None,
    brand: FilterCode = None,
    q: Search = None,
    after: After = None,
    limit: int = Query(default=50, ge=1, le=200),
) -> CatalogItemPage:
    """The SKUs the addressed site offers, by code, with their price there and the units
    available from the warehouses serving it (live)."""
    with scope.platform.hq.reading() as session:
        return service.list_items(
            session,
            scope.directory,
            scope.site.code,
            now=scope.platform.clock.now(),
            category=category,
            brand=brand,
            q=q,
            after=after,
            limit=limit,
        )


@router.get("/items/{sku}", response_model=CatalogItemOut, summary="One item of the catalog")
def get_item(sku: CodeParam, scope: Reader) -> CatalogItemOut:
    """A SKU the addressed site offers (404 ``sku_not_found`` if it does not)."""
    with scope.platform.hq.reading() as session:
        return service.get_item(
            session, scope.directory, scope.site.code, sku, now=scope.platform.clock.now()
        )
