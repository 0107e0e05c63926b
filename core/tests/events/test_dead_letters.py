"""Failing consumers: retried while later events go on, dead-lettered after repeated
failures, visible in the API, retried once the cause is fixed; lag figures. Both backends.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from vintry.accounts.models import Role
from vintry.events.dead_letters import list_dead_letters, relay_status, retry_dead_letter
from vintry.events.outbox import record_event
from vintry.events.relay import DEFAULT_CONSUMER, MAX_FAILURES
from vintry.platform import Platform

from .conftest import EAST, LIBRARY_EVENTS, STORE, WEST, EventRecorder, World, drain


def _hide_table(platform: Platform, site: str, hidden: bool) -> None:
    """Rename a site's dealer read model away (a broken site database) or back."""
    names = ("read_dealers", "read_dealers_away")
    old, new = names if hidden else reversed(names)
    with platform.site_database(site).transaction() as session:
        session.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


def test_a_failing_site_holds_the_cursor_not_the_stream_then_is_dead_lettered_and_retried(
    world: World,
) -> None:
    platform = world.platform
    relay = world.relay()
    drain(relay)  # the library's events
    _hide_table(platform, EAST, hidden=True)
    broken, fine = LIBRARY_EVENTS + 1, LIBRARY_EVENTS + 2
    world.factory.dealer(EAST, "D-BROKEN")  # event `broken`: fails on east
    world.changes.set_price(WEST, "FT-500", 111_100)  # event `fine`: west is fine
    admin = world.factory.admin_client()

    first = relay.run_once()
    assert (first.read, first.failures, first.applied) == (2, 1, 1)
    assert world.rows(WEST).catalog["FT-500"]["price_fen"] == 111_100, "later events go on"
    # The cursor waits before the failing event; the lag counts both.
    assert (first.cursor, first.lag, first.pending) == (broken - 1, 2, 1)
    assert admin.get("/api/v1/relay/status").json() | {"updated_at": None} == {
        "consumer": DEFAULT_CONSUMER,
        "cursor": broken - 1,
        "outbox_max_id": fine,
        "lag": 2,
        "dead_letters": 0,
        "updated_at": None,
    }

    assert relay.run_once().failures == 0, "the next attempt waits a second"
    reports = []
    for _ in range(MAX_FAILURES - 1):
        world.changes.clock.advance(minutes=1)
        reports.append(relay.run_once())
    assert [r.dead_lettered for r in reports] == [0] * (MAX_FAILURES - 2) + [1]
    assert (reports[-1].cursor, reports[-1].lag, reports[-1].pending) == (fine, 0, 0)

    letters = admin.get("/api/v1/relay/dead-letters").json()
    assert len(letters) == 1
    letter = letters[0]
    assert letter["event_id"] == broken and letter["type"] == "dealer.changed"
    assert letter["site"] == EAST and letter["consumer"] == DEFAULT_CONSUMER
    assert letter["attempts"] == MAX_FAILURES and letter["resolved_at"] is None
    assert "read_dealers" in letter["error"] and letter["payload"] == {"dealer": "D-BROKEN"}
    status = admin.get("/api/v1/relay/status").json()
    assert (status["cursor"], status["lag"], status["dead_letters"]) == (fine, 0, 1)

    # Still broken: the retry fails, the letter stays open with one more attempt.
    again = admin.post(f"/api/v1/relay/dead-letters/{letter['id']}/retry")
    assert again.status_code == 200, again.text
    assert again.json()["resolved_at"] is None
    assert again.json()["attempts"] == MAX_FAILURES + 1

    _hide_table(platform, EAST, hidden=False)
    fixed = admin.post(f"/api/v1/relay/dead-letters/{letter['id']}/retry")
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["resolved_at"] is not None
    assert "D-BROKEN" in world.rows(EAST).dealers
    assert admin.get("/api/v1/relay/dead-letters").json() == []
    assert len(admin.get("/api/v1/relay/dead-letters?include_resolved=true").json()) == 1
    assert admin.get("/api/v1/relay/status").json()["dead_letters"] == 0
    # Retrying a resolved letter changes nothing.
    assert admin.post(f"/api/v1/relay/dead-letters/{letter['id']}/retry").json() == fixed.json()
    assert drain(relay)[-1].applied == 0


