"""Site read models converge after random HQ changes, with the relay killed and restarted
mid-stream; no event is applied twice. Both backends.

Random changes (dealers created and changed through the dealer service; prices, hides,
SKUs, products, orders and order statuses written with their outbox events) interleave
with relay passes of random sizes. Passes are killed at random fault points — right after
a site transaction committed, after the plugins got an event but before the inbox noted
it, and before the cursor moved — and a new relay takes over, as a restarted process
would. At the end every site's read models equal a fresh wholesale rebuild, every
(event, site) pair the event concerns is in the site's inbox, and was applied exactly once.
"""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select
from vintry.events.dead_letters import relay_status
from vintry.events.read_models import EventToApply, apply_event, verify_site
from vintry.events.relay import Relay, targets
from vintry.orders.models import OutboxEvent

from .conftest import (
    LIBRARY_EVENTS,
    SITES,
    STORE,
    EventRecorder,
    SimulatedCrash,
    World,
    drain,
)
from .scenarios import CRASH_POINTS, Killer, RandomHQ, assert_converged


@pytest.mark.parametrize("seed", [11, 23, 47])
def test_read_models_converge_with_the_relay_killed_and_restarted_mid_stream(
    world: World, seed: int
) -> None:
    rng = random.Random(seed)
    recorder = EventRecorder()
    assert world.platform.plugins.register("recorder", recorder).status == "loaded"
    world.factory.enable_plugin("recorder")
    killer = Killer()
    world.platform.fault_hook = killer
    hq = RandomHQ(world, rng)
    relay = world.relay()

    for _ in range(90):
        hq.step()
        if rng.random() < 0.35:
            if rng.random() < 0.5:
                killer.arm(rng.choice(CRASH_POINTS), rng.randint(1, 4))
            try:
                for _ in range(rng.randint(1, 3)):
                    relay.run_once(batch=rng.randint(1, 6))
            except SimulatedCrash:
                relay = world.relay()  # the process restarted
    killer.disarm()
    relay = world.relay()
    drain(relay)

    assert sum(killer.kills.values()) >= 3, f"the run must kill the relay: {killer.kills}"
    assert_converged(world, world.applied)
    delivered = recorder.outbox_ids()
    assert set(delivered) == {event_id for event_id, _ in world.applied}, (
        "every event reached plugins"
    )
    # A kill between a plugin delivery and its inbox note re-delivers (at least once).
    assert sum(delivered.values()) - len(delivered) <= killer.kills["relay.after_deliver"]


def test_a_restarted_relay_skips_what_the_killed_one_applied(world: World) -> None:
    dealer = world.factory.dealer("east", "D-KILL").code
    world.changes.set_price("hq", "FT-500", 150_000)
    first = world.relay()
    killer = Killer()
    world.platform.fault_hook = killer
    killer.arm("relay.before_cursor", 1)
    with pytest.raises(SimulatedCrash):
        first.run_once()
    # Everything was applied, nothing was recorded in HQ's cursor.
    assert relay_status(world.platform).cursor == 0
    assert "D-KILL" in world.rows("east").dealers

    second = world.relay()
    report = second.run_once()
    assert report.applied == 0
    # The library's events and the price reach every site, the dealer's only east.
    assert report.skipped == len(world.applied) == (LIBRARY_EVENTS + 1) * len(SITES) + 1
    assert report.delivered == 0, "the plugins already had every event"
    assert (report.cursor, report.lag) == (LIBRARY_EVENTS + 2, 0)
    assert dealer in world.rows("east").dealers


def test_events_apply_in_any_order_and_still_converge(world: World) -> None:
    """Each event reads HQ's current state, so a replay of old events changes nothing."""
    relay = world.relay()
    world.changes.set_price("east", "FT-500", 120_000)
    world.changes.set_price("east", "FT-500", 130_000)
    world.changes.hide("east", "YB-500", True)
    drain(relay)
    assert world.rows(STORE).catalog["FT-500"]["price_fen"] == 130_000
    assert world.rows(STORE).catalog["YB-500"]["offered"] is False
    # Replay under another consumer, newest first: the rows stay those of HQ now.
    replay = Relay(world.platform, "replay", redis_url=None)
    with world.platform.hq.reading() as session:
        events = list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.id.desc())))
    directory = world.platform.directory()
    for event in events:
        for code in targets(directory, event.type, event.site):
            assert apply_event(
                world.platform, directory, code, EventToApply.of(event), consumer=replay.consumer
            )
    for code in SITES:
        assert verify_site(world.platform, code) == []
