"""Server-side events: the relay delivers the kernel's order and return events, the plugin
records them once each, and only on sites where it is enabled."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from vintry.events.outbox import record_event
from vintry_sdk import Event

from vintry_analytics import PLUGIN_NAME
from vintry_analytics.models import BehaviourEvent

from .conftest import BASE, World


def _rows(world: World, site: str) -> list[tuple[str, str | None, int | None, str | None]]:
    with world.platform.site_database(site).reading() as session:
        return [
            (row.type, row.sku, row.quantity, row.reference)
            for row in session.scalars(
                select(BehaviourEvent)
                .where(BehaviourEvent.source == "server")
                .order_by(BehaviourEvent.id)
            )
        ]


def test_an_order_becomes_one_event_per_line_and_its_campaign(world: World) -> None:
    dealer = world.dealers["east"][0]
    placed = world.clock.now() - timedelta(hours=1)
    number = world.order(
        dealer, [("FT-500", 2), ("FT-200", 1)], placed_at=placed, campaign="spring-gift"
    )

    world.relay()

    assert _rows(world, "east") == [
        ("order_placed", "FT-500", 2, number),
        ("order_placed", "FT-200", 1, number),
        ("campaign_order", None, None, "spring-gift"),
    ]


def test_a_redelivered_event_adds_nothing(world: World) -> None:
    dealer = world.dealers["east"][0]
    number = world.order(dealer, [("FT-500", 1)], placed_at=world.clock.now())
    world.relay()
    site = world.platform.site("east")
    event = Event(
        id="outbox:redelivered",
        type="order.placed",
        site="east",
        occurred_at=world.clock.now(),
        payload={"number": number},
    )

    site.hooks.vintry_handle_event(event=event, site=site)
    site.hooks.vintry_handle_event(event=event, site=site)

    assert [row[0] for row in _rows(world, "east")] == ["order_placed", "order_placed"]


def test_status_changes_and_returns_are_recorded(world: World) -> None:
    dealer = world.dealers["west"][0]
    number = world.order(
        dealer,
        [("FT-500", 3)],
        placed_at=world.clock.now(),
        status="delivered",
        returned=[("FT-500", 1, "damaged_packaging")],
    )
    with world.platform.hq.transaction() as session:
        now = world.clock.now()
        record_event(
            session,
            type="order.status_changed",
            site="west",
            payload={"number": number, "from": "shipped", "to": "delivered"},
            now=now,
        )
        record_event(
            session,
            type="return.status_changed",
            site="west",
            payload={"number": f"VR-{number}-0", "order": number, "from": None, "to": "requested"},
            now=now,
        )
        record_event(
            session,
            type="order.status_changed",
            site="west",
            payload={"number": number, "from": "placed", "to": "teleported"},
            now=now,
        )

    world.relay()

    assert _rows(world, "west") == [
        ("order_placed", "FT-500", 3, number),
        ("order_delivered", "FT-500", 3, number),
        ("return_requested", "FT-500", 1, f"VR-{number}-0"),
    ]


def test_nothing_is_recorded_where_the_plugin_is_off(world: World) -> None:
    world.factory.enable_plugin(PLUGIN_NAME, "west", state="off")
    world.order(world.dealers["west"][0], [("FT-500", 1)], placed_at=world.clock.now())
    world.order(world.dealers["east"][0], [("FT-500", 1)], placed_at=world.clock.now())

    world.relay()

    assert _rows(world, "west") == []
    assert len(_rows(world, "east")) == 1


def test_server_orders_close_the_purchase_funnel(world: World) -> None:
    dealer = world.dealers["east"][1]
    start = world.clock.now() - timedelta(hours=2)
    world.events(
        "east",
        [
            (dealer, "product_view", "FT-500", start),
            (dealer, "add_to_cart", "FT-500", start + timedelta(minutes=1)),
            (dealer, "checkout_start", None, start + timedelta(minutes=2)),
        ],
    )
    world.order(dealer, [("FT-500", 1)], placed_at=start + timedelta(minutes=3))
    world.relay()

    report = world.hq_client().get(f"{BASE}/funnel").json()

    assert [s["count"] for s in report["overall"]["steps"]] == [1, 1, 1, 1]
    assert report["overall"]["steps"][3]["median_ms_from_previous"] == 60_000.0
