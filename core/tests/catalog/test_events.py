"""Catalog changes tell the sites: one outbox event per change, in the change's transaction.

``docs/sync.md`` ("Who writes which event"): SKUs created or changed and products changed
write ``catalog.changed`` of the root; a site's price set or cleared writes
``price.changed`` of that site; a hide or unhide writes ``assortment.changed`` of the
hiding site. A change that changes nothing writes nothing, a refused one writes nothing
either, and the relay carries each event to the sites' read models. Both backends.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from vintry.audit.models import AuditEntry
from vintry.catalog import service
from vintry.catalog.assortment import hide_sku, unhide_sku
from vintry.catalog.importer import bundled_catalog_rows, import_catalog
from vintry.catalog.pricing import (
    clear_price_floor,
    clear_site_price,
    set_price_floor,
    set_site_price,
)
from vintry.catalog.schemas import (
    BrandCreate,
    BrandUpdate,
    CategoryCreate,
    FloorSet,
    ProductCreate,
    ProductUpdate,
    SkuUpdate,
)
from vintry.clock import ManualClock
from vintry.errors import Conflict, InvalidInput, NotFound
from vintry.events.read_models import current_rows, verify_site
from vintry.events.relay import Relay
from vintry.orders.models import OutboxEvent
from vintry.platform import Platform

from .conftest import ACTOR, EAST, STORE, WEST, Tree, make_sku

HQ = "hq"
Announced = tuple[str, str, dict[str, Any]]


def _high(platform: Platform) -> int:
    """The outbox's highest id (0 when empty)."""
    with platform.hq.reading() as session:
        return session.scalar(select(func.coalesce(func.max(OutboxEvent.id), 0))) or 0


def _since(platform: Platform, mark: int) -> list[Announced]:
    """``(type, site, payload)`` of the outbox events after id *mark*, oldest first."""
    with platform.hq.reading() as session:
        events = session.scalars(
            select(OutboxEvent).where(OutboxEvent.id > mark).order_by(OutboxEvent.id)
        )
        return [(e.type, e.site, dict(e.payload)) for e in events]


def _catalog(sku: str) -> Announced:
    return ("catalog.changed", HQ, {"sku": sku})


def _price(site: str, sku: str) -> Announced:
    return ("price.changed", site, {"sku": sku})


def _assortment(site: str, sku: str) -> Announced:
    return ("assortment.changed", site, {"sku": sku})


def test_the_library_announces_skus_created_and_changed_and_products_changed(
    library: Platform, vintry_clock: ManualClock
) -> None:
    platform = library
    mark = _high(platform)
    vintry_clock.advance(minutes=5)
    make_sku(platform, "FT-200", "699.00", volume_ml=200)
    service.update_sku(platform, "FT-200", SkuUpdate(name="Feitian 200 ml"), actor=ACTOR)
    service.update_sku(platform, "FT-200", SkuUpdate(name="Feitian 200 ml"), actor=ACTOR)
    service.update_sku(platform, "FT-500", SkuUpdate(base_price=Decimal("1599")), actor=ACTOR)
    service.update_sku(platform, "FT-500", SkuUpdate(base_price=Decimal("1599.00")), actor=ACTOR)
    service.update_sku(platform, "FT-375", SkuUpdate(active=False), actor=ACTOR)
    service.update_product(platform, "FEITIAN", ProductUpdate(name="Feitian Classic"), actor=ACTOR)
    service.update_product(platform, "FEITIAN", ProductUpdate(name="Feitian Classic"), actor=ACTOR)
    # Not announced: products without SKUs yet, brands and categories (the read models
    # hold their codes, which never change).
    service.create_product(
        platform,
        ProductCreate(code="YINGBIN", name="Yingbin", brand="MT", category="BAIJIU"),
        actor=ACTOR,
    )
    service.create_brand(platform, BrandCreate(code="XJ", name="Xijiu"), actor=ACTOR)
    service.update_brand(platform, "MT", BrandUpdate(name="Kweichow Moutai"), actor=ACTOR)
    service.create_category(platform, CategoryCreate(code="GIFT", name="Gift sets"), actor=ACTOR)

    assert _since(platform, mark) == [
        _catalog("FT-200"),
        _catalog("FT-200"),
        _catalog("FT-500"),
        _catalog("FT-375"),
        ("catalog.changed", HQ, {"product": "FEITIAN"}),
    ]
    # Same transaction, same moment: each event carries the time of its audit entry.
    with platform.hq.reading() as session:
        events = session.scalars(select(OutboxEvent).where(OutboxEvent.id > mark)).all()
        audited = set(
            session.scalars(select(AuditEntry.at).where(AuditEntry.object_id == "FT-200"))
        )
    assert {event.created_at for event in events} == audited == {vintry_clock.now()}


