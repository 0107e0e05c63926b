"""The site read models: what each site keeps of HQ's catalog, dealers and orders.

Both ways of writing them read HQ's *current* state, never an event's payload:

* :func:`apply_event` refreshes the keys one outbox event names (a SKU, a dealer, an
  order) in one site transaction that also writes the inbox record, so an event is applied
  at most once per consumer and a replayed or out-of-order event converges;
* :func:`rebuild_site` rewrites a site's read models wholesale: for a new site, or to repair
  one (``vintry relay rebuild``).

Both first lock the site's :class:`~vintry.sites.read_models.ReadModelState` row and only
then read HQ. Two writers of one site therefore queue on that row, and the later one reads
the later HQ state: a slow rebuild can never overwrite a newer refresh with older rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.orm import Session

from vintry.catalog.assortment import offered_at
from vintry.catalog.models import Brand, Category, Product, Sku
from vintry.catalog.pricing import effective_prices
from vintry.dealers.models import Dealer
from vintry.events.outbox import EventType
from vintry.orders.models import Order, OutboxEvent
from vintry.platform import Platform
from vintry.sites.directory import SiteDirectory
from vintry.sites.read_models import (
    READ_MODELS_STATE,
    InboxRecord,
    ReadModelState,
    SiteCatalogItem,
    SiteDealer,
    SiteOrder,
)

CHUNK = 500
"""SKUs resolved per query batch: keeps ``IN`` lists far below every backend's limits."""

Row = dict[str, Any]


@dataclass(frozen=True)
class ChangedKeys:
    """The read-model keys one event names; ``everything`` asks for a wholesale rebuild."""

    skus: frozenset[str] = frozenset()
    products: frozenset[str] = frozenset()
    dealers: frozenset[str] = frozenset()
    orders: frozenset[str] = frozenset()
    everything: bool = False


def changed_keys(type_: str, payload: Mapping[str, Any]) -> ChangedKeys:
    """The keys an event of *type_* with *payload* names (see :mod:`vintry.events.outbox`).

    An unknown type names nothing: it still reaches the plugins, and the read models are
    left as they are.
    """
    try:
        kind = EventType(type_)
    except ValueError:
        return ChangedKeys()
    if kind is EventType.SITE_CREATED:
        return ChangedKeys(everything=True)
    if kind in (EventType.CATALOG_CHANGED, EventType.PRICE_CHANGED, EventType.ASSORTMENT_CHANGED):
        skus = set(_codes(payload.get("skus")))
        if payload.get("sku"):
            skus.add(str(payload["sku"]))
        products = {str(payload["product"])} if payload.get("product") else set()
        return ChangedKeys(skus=frozenset(skus), products=frozenset(products))
    if kind is EventType.DEALER_CHANGED:
        return ChangedKeys(dealers=frozenset(_codes([payload.get("dealer")])))
    if kind is EventType.RETURN_STATUS_CHANGED:
        return ChangedKeys(orders=frozenset(_codes([payload.get("order")])))
    return ChangedKeys(orders=frozenset(_codes([payload.get("number")])))


def _codes(values: Any) -> Iterator[str]:
    if isinstance(values, list | tuple):
        yield from (str(value) for value in values if value)


# --- what HQ says a site's read models hold -----------------------------------------------


@dataclass
class SiteRows:
    """A site's read-model rows, keyed by SKU code, dealer code and order number."""

    catalog: dict[str, Row] = field(default_factory=dict)
    dealers: dict[str, Row] = field(default_factory=dict)
    orders: dict[str, Row] = field(default_factory=dict)

    def differences(self, other: SiteRows) -> list[str]:
        """What differs from *other*, one line per key (empty when equal)."""
        lines = []
        for table in ("catalog", "dealers", "orders"):
            mine, theirs = getattr(self, table), getattr(other, table)
            for key in sorted(set(mine) | set(theirs)):
                if mine.get(key) != theirs.get(key):
                    lines.append(f"{table} {key}: {mine.get(key)} != {theirs.get(key)}")
        return lines


