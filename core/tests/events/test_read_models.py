"""The read models themselves: what a site holds, new sites, repair, the outbox helper and
the services that write events through it. Both backends."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select
from vintry.catalog.models import Sku
from vintry.dealers.schemas import DealerCreate, DealerUpdate
from vintry.dealers.service import create_dealer, update_dealer
from vintry.errors import Conflict
from vintry.events.outbox import EventType, record_event
from vintry.events.read_models import (
    EventToApply,
    apply_event,
    catalog_rows,
    changed_keys,
    freshness,
    rebuild_site,
    verify_site,
)
from vintry.events.relay import targets
from vintry.inventory import stock
from vintry.inventory.models import Warehouse
from vintry.orders.models import OrderStatus, OutboxEvent
from vintry.sites.read_models import SiteCatalogItem

from .conftest import ACTOR, EAST, HQ, LIBRARY_EVENTS, SITES, STORE, WEST, World, drain


def _events(world: World, *, after: int = 0) -> list[OutboxEvent]:
    """The outbox, oldest first; *after* an id (the library's events: ``LIBRARY_EVENTS``)."""
    with world.platform.hq.reading() as session:
        query = select(OutboxEvent).where(OutboxEvent.id > after).order_by(OutboxEvent.id)
        return list(session.scalars(query))


def test_a_site_sees_its_prices_assortment_dealers_and_orders(world: World) -> None:
    changes = world.changes
    world.factory.dealer(EAST, "D-EAST", tags=["vip", "banquet"])
    world.factory.dealer(WEST, "D-WEST")
    changes.set_price(EAST, "FT-500", 139_900)  # inherited by the store
    changes.set_price(STORE, "FT-375", 109_900)
    changes.hide(EAST, "YB-500", True)
    changes.change_sku("FT-375", active=False)
    number = changes.place_order(EAST, "D-EAST", 279_800)
    changes.set_order_status(number, OrderStatus.PAID)
    drain(world.relay())

    store = world.rows(STORE).catalog
    assert {code: (r["price_fen"], r["active"], r["offered"]) for code, r in store.items()} == {
        "FT-500": (139_900, True, True),
        "FT-375": (109_900, False, False),
        "YB-500": (39_900, True, False),
    }
    assert store["FT-500"] | {"price_fen": 0} == {
        "sku": "FT-500",
        "name": "Feitian FT-500",
        "product": "FEITIAN",
        "product_name": "Feitian",
        "brand": "MT",
        "category": "BAIJIU",
        "base_price_fen": 149_900,
        "price_fen": 0,
        "active": True,
        "offered": True,
    }
    west = world.rows(WEST).catalog
    assert west["FT-500"]["price_fen"] == 149_900 and west["YB-500"]["offered"] is True
    east = world.rows(EAST)
    assert east.dealers == {
        "D-EAST": {
            "code": "D-EAST",
            "name": east.dealers["D-EAST"]["name"],
            "tier": "silver",
            "tags": ["banquet", "vip"],
            "active": True,
        }
    }
    assert east.orders[number] | {"placed_at": None} == {
        "number": number,
        "dealer": "D-EAST",
        "status": "paid",
        "total_fen": 279_800,
        "placed_at": None,
    }
    assert world.rows(STORE).orders == {} and set(world.rows(WEST).dealers) == {"D-WEST"}


def test_events_reach_the_sites_they_concern(world: World) -> None:
    directory = world.platform.directory()
    assert targets(directory, "price.changed", EAST) == [EAST, STORE]
    assert targets(directory, "catalog.changed", HQ) == [HQ, EAST, STORE, WEST]
    assert targets(directory, "dealer.changed", EAST) == [EAST]
    assert targets(directory, "order.status_changed", STORE) == [STORE]
    assert changed_keys("catalog.changed", {"skus": ["A", "B"], "product": "P"}).skus == {"A", "B"}
    assert changed_keys("return.status_changed", {"number": "R1", "order": "VO1"}).orders == {"VO1"}
    assert changed_keys("site.created", {}).everything
    assert changed_keys("plugin.thing", {"sku": "A"}) == changed_keys("x", {})


def test_a_new_site_is_built_whole_on_the_next_pass(world: World) -> None:
    relay = world.relay()
    drain(relay)
    world.changes.set_price(EAST, "FT-500", 130_000)
    drain(relay)
    north = world.factory.site("north-s1", parent=EAST)
    assert not freshness(world.platform, north.code).built

    report = relay.run_once()
    assert report.rebuilt == 1
    state = freshness(world.platform, north.code)
    assert state.built and state.rebuilt_through == len(_events(world))
    assert world.rows(north.code).catalog["FT-500"]["price_fen"] == 130_000
    assert verify_site(world.platform, north.code) == []


def test_rebuild_repairs_a_damaged_site_and_apply_is_once_per_consumer(world: World) -> None:
    platform = world.platform
    world.factory.dealer(STORE, "D-STORE")
    drain(world.relay())
    with platform.site_database(STORE).transaction() as session:
        session.execute(delete(SiteCatalogItem).where(SiteCatalogItem.sku == "FT-500"))
    assert verify_site(platform, STORE) == [
        "catalog FT-500: None != " + str(world_row(world, STORE, "FT-500"))
    ]
    report = rebuild_site(platform, STORE)
    assert (report.catalog, report.dealers, report.orders) == (3, 1, 0)
    assert verify_site(platform, STORE) == []

    [event] = _events(world, after=LIBRARY_EVENTS)  # the dealer's
    directory = platform.directory()
    assert not apply_event(
        platform, directory, STORE, EventToApply.of(event), consumer="site-read-models"
    )
    assert apply_event(platform, directory, STORE, EventToApply.of(event), consumer="another")
    assert not apply_event(platform, directory, STORE, EventToApply.of(event), consumer="another")


def world_row(world: World, site: str, sku: str) -> dict[str, object]:
    """The catalog row HQ says *site* should hold for *sku*."""
    with world.platform.hq.reading() as session:
        return catalog_rows(session, world.platform.directory(), site, skus=[sku])[sku]


def test_product_changes_refresh_every_sku_of_the_product(world: World) -> None:
    relay = world.relay()
    drain(relay)
    world.changes.rename_product("FEITIAN", "Feitian Classic")
    world.changes.change_sku("YB-500", product="FEITIAN")
    drain(relay)
    catalog = world.rows(WEST).catalog
    assert {code: (r["product"], r["product_name"]) for code, r in catalog.items()} == {
        "FT-500": ("FEITIAN", "Feitian Classic"),
        "FT-375": ("FEITIAN", "Feitian Classic"),
        "YB-500": ("FEITIAN", "Feitian Classic"),
    }


# --- the outbox helper and the services that use it -----------------------------------------


def test_record_event_refuses_what_the_relay_could_not_apply(world: World) -> None:
    now = world.platform.clock.now()
    with world.platform.hq.transaction() as session:
        for kwargs, message in (
            ({"type": "price.changd", "site": EAST, "payload": {"sku": "A"}}, "unknown"),
            ({"type": "price.changed", "site": "", "payload": {"sku": "A"}}, "code of its site"),
            ({"type": "price.changed", "site": EAST, "payload": {"skus": ["A"]}}, "needs one of"),
            ({"type": "dealer.changed", "site": EAST, "payload": {}}, "dealer"),
        ):
            with pytest.raises(ValueError, match=message):
                record_event(session, now=now, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timezone"):
            record_event(
                session, type=EventType.ORDER_PLACED, site=EAST, payload={"number": "VO1"},
                now=datetime(2026, 1, 1),
            )  # fmt: skip
        event = record_event(
            session, type="catalog.changed", site=HQ, payload={"product": "FEITIAN"}, now=now
        )
        session.flush()
        assert event.id is not None and event.type == "catalog.changed"


def test_dealer_changes_write_their_event_in_the_same_transaction(world: World) -> None:
    platform = world.platform
    create_dealer(platform, EAST, DealerCreate(code="D-NEW", name="New"), actor=ACTOR)
    with pytest.raises(Conflict):
        create_dealer(platform, WEST, DealerCreate(code="D-NEW", name="Again"), actor=ACTOR)
    update_dealer(platform, EAST, "D-NEW", DealerUpdate(name="Renamed"), actor=ACTOR)
    update_dealer(platform, EAST, "D-NEW", DealerUpdate(name="Renamed"), actor=ACTOR)  # no-op
    assert [(e.type, e.site, e.payload) for e in _events(world, after=LIBRARY_EVENTS)] == [
        ("dealer.changed", EAST, {"dealer": "D-NEW"}),
        ("dealer.changed", EAST, {"dealer": "D-NEW"}),
    ]
    drain(world.relay())
    assert world.rows(EAST).dealers["D-NEW"]["name"] == "Renamed"


def test_a_placed_order_reaches_its_site_through_the_relay(world: World) -> None:
    platform = world.platform
    east = platform.directory().get(EAST)
    with platform.hq.transaction() as session:
        warehouse = Warehouse(
            code="WH-E1", name="East 1", city="Shanghai", region_site_id=east.id,
            latitude=Decimal("31.23"), longitude=Decimal("121.47"), priority=1,
        )  # fmt: skip
        session.add(warehouse)
        session.flush()
        sku_id = session.scalar(select(Sku.id).where(Sku.code == "FT-500"))
        assert sku_id is not None
        stock.receive(
            session, warehouse_id=warehouse.id, sku_id=sku_id, quantity=10, now=platform.clock.now()
        )
    dealer = world.factory.client_for("dealer", EAST)
    response = dealer.post(
        "/api/v1/orders",
        json={"lines": [{"sku": "FT-500", "quantity": 2}]},
        headers={"Idempotency-Key": "relay-1"},
    )
    assert response.status_code == 201, response.text
    number = response.json()["number"]
    placed = [e for e in _events(world) if e.type == "order.placed"]
    assert [(e.site, e.payload["number"]) for e in placed] == [(EAST, number)]

    drain(world.relay())
    row = world.rows(EAST).orders[number]
    assert (row["status"], row["total_fen"]) == ("placed", 299_800)
    for code in SITES:
        assert verify_site(platform, code) == []
    with platform.hq.reading() as session:
        assert session.scalar(select(func.count()).select_from(OutboxEvent)) == len(_events(world))
