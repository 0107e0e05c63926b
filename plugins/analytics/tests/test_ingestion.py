"""Ingestion: every event validated on its own, refusals reported with a reason, size and
rate bounded, retries idempotent, dealers only, and only where the plugin is enabled."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from vintry_analytics import PLUGIN_NAME
from vintry_analytics.models import BehaviourEvent

from .conftest import BASE, World

EVENTS = f"{BASE}/events"


def _event(world: World, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "product_view",
        "session": "s-1",
        "sku": "FT-500",
        "occurred_at": (world.clock.now() - timedelta(seconds=5)).isoformat(),
        "properties": {"dwell_ms": 4200},
    }
    event.update(fields)
    return {key: value for key, value in event.items() if value is not None}


def _stored(world: World, site: str) -> int:
    with world.platform.site_database(site).reading() as session:
        return session.scalar(select(func.count()).select_from(BehaviourEvent)) or 0


def test_valid_events_of_every_client_type_are_stored(world: World) -> None:
    dealer = world.dealers["east"][0]
    client = world.dealer_client(dealer, "east")
    events = [
        _event(world, type="page_view", sku=None, properties={"path": "/"}),
        _event(world),
        _event(world, type="search", sku=None, properties={"query": "53%", "results": 4}),
        _event(world, type="add_to_cart", properties={"quantity": 6}),
        _event(world, type="remove_from_cart", properties={"quantity": 1}),
        _event(world, type="checkout_start", sku=None, properties={"lines": 1}),
        _event(world, type="price_comparison", properties={"compared_with": ["FT-200"]}),
        _event(world, type="campaign_view", sku=None, properties={"campaign": "spring"}),
    ]

    response = client.post(EVENTS, json={"events": events})

    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["accepted"], report["rejected"], report["duplicates"]) == (8, [], [])
    assert report["rate_limit"]["remaining"] == 600 - 8
    with world.platform.site_database("east").reading() as session:
        row = session.scalars(
            select(BehaviourEvent).where(BehaviourEvent.type == "product_view")
        ).one()
    assert (row.dealer, row.sku, row.dwell_ms, row.source) == (dealer, "FT-500", 4200, "client")


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"type": "teleport"}, "unknown_type", "events.0.type"),
        ({"type": "order_placed"}, "server_only_type", "events.0.type"),
        ({"sku": None}, "sku_required", "events.0.sku"),
        ({"type": "page_view", "properties": {"path": "/"}}, "sku_not_allowed", "events.0.sku"),
        ({"sku": "NO-SUCH"}, "unknown_sku", "events.0.sku"),
        ({"session": None}, "missing_field", "events.0.session"),
        ({"colour": "red"}, "unknown_field", "events.0.colour"),
        ({"occurred_at": "yesterday"}, "invalid_value", "events.0.occurred_at"),
        ({"occurred_at": "2026-01-01T00:00:00"}, "invalid_value", "events.0.occurred_at"),
        ({"occurred_at": "2025-12-01T00:00:00+00:00"}, "too_old", "events.0.occurred_at"),
        ({"occurred_at": "2026-01-01T01:00:00+00:00"}, "in_future", "events.0.occurred_at"),
        ({"properties": {}}, "missing_field", "events.0.properties.dwell_ms"),
        ({"properties": {"dwell_ms": -1}}, "invalid_value", "events.0.properties.dwell_ms"),
        ({"properties": {"dwell_ms": 1, "x": 1}}, "unknown_field", "events.0.properties.x"),
        ({"properties": {"dwell_ms": 1}, "dealer": "DW-00"}, "dealer_mismatch", "events.0.dealer"),
        ({"id": "has space"}, "invalid_value", "events.0.id"),
    ],
)
def test_each_bad_event_is_rejected_with_its_reason(
    world: World, fields: dict[str, Any], code: str, field: str
) -> None:
    client = world.dealer_client(world.dealers["east"][0], "east")
    bad = _event(world, **{k: v for k, v in fields.items() if v is not None})
    for key in [k for k, v in fields.items() if v is None]:
        bad.pop(key, None)

    response = client.post(EVENTS, json={"events": [bad, _event(world)]})

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["accepted"] == 1  # the good event still goes in
    [rejection] = report["rejected"]
    assert (rejection["index"], rejection["code"], rejection["field"]) == (0, code, field)
    assert rejection["message"]
    assert _stored(world, "east") == 1


def test_a_non_object_event_and_oversized_properties_are_rejected(world: World) -> None:
    world.factory.enable_plugin(PLUGIN_NAME, "east", config={"max_properties_bytes": 64})
    client = world.dealer_client(world.dealers["east"][0], "east")
    big = _event(world, type="search", sku=None, properties={"query": "x" * 100})

    report = client.post(EVENTS, json={"events": ["text", big]}).json()

    assert [(r["index"], r["code"]) for r in report["rejected"]] == [
        (0, "invalid_value"),
        (1, "properties_too_large"),
    ]


def test_a_batch_over_the_sites_limit_is_refused_whole(world: World) -> None:
    world.factory.enable_plugin(PLUGIN_NAME, "east", config={"max_batch_events": 3})
    client = world.dealer_client(world.dealers["east"][0], "east")

    response = client.post(EVENTS, json={"events": [_event(world)] * 4})

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("batch_too_large", "events")
    assert error["details"] == {"limit": 3, "received": 4}
    assert _stored(world, "east") == 0
    empty = client.post(EVENTS, json={"events": []})
    assert (empty.status_code, empty.json()["error"]["code"]) == (422, "validation_failed")


def test_the_rate_limit_is_per_dealer_and_clock_minute(world: World) -> None:
    world.factory.enable_plugin(PLUGIN_NAME, "east", config={"rate_limit_per_minute": 3})
    first, second = world.dealers["east"][:2]
    client = world.dealer_client(first, "east")

    report = client.post(EVENTS, json={"events": [_event(world)] * 5}).json()
    assert report["accepted"] == 3
    assert [(r["index"], r["code"]) for r in report["rejected"]] == [
        (3, "rate_limited"),
        (4, "rate_limited"),
    ]
    assert report["rate_limit"] == {
        "limit": 3,
        "remaining": 0,
        "resets_at": "2026-01-01T00:01:00Z",
    }
    again = client.post(EVENTS, json={"events": [_event(world)]}).json()
    assert (again["accepted"], again["rejected"][0]["code"]) == (0, "rate_limited")
    other = world.dealer_client(second, "east").post(EVENTS, json={"events": [_event(world)]})
    assert other.json()["accepted"] == 1  # another dealer has its own budget

    world.clock.advance(minutes=1)
    later = client.post(EVENTS, json={"events": [_event(world)]}).json()
    assert later["accepted"] == 1


def test_a_retried_batch_is_stored_once(world: World) -> None:
    client = world.dealer_client(world.dealers["east"][0], "east")
    batch = {"events": [_event(world, id="evt-1"), _event(world, id="evt-2")]}

    assert client.post(EVENTS, json=batch).json()["accepted"] == 2
    retry = client.post(EVENTS, json=batch).json()
    twice = client.post(
        EVENTS, json={"events": [_event(world, id="evt-3"), _event(world, id="evt-3")]}
    ).json()

    assert (retry["accepted"], retry["duplicates"]) == (0, [0, 1])
    assert twice["accepted"] == 1
    assert twice["rejected"][0]["code"] == "duplicate_in_batch"
    assert _stored(world, "east") == 3


def test_the_same_client_id_of_two_dealers_is_two_events(world: World) -> None:
    for dealer in world.dealers["east"][:2]:
        client = world.dealer_client(dealer, "east")
        assert (
            client.post(EVENTS, json={"events": [_event(world, id="same")]}).json()["accepted"] == 1
        )
    assert _stored(world, "east") == 2


def test_only_dealers_send_events_and_only_where_enabled(world: World) -> None:
    batch = {"events": [_event(world)]}
    assert world.hq_client("east").post(EVENTS, json=batch).status_code == 403
    assert world.operator_client("east").post(EVENTS, json=batch).status_code == 403
    world.factory.enable_plugin(PLUGIN_NAME, "west", state="off")

    response = world.dealer_client(world.dealers["west"][0], "west").post(EVENTS, json=batch)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "plugin_not_enabled"
    assert _stored(world, "west") == 0


def test_the_tracker_script_and_the_vocabulary_are_served(world: World) -> None:
    client = world.dealer_client(world.dealers["east"][0], "east")

    script = client.get(f"{BASE}/tracker.js")
    vocabulary = client.get(f"{BASE}/vocabulary").json()

    assert script.status_code == 200
    assert script.headers["content-type"].startswith("application/javascript")
    assert "VintryTracker" in script.text and "/api/v1/x/analytics/events" in script.text
    by_type = {entry["type"]: entry for entry in vocabulary}
    assert by_type["product_view"]["client"] and by_type["product_view"]["sku"]
    assert not by_type["order_placed"]["client"]
    assert "dwell_ms" in by_type["product_view"]["properties"]["properties"]