_CATALOG_COLUMNS = (
    "sku", "name", "product", "product_name", "brand", "category", "base_price_fen", "price_fen",
    "active", "offered",
)  # fmt: skip
_DEALER_COLUMNS = ("code", "name", "tier", "tags", "active")
_ORDER_COLUMNS = ("number", "dealer", "status", "total_fen", "placed_at")


def _sku_query() -> Any:
    return (
        select(Sku, Product.code, Product.name, Brand.code, Category.code)
        .join(Product, Sku.product_id == Product.id)
        .join(Brand, Product.brand_id == Brand.id)
        .join(Category, Product.category_id == Category.id)
    )


def catalog_rows(
    hq: Session,
    directory: SiteDirectory,
    site_code: str,
    *,
    skus: Iterable[str] | None = None,
    products: Iterable[str] = (),
) -> dict[str, Row]:
    """Catalog rows of site *site_code* by SKU code: every SKU of the library when *skus*
    is ``None``, else those named and those of *products*. SKUs HQ does not have are absent."""
    query = _sku_query().order_by(Sku.code)
    if skus is not None:
        sku_codes, product_codes = sorted(set(skus)), sorted(set(products))
        if not sku_codes and not product_codes:
            return {}
        query = query.where(or_(Sku.code.in_(sku_codes), Product.code.in_(product_codes)))
    found = list(hq.execute(query))
    rows: dict[str, Row] = {}
    for start in range(0, len(found), CHUNK):
        chunk = found[start : start + CHUNK]
        by_id = {sku.id: sku for sku, *_ in chunk}
        prices = effective_prices(
            hq,
            directory,
            site_code,
            by_id,
            base_fen={i: s.base_price_fen for i, s in by_id.items()},
        )
        offered = offered_at(
            hq, directory, site_code, {i: (s.code, s.active) for i, s in by_id.items()}
        ).value
        for sku, product, product_name, brand, category in chunk:
            rows[sku.code] = {
                "sku": sku.code,
                "name": sku.name,
                "product": product,
                "product_name": product_name,
                "brand": brand,
                "category": category,
                "base_price_fen": sku.base_price_fen,
                "price_fen": prices[sku.id].price_fen,
                "active": sku.active,
                "offered": sku.code in offered,
            }
    return rows


def dealer_rows(
    hq: Session, directory: SiteDirectory, site_code: str, *, codes: Iterable[str] | None = None
) -> dict[str, Row]:
    """Dealer rows of site *site_code* (all, or those of *codes* that belong there)."""
    query = select(Dealer).where(Dealer.site_id == directory.get(site_code).id)
    if codes is not None:
        query = query.where(Dealer.code.in_(sorted(set(codes))))
    return {
        dealer.code: {
            "code": dealer.code,
            "name": dealer.name,
            "tier": dealer.tier.value,
            "tags": sorted(dealer.tags),
            "active": dealer.active,
        }
        for dealer in hq.scalars(query)
    }


def order_rows(
    hq: Session, directory: SiteDirectory, site_code: str, *, numbers: Iterable[str] | None = None
) -> dict[str, Row]:
    """Order rows of site *site_code* (all, or those of *numbers* placed there)."""
    query = (
        select(Order.number, Dealer.code, Order.status, Order.total_fen, Order.placed_at)
        .join(Dealer, Order.dealer_id == Dealer.id)
        .where(Order.site_id == directory.get(site_code).id)
    )
    if numbers is not None:
        query = query.where(Order.number.in_(sorted(set(numbers))))
    return {
        number: {
            "number": number,
            "dealer": dealer,
            "status": status,
            "total_fen": total_fen,
            "placed_at": placed_at,
        }
        for number, dealer, status, total_fen, placed_at in hq.execute(query)
    }


def expected_rows(hq: Session, directory: SiteDirectory, site_code: str) -> SiteRows:
    """Everything site *site_code*'s read models should hold, read from HQ."""
    return SiteRows(
        catalog=catalog_rows(hq, directory, site_code),
        dealers=dealer_rows(hq, directory, site_code),
        orders=order_rows(hq, directory, site_code),
    )


