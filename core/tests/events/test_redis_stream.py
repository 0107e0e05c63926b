"""The relay with a Redis Stream: it converges, survives losing the stream mid-run, wakes
on a publish, and falls back to the outbox when Redis is gone. Both backends; the tests
that need a Redis server skip without ``VINTRY_TEST_REDIS_URL``.

The "flush" deletes every key the relay keeps in Redis (its stream, and with it the
consumer group) rather than the whole server, which other test runs may share.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from vintry.events.relay import DEFAULT_CONSUMER, RelayReport
from vintry.events.stream import OutboxStream

from .conftest import EAST, LIBRARY_EVENTS, SITES, STORE, SimulatedCrash, World, drain
from .scenarios import CRASH_POINTS, Killer, RandomHQ, assert_converged


@pytest.fixture
def stream_name(vintry_redis_url: str) -> Iterator[str]:
    """A stream key of this test's own, deleted afterwards."""
    name = f"vintry-test:outbox:{uuid.uuid4().hex}"
    yield name
    client = redis.Redis.from_url(vintry_redis_url)
    client.delete(name)
    client.close()


class StreamLoss:
    """A fault hook that, when armed, deletes the relay's stream right after a publish
    (what a Redis restart without persistence or a flush does to it), and kills the relay
    where a :class:`Killer` would."""

    def __init__(self, url: str, stream: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.stream = stream
        self.armed = False
        self.losses = 0
        self.killer = Killer()

    def __call__(self, name: str) -> None:
        if name == "relay.after_publish" and self.armed:
            self.armed = False
            assert self.client.exists(self.stream), "the relay published to the stream"
            self.client.delete(self.stream)
            self.losses += 1
        self.killer(name)


def test_redis_mode_converges_and_survives_losing_the_stream_mid_run(
    world: World, vintry_redis_url: str, stream_name: str
) -> None:
    rng = random.Random(7)
    loss = StreamLoss(vintry_redis_url, stream_name)
    world.platform.fault_hook = loss
    hq = RandomHQ(world, rng)
    reports: list[RelayReport] = []
    relay = world.relay(redis_url=vintry_redis_url, stream=stream_name)
    for _ in range(70):
        hq.step()
        if rng.random() < 0.4:
            loss.armed = rng.random() < 0.4
            if rng.random() < 0.2:
                loss.killer.arm(rng.choice(CRASH_POINTS), rng.randint(1, 3))
            try:
                for _ in range(rng.randint(1, 3)):
                    reports.append(relay.run_once(batch=rng.randint(1, 6)))
            except SimulatedCrash:
                relay.close()
                relay = world.relay(redis_url=vintry_redis_url, stream=stream_name)
    loss.armed = False
    loss.killer.disarm()
    relay.close()
    relay = world.relay(redis_url=vintry_redis_url, stream=stream_name)
    reports += drain(relay)
    relay.close()

    assert loss.losses >= 3, "the stream was lost several times mid-run"
    assert sum(r.published for r in reports) > 0
    assert sum(r.from_stream for r in reports) > 0, "events came through the stream"
    assert not any(r.stream_error for r in reports)
    assert_converged(world, world.applied)


def test_a_publish_wakes_the_waiting_relay(
    world: World, vintry_redis_url: str, stream_name: str
) -> None:
    relay = world.relay(redis_url=vintry_redis_url, stream=stream_name)
    drain(relay)
    stop = threading.Event()
    passes: list[RelayReport] = []
    # Thirty seconds between idle passes: only the stream can make it react within ten.
    runner = threading.Thread(
        target=relay.run_forever, args=(stop, 30.0), kwargs={"on_pass": passes.append}
    )
    runner.start()
    writer = OutboxStream(
        vintry_redis_url, stream=stream_name, group=DEFAULT_CONSUMER, consumer="writer"
    )
    try:
        deadline = time.monotonic() + 10
        while not passes and time.monotonic() < deadline:
            time.sleep(0.01)
        assert passes, "the relay made its first pass"
        world.changes.set_price(EAST, "FT-500", 123_400)
        writer.publish([relay.cursor() + 1])  # what a writer does after its commit
        published = time.monotonic()
        while time.monotonic() - published < 10:
            if world.rows(STORE).catalog["FT-500"]["price_fen"] == 123_400:
                break
            time.sleep(0.02)
        assert world.rows(STORE).catalog["FT-500"]["price_fen"] == 123_400
        assert time.monotonic() - published < 10
    finally:
        stop.set()
        writer.publish([0])  # wakes the relay's wait, so it sees the stop at once
        runner.join(timeout=40)
        writer.close()
        relay.close()
    assert not runner.is_alive()


def test_without_redis_the_relay_relays_from_the_outbox(world: World) -> None:
    relay = world.relay(redis_url="redis://127.0.0.1:1/0", stream="vintry-test:nowhere")
    world.changes.set_price(EAST, "FT-500", 99_900)
    reports = drain(relay)
    assert reports[0].stream_error and "Connection" in reports[0].stream_error
    # The library's events on every site and the price on east and its store, all in the
    # first pass, from the outbox.
    assert reports[0].applied == LIBRARY_EVENTS * len(SITES) + 2, "applied in the same pass"
    assert world.rows(STORE).catalog["FT-500"]["price_fen"] == 99_900
    assert reports[-1].lag == 0
