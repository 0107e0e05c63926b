"""The Redis Stream the relay uses, when ``VINTRY_REDIS_URL`` is set, to wake up promptly.

Only outbox event *ids* travel on the stream; the relay reads each event from the HQ outbox
and records what it applied in the site inboxes and the HQ cursor. The stream is transport,
never the record: if Redis loses it (a restart without persistence, a flush), the relay
recreates the consumer group and the outbox sweep delivers whatever the stream dropped.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from typing import Any, cast

import redis

log = logging.getLogger("vintry.relay")

DEFAULT_STREAM = "vintry:outbox"
STREAM_MAXLEN = 100_000
"""Entries kept (approximately): old ids are useless once the cursor passed them."""
SOCKET_TIMEOUT_S = 5.0
STALE_IDLE_MS = 10 * 60 * 1000
"""An entry another consumer has held this long unacknowledged belongs to a dead process."""
STALE_BATCH = 1000

StreamError = redis.RedisError
"""What a stream operation raises when Redis is unreachable or refuses."""


def default_consumer_name() -> str:
    """This process's name in the consumer group: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class OutboxStream:
    """One Redis Stream of outbox event ids and one consumer group reading it.

    :param url: the Redis server (``redis://host:port/db``).
    :param stream: the stream's key; tests use a unique one each.
    :param group: the consumer group (the relay consumer's name).
    :param consumer: this reader's name within the group.
    """

    def __init__(
        self, url: str, *, stream: str = DEFAULT_STREAM, group: str, consumer: str | None = None
    ) -> None:
        self.stream = stream
        self.group = group
        self.consumer = consumer or default_consumer_name()
        self._client = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
        )
        self._group_ready = False

    def publish(self, event_ids: Sequence[int]) -> int:
        """Append *event_ids* to the stream (one pipeline round trip); returns how many."""
        if not event_ids:
            return 0
        self._ensure_group()
        pipeline = self._client.pipeline(transaction=False)
        for event_id in event_ids:
            pipeline.xadd(self.stream, {"id": str(event_id)}, maxlen=STREAM_MAXLEN)
        pipeline.execute()
        return len(event_ids)

    def receive(self, *, count: int, block_ms: int | None = None) -> list[tuple[str, int]]:
        """New entries for this consumer: ``(entry id, outbox event id)`` pairs.

        Waits up to *block_ms* for one to arrive (``None``: answer at once). A stream or
        group that vanished (Redis flushed or restarted) is recreated, and nothing is
        returned: the outbox sweep covers what was lost.
        """
        self._ensure_group()
        try:
            # redis-py treats block=0 as "forever"; None sends no BLOCK at all.
            answer = self._client.xreadgroup(
                self.group,
                self.consumer,
                {self.stream: ">"},
                count=count,
                block=block_ms if block_ms else None,
            )
        except redis.ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            log.warning("stream %s lost its consumer group; recreating it", self.stream)
            self._group_ready = False
            self._ensure_group()
            return []
        entries: list[tuple[str, int]] = []
        for _name, messages in cast("list[tuple[str, list[tuple[str, dict[str, Any]]]]]", answer):
            for entry_id, fields in messages:
                try:
                    entries.append((entry_id, int(fields["id"])))
                except (KeyError, TypeError, ValueError):
                    log.warning(
                        "stream %s entry %s has no event id: %r", self.stream, entry_id, fields
                    )
                    entries.append((entry_id, 0))
        return entries

    def ack(self, entry_ids: Sequence[str]) -> None:
        """Acknowledge entries this consumer handled."""
        if entry_ids:
            self._client.xack(self.stream, self.group, *entry_ids)

    def length(self) -> int:
        """Entries in the stream (0 if it does not exist)."""
        return int(self._client.xlen(self.stream))

    def drop(self) -> None:
        """Delete the stream and its groups (tests; an operator resetting the transport)."""
        self._client.delete(self.stream)
        self._group_ready = False

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self._client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True
        self._release_stale()

    def _release_stale(self) -> None:
        """Acknowledge entries left unacknowledged by a previous run of this consumer or by
        consumers idle for long (dead processes): the outbox sweep has covered their events,
        and unacknowledged entries would otherwise stay in Redis forever."""
        own = self._client.xreadgroup(
            self.group, self.consumer, {self.stream: "0"}, count=STALE_BATCH
        )
        ids = [
            entry_id
            for _name, messages in cast("list[tuple[str, list[tuple[str, Any]]]]", own)
            for entry_id, _fields in messages
        ]
        claimed = self._client.xautoclaim(
            self.stream,
            self.group,
            self.consumer,
            min_idle_time=STALE_IDLE_MS,
            count=STALE_BATCH,
            justid=True,
        )
        ids += list(claimed[1]) if len(claimed) > 1 else []
        self.ack(ids)
