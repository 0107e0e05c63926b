"""The HQ standard product library (brands, categories, products, SKUs) and the dealer-facing
catalog of a site. No HTTP here.

The library is one, HQ's: its changes are audited on the root site whatever site a request
addresses. Each change goes through a session-level function (``add_*`` / ``change_*``)
that the API and the CSV importer share, so both validate, refuse and audit alike; SKU and
product changes also write their ``catalog.changed`` outbox event there, in the change's
transaction, so the sites' read models follow (``docs/sync.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vintry.accounts.principal import Actor
from vintry.audit.service import record_change
from vintry.catalog.assortment import offered_condition
from vintry.catalog.lookup import find_brand, find_category, find_product, find_sku
from vintry.catalog.models import Brand, Category, Product, Sku
from vintry.catalog.pricing import check_base_price_change, effective_prices
from vintry.catalog.schemas import (
    BrandCreate,
    BrandOut,
    BrandUpdate,
    CatalogItemOut,
    CatalogItemPage,
    CategoryCreate,
    CategoryOut,
    CategoryUpdate,
    ProductCreate,
    ProductOut,
    ProductUpdate,
    SkuCreate,
    SkuOut,
    SkuUpdate,
)
from vintry.errors import Conflict, InvalidInput, NotFound
from vintry.events.outbox import EventType, record_event
from vintry.inventory.service import eligible_warehouse_ids
from vintry.inventory.stock import available
from vintry.money import from_fen, to_fen
from vintry.platform import Platform
from vintry.sites.directory import SiteDirectory

T = TypeVar("T")
AnySelect = Select[*tuple[Any, ...]]
Q = TypeVar("Q", bound=AnySelect)


@dataclass(frozen=True)
class LibraryWrite:
    """When, by whom, and on which (root) site library changes are recorded."""

    at: datetime
    actor: Actor
    root_id: int
    directory: SiteDirectory

    @classmethod
    def now(cls, platform: Platform, actor: Actor) -> LibraryWrite:
        """A write context for *actor* at the platform's current time."""
        directory = platform.directory()
        root = directory.root
        assert root is not None, "the platform is initialised before the catalog is written"
        return cls(at=platform.clock.now(), actor=actor, root_id=root.id, directory=directory)

    def audit(
        self,
        session: Session,
        object_type: str,
        code: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        """Record one library change (``<object_type>.create`` or ``.update``)."""
        record_change(
            session,
            at=self.at,
            site_id=self.root_id,
            actor=self.actor,
            action=f"{object_type}.{'create' if before is None else 'update'}",
            object_type=object_type,
            object_id=code,
            before=before,
            after=after,
        )

    def announce(self, session: Session, payload: dict[str, Any]) -> None:
        """Write the ``catalog.changed`` outbox event of a library change (a key of the
        module table in :mod:`vintry.events.outbox`), in the change's transaction."""
        root = self.directory.root
        assert root is not None and root.id == self.root_id
        record_event(
            session, type=EventType.CATALOG_CHANGED, site=root.code, payload=payload, now=self.at
        )


def _in_transaction(
    platform: Platform, actor: Actor, change: Callable[[Session, LibraryWrite], T]
) -> T:
    write = LibraryWrite.now(platform, actor)
    with platform.hq.transaction() as session:
        return change(session, write)


def _flush(session: Session, kind: str, code: str) -> None:
    # The checks before a flush give the precise error; this is the backstop for a
    # concurrent writer that took the code (or barcode) in between.
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(
            f"{kind} {code!r} conflicts with one created at the same time",
            code=f"{kind}_exists",
            field="code",
        ) from None


def _refuse_taken(
    session: Session, model: type[Brand | Category | Product | Sku], code: str, kind: str
) -> None:
    if session.scalar(select(model.id).where(model.code == code)) is not None:
        raise Conflict(f"{kind} {code!r} exists", code=f"{kind}_exists", field="code")


def _page(query: Q, code_column: Any, after: str | None, limit: int | None) -> Q:
    if after is not None:
        query = query.where(code_column > after)
    query = query.order_by(code_column)
    return query if limit is None else query.limit(limit)


# --- brands ---------------------------------------------------------------------------


def brand_out(brand: Brand) -> BrandOut:
    """The API view of *brand*."""
    return BrandOut(code=brand.code, name=brand.name)


def add_brand(session: Session, write: LibraryWrite, request: BrandCreate) -> Brand:
    """Create a brand in *session* (audited); 409 ``brand_exists`` if the code is taken."""
    _refuse_taken(session, Brand, request.code, "brand")
    brand = Brand(code=request.code, name=request.name)
    session.add(brand)
    _flush(session, "brand", request.code)
    write.audit(session, "brand", brand.code, None, brand_out(brand).model_dump(mode="json"))
    return brand


def change_brand(session: Session, write: LibraryWrite, brand: Brand, request: BrandUpdate) -> bool:
    """Apply *request* to *brand*; audited and ``True`` only if something changed."""
    before = brand_out(brand).model_dump(mode="json")
    if request.name is not None and request.name != brand.name:
        brand.name = request.name
    after = brand_out(brand).model_dump(mode="json")
    if after == before:
        return False
    write.audit(session, "brand", brand.code, before, after)
    return True


def create_brand(platform: Platform, request: BrandCreate, *, actor: Actor) -> BrandOut:
    """Create a brand (HQ's library)."""
    return _in_transaction(
        platform, actor, lambda session, write: brand_out(add_brand(session, write, request))
    )


def update_brand(platform: Platform, code: str, request: BrandUpdate, *, actor: Actor) -> BrandOut:
    """Change brand *code*."""

    def change(session: Session, write: LibraryWrite) -> BrandOut:
        brand = find_brand(session, code)
        change_brand(session, write, brand, request)
        return brand_out(brand)

    return _in_transaction(platform, actor, change)


def list_brands(
    session: Session, *, after: str | None = None, limit: int | None = None
) -> list[BrandOut]:
    """Brands by code, a page at a time."""
    return [brand_out(b) for b in session.scalars(_page(select(Brand), Brand.code, after, limit))]


# --- categories -----------------------------------------------------------------------


def _category_codes(session: Session) -> dict[int, tuple[str, int | None]]:
    """Every category: id → (code, parent id). The table is small; one query."""
    return {
        id_: (code, parent_id)
        for id_, code, parent_id in session.execute(
            select(Category.id, Category.code, Category.parent_id)
        )
    }


def category_out(session: Session, category: Category) -> CategoryOut:
    """The API view of *category*."""
    parent = session.get(Category, category.parent_id) if category.parent_id else None
    return CategoryOut(
        code=category.code, name=category.name, parent=parent.code if parent else None
    )


def add_category(session: Session, write: LibraryWrite, request: CategoryCreate) -> Category:
    """Create a category, top-level or below its parent (audited)."""
    _refuse_taken(session, Category, request.code, "category")
    parent = find_category(session, request.parent, field="parent") if request.parent else None
    category = Category(
        code=request.code, name=request.name, parent_id=parent.id if parent else None
    )
    session.add(category)
    _flush(session, "category", request.code)
    write.audit(
        session, "category", category.code, None, category_out(session, category).model_dump()
    )
    return category


def change_category(
    session: Session, write: LibraryWrite, category: Category, request: CategoryUpdate
) -> bool:
    """Apply *request* to *category*; 422 ``category_cycle`` if it would nest in itself."""
    before = category_out(session, category).model_dump()
    fields = request.model_fields_set
    if request.name is not None:
        category.name = request.name
    if "parent" in fields and request.parent != before["parent"]:
        if request.parent is None:
            category.parent_id = None
        else:
            parent = find_category(session, request.parent, field="parent")
            tree = _category_codes(session)
            ancestor: int | None = parent.id
            while ancestor is not None:
                if ancestor == category.id:
                    raise InvalidInput(
                        f"category {category.code!r} cannot be placed below "
                        f"{request.parent!r}, which is itself or lies below it",
                        code="category_cycle",
                        field="parent",
                    )
                ancestor = tree[ancestor][1]
            category.parent_id = parent.id
    after = category_out(session, category).model_dump()
    if after == before:
        return False
    write.audit(session, "category", category.code, before, after)
    return True


def create_category(platform: Platform, request: CategoryCreate, *, actor: Actor) -> CategoryOut:
    """Create a category."""
    return _in_transaction(
        platform,
        actor,
        lambda session, write: category_out(session, add_category(session, write, request)),
    )


def update_category(
    platform: Platform, code: str, request: CategoryUpdate, *, actor: Actor
) -> CategoryOut:
    """Rename or move category *code*."""

    def change(session: Session, write: LibraryWrite) -> CategoryOut:
        category = find_category(session, code)
        change_category(session, write, category, request)
        return category_out(session, category)

    return _in_transaction(platform, actor, change)


def list_categories(
    session: Session, *, after: str | None = None, limit: int | None = None
) -> list[CategoryOut]:
    """Categories by code, each naming its parent."""
    codes = {id_: code for id_, (code, _parent) in _category_codes(session).items()}
    query = _page(select(Category), Category.code, after, limit)
    return [
        CategoryOut(
            code=c.code, name=c.name, parent=codes.get(c.parent_id) if c.parent_id else None
        )
        for c in session.scalars(query)
    ]


def category_subtree_ids(session: Session, code: str, *, field: str = "category") -> list[int]:
    """Ids of category *code* and every category nested below it (404 if unknown)."""
    tree = _category_codes(session)
    top = next((id_ for id_, (c, _parent) in tree.items() if c == code), None)
    if top is None:
        raise NotFound(f"category {code!r} does not exist", code="category_not_found", field=field)
    children: dict[int | None, list[int]] = {}
    for id_, (_code, parent_id) in tree.items():
        children.setdefault(parent_id, []).append(id_)
    found, stack = [], [top]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, ()))
    return found