def current_rows(site: Session) -> SiteRows:
    """What a site's read models hold now."""

    def rows(model: Any, columns: tuple[str, ...]) -> dict[str, Row]:
        table = model.__table__
        found = site.execute(select(*(table.c[name] for name in columns)))
        return {row[0]: dict(zip(columns, row, strict=True)) for row in found}

    return SiteRows(
        catalog=rows(SiteCatalogItem, _CATALOG_COLUMNS),
        dealers=rows(SiteDealer, _DEALER_COLUMNS),
        orders=rows(SiteOrder, _ORDER_COLUMNS),
    )


# --- writing them ---------------------------------------------------------------------------


def lock_state(site: Session) -> ReadModelState:
    """Lock (creating it if a database predates it) the site's read-model state row.

    On SQLite the write transaction already holds the database's write lock; on
    PostgreSQL this is a row lock held until the transaction ends.
    """
    query = select(ReadModelState).where(ReadModelState.name == READ_MODELS_STATE)
    state = site.scalar(query.with_for_update())
    if state is None:
        state = ReadModelState(
            name=READ_MODELS_STATE,
            last_event_id=0,
            applied_at=None,
            rebuilt_at=None,
            rebuilt_through=None,
        )
        site.add(state)
        site.flush()
    return state


def _replace(site: Session, model: Any, key: Any, keys: Iterable[str], rows: Iterable[Row]) -> None:
    keys = sorted(set(keys))
    if keys:
        site.execute(delete(model).where(key.in_(keys)))
    fresh = list(rows)
    if fresh:
        site.execute(insert(model), fresh)


def _write_keys(
    hq: Session, site: Session, directory: SiteDirectory, site_code: str, keys: ChangedKeys
) -> None:
    if keys.skus or keys.products:
        catalog = catalog_rows(hq, directory, site_code, skus=keys.skus, products=keys.products)
        stale = set(keys.skus) | set(catalog)
        if keys.products:
            # SKUs that left one of these products since: refreshed under their new product.
            stale |= set(
                site.scalars(
                    select(SiteCatalogItem.sku).where(
                        SiteCatalogItem.product.in_(sorted(keys.products))
                    )
                )
            )
            missing = stale - set(catalog)
            if missing:
                catalog |= catalog_rows(hq, directory, site_code, skus=missing)
        _replace(site, SiteCatalogItem, SiteCatalogItem.sku, stale, catalog.values())
    if keys.dealers:
        dealers = dealer_rows(hq, directory, site_code, codes=keys.dealers)
        _replace(site, SiteDealer, SiteDealer.code, keys.dealers, dealers.values())
    if keys.orders:
        orders = order_rows(hq, directory, site_code, numbers=keys.orders)
        _replace(site, SiteOrder, SiteOrder.number, keys.orders, orders.values())


def _write_everything(
    hq: Session, site: Session, directory: SiteDirectory, site_code: str, state: ReadModelState,
    now: datetime,
) -> None:  # fmt: skip
    through = hq.scalar(select(func.max(OutboxEvent.id))) or 0
    rows = expected_rows(hq, directory, site_code)
    for model, fresh in (
        (SiteCatalogItem, rows.catalog),
        (SiteDealer, rows.dealers),
        (SiteOrder, rows.orders),
    ):
        site.execute(delete(model))
        if fresh:
            site.execute(insert(model), list(fresh.values()))
    state.rebuilt_at = now
    state.rebuilt_through = through


@dataclass(frozen=True)
class EventToApply:
    """The fields of an outbox event the read models need."""

    id: int
    type: str
    site: str
    payload: Mapping[str, Any]

    @classmethod
    def of(cls, event: OutboxEvent) -> EventToApply:
        """From an outbox row."""
        return cls(id=event.id, type=event.type, site=event.site, payload=dict(event.payload))