def test_dead_letters_are_scoped_to_the_addressed_subtree(world: World) -> None:
    platform = world.platform
    drain(world.relay())
    _hide_table(platform, STORE, hidden=True)
    world.factory.dealer(STORE, "D-STORE")
    relay = world.relay(max_failures=1)
    assert drain(relay)[0].dead_lettered == 1
    [letter] = list_dead_letters(platform)

    for site, seen in ((EAST, 1), (STORE, 1), (WEST, 0)):
        client = world.factory.admin_client(site)
        assert len(client.get("/api/v1/relay/dead-letters").json()) == seen
        assert client.get("/api/v1/relay/status").json()["dead_letters"] == seen
    outside = world.factory.admin_client(WEST).post(f"/api/v1/relay/dead-letters/{letter.id}/retry")
    assert outside.status_code == 404
    assert outside.json()["error"]["code"] == "dead_letter_not_found"
    missing = world.factory.admin_client().post("/api/v1/relay/dead-letters/999999/retry")
    assert missing.status_code == 404

    operator = world.factory.client_for(Role.SITE_OPERATOR, EAST)
    for method, path in (
        ("GET", "/api/v1/relay/status"),
        ("GET", "/api/v1/relay/dead-letters"),
        ("POST", f"/api/v1/relay/dead-letters/{letter.id}/retry"),
    ):
        refused = operator.request(method, path)
        assert refused.status_code == 403, (path, refused.text)
    assert list_dead_letters(platform)[0].resolved_at is None


def test_a_plugin_that_keeps_failing_gets_its_own_dead_letter(world: World) -> None:
    platform = world.platform
    recorder = EventRecorder()
    recorder.fail_on = {"dealer.changed"}
    assert platform.plugins.register("recorder", recorder).status == "loaded"
    world.factory.enable_plugin("recorder")
    relay = world.relay()
    drain(relay)
    world.factory.dealer(EAST, "D-PLUGIN")
    world.changes.set_price(EAST, "FT-375", 99_000)

    report = drain(relay)[0]
    assert report.dead_lettered == 1
    assert "D-PLUGIN" in world.rows(EAST).dealers, "the read models did not wait for the plugin"
    assert relay_status(platform).lag == 0
    [letter] = list_dead_letters(platform)
    assert letter.consumer == "plugin:recorder" and letter.site == EAST
    assert letter.error == "RuntimeError: recorder refuses dealer.changed"
    # Everything but the refused dealer event: the library's, then the price.
    assert [t for i, t, _ in recorder.received if i.startswith("outbox:")] == [
        "catalog.changed"
    ] * LIBRARY_EVENTS + ["price.changed"]

    assert retry_dead_letter(platform, letter.id).resolved_at is None
    recorder.fail_on = set()
    resolved = retry_dead_letter(platform, letter.id)
    assert resolved.resolved_at is not None and resolved.attempts == 3 + 2
    assert recorder.received[-1] == (f"outbox:{letter.event_id}", "dealer.changed", EAST)


def test_lag_is_the_outbox_high_minus_the_cursor(world: World) -> None:
    platform = world.platform
    relay = world.relay()
    drain(relay)
    for fen in (100_000, 110_000, 120_000, 130_000, 140_000):
        world.changes.set_price(EAST, "FT-500", fen)
    admin = world.factory.admin_client()
    assert admin.get("/api/v1/relay/status").json()["lag"] == 5

    report = relay.run_once(batch=2)
    assert (report.read, report.cursor, report.lag) == (2, LIBRARY_EVENTS + 2, 3)
    status = admin.get("/api/v1/relay/status").json()
    assert (status["cursor"], status["outbox_max_id"], status["lag"]) == (
        LIBRARY_EVENTS + 2,
        LIBRARY_EVENTS + 5,
        3,
    )
    assert world.rows(STORE).catalog["FT-500"]["price_fen"] == 140_000, "rows read HQ now"
    drain(relay)
    assert relay_status(platform).lag == 0


def test_a_gap_in_the_outbox_is_awaited_on_postgresql_until_it_times_out(
    world: World,
) -> None:
    """An id taken by a transaction that has not committed holds the cursor (PostgreSQL);
    a rolled-back one is given up after the gap timeout. SQLite never has such gaps."""
    platform = world.platform
    relay = world.relay()
    drain(relay)
    world.changes.set_price(EAST, "FT-500", 100_000)
    with pytest.raises(RuntimeError), platform.hq.transaction() as session:
        record_event(
            session, type="price.changed", site=EAST, payload={"sku": "FT-500"},
            now=platform.clock.now(),
        )  # fmt: skip
        session.flush()
        raise RuntimeError("rolled back")
    world.changes.set_price(EAST, "FT-500", 120_000)

    report = relay.run_once()
    assert report.applied == 2 * 2  # both events, on east and its store
    assert world.rows(STORE).catalog["FT-500"]["price_fen"] == 120_000
    if platform.hq.backend == "sqlite":
        # The rolled-back id was reused: no gap at all.
        assert (report.cursor, report.pending) == (report.cursor, 0)
        assert report.lag == 0
        return
    missing = LIBRARY_EVENTS + 2
    assert (report.cursor, report.pending) == (missing - 1, 1), "the missing id holds the cursor"
    world.changes.clock.advance(seconds=61)
    report = relay.run_once()
    assert (report.cursor, report.lag, report.pending) == (missing + 1, 0, 0)