# --- products -------------------------------------------------------------------------


def product_out(session: Session, product: Product) -> ProductOut:
    """The API view of *product*."""
    brand = session.get(Brand, product.brand_id)
    category = session.get(Category, product.category_id)
    assert brand is not None and category is not None
    return ProductOut(
        code=product.code,
        name=product.name,
        brand=brand.code,
        category=category.code,
        description=product.description,
        tags=list(product.tags),
    )


def add_product(session: Session, write: LibraryWrite, request: ProductCreate) -> Product:
    """Create a product of a brand in a category (audited)."""
    _refuse_taken(session, Product, request.code, "product")
    brand = find_brand(session, request.brand)
    category = find_category(session, request.category)
    product = Product(
        code=request.code,
        name=request.name,
        brand_id=brand.id,
        category_id=category.id,
        description=request.description,
        tags=sorted(set(request.tags)),
    )
    session.add(product)
    _flush(session, "product", request.code)
    write.audit(session, "product", product.code, None, product_out(session, product).model_dump())
    return product


def change_product(
    session: Session, write: LibraryWrite, product: Product, request: ProductUpdate
) -> bool:
    """Apply *request* to *product*; audited, announced to the sites (``catalog.changed``)
    and ``True`` only if something changed."""
    before = product_out(session, product).model_dump()
    changes = request.model_dump(exclude_unset=True)
    if "name" in changes:
        product.name = changes["name"]
    if "brand" in changes and changes["brand"] != before["brand"]:
        product.brand_id = find_brand(session, changes["brand"]).id
    if "category" in changes and changes["category"] != before["category"]:
        product.category_id = find_category(session, changes["category"]).id
    if "description" in changes:
        product.description = changes["description"]
    if "tags" in changes and sorted(set(changes["tags"])) != before["tags"]:
        product.tags = sorted(set(changes["tags"]))
    after = product_out(session, product).model_dump()
    if after == before:
        return False
    write.audit(session, "product", product.code, before, after)
    write.announce(session, {"product": product.code})
    return True