def apply_event(
    platform: Platform,
    directory: SiteDirectory,
    site_code: str,
    event: EventToApply,
    *,
    consumer: str,
) -> bool:
    """Apply *event* to the read models of site *site_code*, unless *consumer* already did.

    One site transaction: lock the state row, check the inbox, read HQ, write the rows, the
    inbox record and the state. A site whose read models were never built is rebuilt whole
    instead. Returns ``True`` if applied now, ``False`` if the inbox already had it.
    """
    now = platform.clock.now()
    database = platform.databases.site(site_code, directory.get(site_code).database_url)
    with database.transaction() as site:
        state = lock_state(site)
        if site.get(InboxRecord, (consumer, event.id)) is not None:
            return False
        keys = changed_keys(event.type, event.payload)
        with platform.hq.reading() as hq:
            if keys.everything or state.rebuilt_at is None:
                _write_everything(hq, site, directory, site_code, state, now)
            else:
                _write_keys(hq, site, directory, site_code, keys)
        site.add(
            InboxRecord(
                consumer=consumer, event_id=event.id, type=event.type, applied_at=now,
                delivered_at=None,
            )
        )  # fmt: skip
        state.last_event_id = max(state.last_event_id, event.id)
        state.applied_at = now
    return True


def mark_delivered(platform: Platform, site_code: str, event_id: int, *, consumer: str) -> None:
    """Record that event *event_id* reached the plugins (in its site's inbox, if there)."""
    now = platform.clock.now()
    with platform.site_database(site_code).transaction() as site:
        record = site.get(InboxRecord, (consumer, event_id))
        if record is not None and record.delivered_at is None:
            record.delivered_at = now


def was_delivered(platform: Platform, site_code: str, event_id: int, *, consumer: str) -> bool:
    """Whether event *event_id* already reached the plugins (after a crash, say)."""
    with platform.site_database(site_code).reading() as site:
        record = site.get(InboxRecord, (consumer, event_id))
        return record is not None and record.delivered_at is not None


@dataclass(frozen=True)
class RebuildReport:
    """What a wholesale rebuild wrote."""

    site: str
    catalog: int
    dealers: int
    orders: int
    rebuilt_through: int


def rebuild_site(platform: Platform, code: str) -> RebuildReport:
    """Rewrite site *code*'s read models from HQ's current state, in one site transaction.

    Safe while the relay runs: both lock the site's state row first. Events the relay has
    not applied yet are still applied afterwards (harmlessly: each reads HQ again).
    """
    directory = platform.directory()
    directory.get(code)
    now = platform.clock.now()
    with platform.site_database(code).transaction() as site:
        state = lock_state(site)
        with platform.hq.reading() as hq:
            _write_everything(hq, site, directory, code, state, now)
        counts = {
            name: site.scalar(select(func.count()).select_from(model)) or 0
            for name, model in (
                ("catalog", SiteCatalogItem),
                ("dealers", SiteDealer),
                ("orders", SiteOrder),
            )
        }
        through = state.rebuilt_through or 0
    return RebuildReport(site=code, rebuilt_through=through, **counts)


def verify_site(platform: Platform, code: str) -> list[str]:
    """Differences between site *code*'s read models and what HQ says they should hold.

    Read-only. Lines name the table, the key, the rows held and expected; empty when in
    step. Meaningful once the relay has caught up (otherwise it lists what is pending).
    """
    directory = platform.directory()
    with platform.site_database(code).reading() as site:
        held = current_rows(site)
    with platform.hq.reading() as hq:
        wanted = expected_rows(hq, directory, code)
    return held.differences(wanted)


@dataclass(frozen=True)
class Freshness:
    """How far a site's read models have been brought."""

    site: str
    last_event_id: int
    applied_at: datetime | None
    rebuilt_at: datetime | None
    rebuilt_through: int | None

    @property
    def built(self) -> bool:
        """Whether the read models were ever built (a new site's are not, until the relay)."""
        return self.rebuilt_at is not None


def freshness(platform: Platform, code: str) -> Freshness:
    """The state row of site *code*'s read models."""
    with platform.site_database(code).reading() as site:
        state = site.get(ReadModelState, READ_MODELS_STATE)
        if state is None:
            return Freshness(code, 0, None, None, None)
        return Freshness(
            code, state.last_event_id, state.applied_at, state.rebuilt_at, state.rebuilt_through
        )