def test_site_prices_are_announced_for_the_site_whose_price_it_is(
    tree: Tree, library: Platform
) -> None:
    platform = library
    mark = _high(platform)
    set_site_price(platform, EAST, "FT-500", Decimal("1399"), actor=ACTOR)
    set_site_price(platform, EAST, "FT-500", Decimal("1399.00"), actor=ACTOR)  # the same
    set_site_price(platform, STORE, "FT-500", Decimal("1299"), actor=ACTOR)
    clear_site_price(platform, EAST, "FT-500", actor=ACTOR)
    clear_site_price(platform, EAST, "FT-500", actor=ACTOR)  # nothing left to clear
    clear_site_price(platform, WEST, "FT-375", actor=ACTOR)  # never had one
    set_site_price(platform, HQ, "FT-375", Decimal("1099"), actor=ACTOR)
    # A floor never changes a price in force: nothing for the read models to learn.
    set_price_floor(platform, HQ, "FT-500", FloorSet(min_price=Decimal("1000")), actor=ACTOR)
    clear_price_floor(platform, HQ, "FT-500", actor=ACTOR)

    assert _since(platform, mark) == [
        _price(EAST, "FT-500"),
        _price(STORE, "FT-500"),
        _price(EAST, "FT-500"),
        _price(HQ, "FT-375"),
    ]


def test_hides_are_announced_for_the_hiding_site_only_when_they_change_something(
    tree: Tree, library: Platform
) -> None:
    platform = library
    mark = _high(platform)
    hide_sku(platform, EAST, "FT-500", actor=ACTOR)
    hide_sku(platform, EAST, "FT-500", actor=ACTOR)
    unhide_sku(platform, STORE, "FT-500", actor=ACTOR)  # the store has no hide of its own
    hide_sku(platform, STORE, "FT-500", actor=ACTOR)
    unhide_sku(platform, EAST, "FT-500", actor=ACTOR)
    unhide_sku(platform, EAST, "FT-500", actor=ACTOR)

    assert _since(platform, mark) == [
        _assortment(EAST, "FT-500"),
        _assortment(STORE, "FT-500"),
        _assortment(EAST, "FT-500"),
    ]


def test_refused_changes_announce_nothing(tree: Tree, library: Platform) -> None:
    platform = library
    set_price_floor(platform, EAST, "FT-500", FloorSet(min_price=Decimal("1400")), actor=ACTOR)
    set_site_price(platform, STORE, "FT-375", Decimal("1150"), actor=ACTOR)
    set_price_floor(platform, STORE, "FT-375", FloorSet(min_price=Decimal("1100")), actor=ACTOR)
    set_site_price(platform, EAST, "FT-375", Decimal("1050"), actor=ACTOR)  # the store keeps its
    mark = _high(platform)

    with pytest.raises(InvalidInput, match="below its floor"):
        set_site_price(platform, EAST, "FT-500", Decimal("1300"), actor=ACTOR)
    with pytest.raises(InvalidInput, match="without site 'east-s1'"):
        clear_site_price(platform, STORE, "FT-375", actor=ACTOR)  # 1050 would reach it
    with pytest.raises(Conflict) as base:
        service.update_sku(platform, "FT-500", SkuUpdate(base_price=Decimal("999")), actor=ACTOR)
    assert base.value.code == "floor_conflicts_with_prices"
    with pytest.raises(Conflict):
        make_sku(platform, "FT-500", "1.00")
    with pytest.raises(NotFound):
        service.update_sku(platform, "NOPE", SkuUpdate(name="x"), actor=ACTOR)
    with pytest.raises(NotFound):
        service.update_product(platform, "FEITIAN", ProductUpdate(brand="NOPE"), actor=ACTOR)
    with pytest.raises(NotFound):
        hide_sku(platform, EAST, "NOPE", actor=ACTOR)

    assert _since(platform, mark) == []