def create_product(platform: Platform, request: ProductCreate, *, actor: Actor) -> ProductOut:
    """Create a product."""
    return _in_transaction(
        platform,
        actor,
        lambda session, write: product_out(session, add_product(session, write, request)),
    )


def update_product(
    platform: Platform, code: str, request: ProductUpdate, *, actor: Actor
) -> ProductOut:
    """Change product *code*."""

    def change(session: Session, write: LibraryWrite) -> ProductOut:
        product = find_product(session, code)
        change_product(session, write, product, request)
        return product_out(session, product)

    return _in_transaction(platform, actor, change)


def list_products(
    session: Session,
    *,
    brand: str | None = None,
    category: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[ProductOut]:
    """Products by code, optionally of one brand or one category (with its subcategories)."""
    query = (
        select(Product, Brand.code, Category.code)
        .join(Brand, Product.brand_id == Brand.id)
        .join(Category, Product.category_id == Category.id)
    )
    if brand is not None:
        query = query.where(Product.brand_id == find_brand(session, brand, field="query.brand").id)
    if category is not None:
        query = query.where(
            Product.category_id.in_(category_subtree_ids(session, category, field="query.category"))
        )
    return [
        ProductOut(
            code=p.code,
            name=p.name,
            brand=brand_code,
            category=category_code,
            description=p.description,
            tags=list(p.tags),
        )
        for p, brand_code, category_code in session.execute(
            _page(query, Product.code, after, limit)
        )
    ]


# --- SKUs -----------------------------------------------------------------------------

_SKU_AUDIT_EXCLUDE = {"updated_at"}


def sku_out(session: Session, sku: Sku) -> SkuOut:
    """The API view of *sku*."""
    product = session.get(Product, sku.product_id)
    assert product is not None
    brand = session.get(Brand, product.brand_id)
    category = session.get(Category, product.category_id)
    assert brand is not None and category is not None
    return _sku_out(sku, product.code, brand.code, category.code)


def _sku_out(sku: Sku, product: str, brand: str, category: str) -> SkuOut:
    return SkuOut(
        code=sku.code,
        product=product,
        brand=brand,
        category=category,
        name=sku.name,
        volume_ml=sku.volume_ml,
        abv=sku.abv,
        case_size=sku.case_size,
        barcode=sku.barcode,
        batch=sku.batch,
        best_before=sku.best_before,
        base_price=from_fen(sku.base_price_fen),
        active=sku.active,
        updated_at=sku.updated_at,
    )


def _sku_json(session: Session, sku: Sku) -> dict[str, Any]:
    return sku_out(session, sku).model_dump(mode="json", exclude=_SKU_AUDIT_EXCLUDE)


def _refuse_taken_barcode(session: Session, barcode: str | None, sku_id: int | None) -> None:
    if barcode is None:
        return
    query = select(Sku.code).where(Sku.barcode == barcode)
    if sku_id is not None:
        query = query.where(Sku.id != sku_id)
    holder = session.scalar(query)
    if holder is not None:
        raise Conflict(
            f"barcode {barcode} belongs to SKU {holder!r}", code="barcode_exists", field="barcode"
        )


def add_sku(session: Session, write: LibraryWrite, request: SkuCreate) -> Sku:
    """Create a SKU of a product with its base price (audited; a ``catalog.changed``
    event tells the sites)."""
    _refuse_taken(session, Sku, request.code, "sku")
    product = find_product(session, request.product)
    _refuse_taken_barcode(session, request.barcode, None)
    sku = Sku(
        code=request.code,
        product_id=product.id,
        name=request.name,
        volume_ml=request.volume_ml,
        abv=request.abv,
        case_size=request.case_size,
        barcode=request.barcode,
        batch=request.batch,
        best_before=request.best_before,
        base_price_fen=to_fen(request.base_price),
        active=request.active,
        updated_at=write.at,
    )
    session.add(sku)
    _flush(session, "sku", request.code)
    write.audit(session, "sku", sku.code, None, _sku_json(session, sku))
    write.announce(session, {"sku": sku.code})
    return sku


_SKU_COLUMNS = (
    "name",
    "volume_ml",
    "abv",
    "case_size",
    "barcode",
    "batch",
    "best_before",
    "active",
)


def change_sku(session: Session, write: LibraryWrite, sku: Sku, request: SkuUpdate) -> bool:
    """Apply *request* to *sku* (locked by the caller if the base price may change).

    A new base price is refused (409 ``floor_conflicts_with_prices``) if some site's price
    in force would cross its floor under it. Audited, announced to the sites
    (``catalog.changed``) and ``True`` only if something changed.
    """
    before = _sku_json(session, sku)
    changes = request.model_dump(exclude_unset=True)
    if "product" in changes and changes["product"] != before["product"]:
        sku.product_id = find_product(session, changes["product"]).id
    if "barcode" in changes and changes["barcode"] != sku.barcode:
        _refuse_taken_barcode(session, changes["barcode"], sku.id)
    for name in _SKU_COLUMNS:
        if name in changes and changes[name] != getattr(sku, name):
            setattr(sku, name, changes[name])
    if "base_price" in changes:
        base_fen = to_fen(changes["base_price"])
        if base_fen != sku.base_price_fen:
            check_base_price_change(session, write.directory, sku, base_fen)
            sku.base_price_fen = base_fen
    after = _sku_json(session, sku)
    if after == before:
        return False
    sku.updated_at = write.at
    _flush(session, "sku", sku.code)
    write.audit(session, "sku", sku.code, before, after)
    write.announce(session, {"sku": sku.code})
    return True


def create_sku(platform: Platform, request: SkuCreate, *, actor: Actor) -> SkuOut:
    """Create a SKU."""
    return _in_transaction(
        platform, actor, lambda session, write: sku_out(session, add_sku(session, write, request))
    )


def update_sku(platform: Platform, code: str, request: SkuUpdate, *, actor: Actor) -> SkuOut:
    """Change SKU *code*: attributes, product, base price, active flag."""

    def change(session: Session, write: LibraryWrite) -> SkuOut:
        sku = find_sku(session, code, for_update="base_price" in request.model_fields_set)
        change_sku(session, write, sku, request)
        return sku_out(session, sku)

    return _in_transaction(platform, actor, change)


def get_sku(session: Session, code: str) -> SkuOut:
    """SKU *code* of the library, active or not."""
    return sku_out(session, find_sku(session, code))


def _sku_query() -> Select[Sku, str, str, str]:
    return (
        select(Sku, Product.code, Brand.code, Category.code)
        .join(Product, Sku.product_id == Product.id)
        .join(Brand, Product.brand_id == Brand.id)
        .join(Category, Product.category_id == Category.id)
    )


def _search(query: Q, q: str | None) -> Q:
    if not q:
        return query
    needle = q.lower()
    return query.where(
        or_(
            func.lower(Sku.code).contains(needle, autoescape=True),
            func.lower(Sku.name).contains(needle, autoescape=True),
            func.lower(Product.name).contains(needle, autoescape=True),
            Sku.barcode == q,
        )
    )


def list_skus(
    session: Session,
    *,
    product: str | None = None,
    brand: str | None = None,
    category: str | None = None,
    active: bool | None = None,
    q: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[SkuOut]:
    """SKUs of the library by code, filtered, a page at a time."""
    query = _sku_query()
    if product is not None:
        found = find_product(session, product, field="query.product")
        query = query.where(Sku.product_id == found.id)
    if brand is not None:
        query = query.where(Product.brand_id == find_brand(session, brand, field="query.brand").id)
    if category is not None:
        query = query.where(
            Product.category_id.in_(category_subtree_ids(session, category, field="query.category"))
        )
    if active is not None:
        query = query.where(Sku.active.is_(active))
    query = _page(_search(query, q), Sku.code, after, limit)
    return [_sku_out(*row) for row in session.execute(query)]


# --- the dealer-facing catalog of a site ---------------------------------------------


def list_items(
    session: Session,
    directory: SiteDirectory,
    site_code: str,
    *,
    now: datetime,
    category: str | None = None,
    brand: str | None = None,
    q: str | None = None,
    after: str | None = None,
    limit: int = 50,
    only_sku: str | None = None,
) -> CatalogItemPage:
    """The SKUs site *site_code* offers, by code, with their price there and live stock.

    Available stock is summed over the warehouses that serve the site, read live from HQ
    (never replicated): one query for the page's SKUs, one per pricing table, one for the
    warehouses and one for their stock — the same few statements whatever the page size.
    """
    query = (
        select(Sku, Product.code, Product.name, Brand.code, Brand.name, Category.code)
        .join(Product, Sku.product_id == Product.id)
        .join(Brand, Product.brand_id == Brand.id)
        .join(Category, Product.category_id == Category.id)
        .where(offered_condition(directory, site_code))
    )
    if only_sku is not None:
        query = query.where(Sku.code == only_sku)
    if brand is not None:
        query = query.where(Product.brand_id == find_brand(session, brand, field="query.brand").id)
    if category is not None:
        query = query.where(
            Product.category_id.in_(category_subtree_ids(session, category, field="query.category"))
        )
    query = _page(_search(query, q), Sku.code, after, limit + 1)
    rows = list(session.execute(query))
    more = len(rows) > limit
    rows = rows[:limit]
    skus = [row[0] for row in rows]
    prices = effective_prices(
        session,
        directory,
        site_code,
        [s.id for s in skus],
        base_fen={s.id: s.base_price_fen for s in skus},
    )
    stock: Mapping[int, Mapping[int, int]] = {}
    if skus:
        warehouses = eligible_warehouse_ids(session, directory, site_code)
        stock = available(session, sku_ids=[s.id for s in skus], warehouse_ids=warehouses, now=now)
    items = [
        CatalogItemOut(
            sku=sku.code,
            name=sku.name,
            product=product_code,
            product_name=product_name,
            brand=brand_code,
            brand_name=brand_name,
            category=category_code,
            volume_ml=sku.volume_ml,
            abv=sku.abv,
            case_size=sku.case_size,
            barcode=sku.barcode,
            batch=sku.batch,
            best_before=sku.best_before,
            base_price=from_fen(sku.base_price_fen),
            price=from_fen(prices[sku.id].price_fen),
            price_decided_by=prices[sku.id].decided_by,
            available=sum(max(units, 0) for units in stock.get(sku.id, {}).values()),
        )
        for sku, product_code, product_name, brand_code, brand_name, category_code in rows
    ]
    return CatalogItemPage(items=items, next_after=items[-1].sku if more else None)


def get_item(
    session: Session, directory: SiteDirectory, site_code: str, sku_code: str, *, now: datetime
) -> CatalogItemOut:
    """One SKU of site *site_code*'s catalog; 404 ``sku_not_found`` if the site does not
    offer it (unknown, inactive, or hidden here or above)."""
    page = list_items(session, directory, site_code, now=now, only_sku=sku_code, limit=1)
    if not page.items:
        raise NotFound(
            f"SKU {sku_code!r} is not offered at site {site_code!r}",
            code="sku_not_found",
            field="sku",
        )
    return page.items[0]