def test_a_rejected_import_row_announces_nothing_the_accepted_rows_announce_once(
    vintry_platform: Platform,
) -> None:
    platform = vintry_platform
    rows = bundled_catalog_rows()
    import_catalog(platform, rows, actor=ACTOR)
    skus = [str(row.values["sku_code"]) for row in rows]
    assert _since(platform, 0) == [_catalog(code) for code in skus], "one per SKU, in file order"

    mark = _high(platform)
    assert import_catalog(platform, bundled_catalog_rows(), actor=ACTOR).created == 0
    assert _since(platform, mark) == [], "unchanged rows announce nothing"

    # A row whose product change went through but whose SKU was then refused rolls back
    # whole, the product's event included (each row is a savepoint).
    first = dict(rows[0].values)
    base_price = Decimal(str(first["base_price"]))
    set_price_floor(
        platform, HQ, str(first["sku_code"]), FloorSet(min_price=base_price), actor=ACTOR
    )
    changed = first | {"product_name": "Renamed in the same row", "base_price": str(base_price - 1)}
    report = import_catalog(platform, [changed], actor=ACTOR)
    assert [problem.field for problem in report.problems] == ["base_price"]
    assert _since(platform, mark) == []


def test_changes_reach_the_site_read_models_through_the_relay(
    tree: Tree, library: Platform, vintry_clock: ManualClock
) -> None:
    platform = library
    relay = Relay(platform, redis_url=None)
    assert relay.run_once().rebuilt == 4  # every site, built whole once
    operator, admin = tree.operator(EAST), tree.admin()

    priced = operator.put("/api/v1/catalog/prices/FT-500", json={"price": "1399.00"})
    assert priced.status_code == 200, priced.text
    hidden = operator.put("/api/v1/catalog/assortment/FT-375/hidden")
    assert hidden.status_code == 200, hidden.text
    renamed = admin.patch("/api/v1/catalog/skus/FT-500", json={"name": "Feitian 53% 500 ml"})
    assert renamed.status_code == 200, renamed.text
    vintry_clock.advance(timedelta(seconds=1))

    report = relay.run_once()
    # The price and the hide reach east and its store; the rename every site.
    assert (report.read, report.applied, report.lag) == (3, 2 + 2 + 4, 0)

    for site, price_fen, offers_375 in (
        (EAST, 139_900, False),
        (STORE, 139_900, False),
        (WEST, 149_900, True),
        (HQ, 149_900, True),
    ):
        with platform.site_database(site).reading() as session:
            catalog = current_rows(session).catalog
        assert catalog["FT-500"]["price_fen"] == price_fen, site
        assert catalog["FT-500"]["name"] == "Feitian 53% 500 ml", site
        assert catalog["FT-375"]["offered"] is offers_375, site
        assert verify_site(platform, site) == [], site
        # The dealer-facing catalog (read live from HQ) and the site's copy agree.
        items = tree.dealer(site).get("/api/v1/catalog/items")
        assert items.status_code == 200, items.text
        assert {
            item["sku"]: (item["name"], int(Decimal(item["price"]) * 100))
            for item in items.json()["items"]
        } == {
            code: (row["name"], row["price_fen"]) for code, row in catalog.items() if row["offered"]
        }, site
