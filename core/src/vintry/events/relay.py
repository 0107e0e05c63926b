"""The relay: delivers HQ's outbox, at least once, to the site read models and the plugins.

One pass (:meth:`Relay.run_once`):

1. read the outbox rows after those already seen, in ``id`` order;
2. apply each event to every site it concerns (:func:`targets`): one site transaction
   writes the refreshed rows *and* the inbox record, so a crash anywhere never applies an
   event twice (:func:`~vintry.events.read_models.apply_event`);
3. deliver it to the plugins enabled on its site (isolated, retried, counted — as
   :meth:`Platform.emit <vintry.platform.Platform.emit>` does), and note that in the inbox;
4. advance the consumer's HQ cursor past every event settled so far.

An event that fails on a site is retried on later passes, with a growing delay, while
later events go on; after ``max_failures`` failed attempts it becomes a
:class:`DeadLetter` and the relay moves on (``vintry relay dead-letters``,
``GET /api/v1/relay/dead-letters``). A plugin whose handler still fails after its retries
gets a dead letter of its own (``plugin:<name>``). Retrying a dead letter re-runs just that
consumer.

The cursor only moves past ids that are settled, so events are never skipped; on
PostgreSQL an id may become visible after a higher one (transactions commit out of order),
so a missing id is awaited for ``gap_timeout`` before it counts as rolled back. Events after
such a gap are applied meanwhile (each reads HQ's current state, so order does not matter);
the cursor waits. On SQLite writers are serialised, so a missing id is always a rollback.

With a Redis URL the relay also publishes each event id to a Redis Stream and takes its
work from a consumer group on it, waiting on the stream instead of sleeping; events the
stream lost are picked up from the outbox on the next pass. Redis is never the record.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from vintry.contracts import Event
from vintry.errors import NotFound
from vintry.events.dispatch import MAX_ATTEMPTS, deliver_event
from vintry.events.outbox import SUBTREE_EVENTS
from vintry.events.read_models import (
    EventToApply,
    apply_event,
    freshness,
    mark_delivered,
    rebuild_site,
    was_delivered,
)
from vintry.events.stream import DEFAULT_STREAM, OutboxStream, StreamError
from vintry.orders.models import DeadLetter, OutboxEvent, RelayCursor
from vintry.platform import Platform
from vintry.sites.directory import SiteDirectory

log = logging.getLogger("vintry.relay")

DEFAULT_CONSUMER = "site-read-models"
PLUGIN_CONSUMER_PREFIX = "plugin:"
MAX_FAILURES = 5
RETRY_BACKOFF = timedelta(seconds=1)
"""Wait before the second attempt of a failed event on a site; doubled for each next one."""
GAP_TIMEOUT = timedelta(seconds=60)
GAP_RECHECK = 500
"""Missing ids looked up again per pass, at most."""

_UNSET: Any = object()


def targets(directory: SiteDirectory, type_: str, site: str) -> list[str]:
    """Codes of the sites an event of *type_* at *site* applies to.

    Catalog, price and assortment events apply to *site* and its whole subtree (a price or
    hide set at a region is inherited by its stores); everything else to *site* alone.
    :class:`~vintry.errors.NotFound` if *site* does not exist.
    """
    directory.get(site)
    if type_ in SUBTREE_EVENTS:
        return [node.code for node in directory.subtree(site)]
    return [site]


def plugin_event(event: EventToApply, occurred_at: datetime) -> Event:
    """The :class:`~vintry.contracts.Event` plugins receive for an outbox event.

    Its id, ``outbox:<id>``, is the same on every delivery, so handlers can deduplicate.
    """
    return Event(
        id=f"outbox:{event.id}",
        type=event.type,
        site=event.site,
        occurred_at=occurred_at,
        payload=dict(event.payload),
    )


@dataclass
class RelayReport:
    """What one pass did, and where the relay stands after it."""

    read: int = 0
    """New outbox rows read."""
    applied: int = 0
    """Site applications committed (one event on three sites counts three)."""
    skipped: int = 0
    """Site applications found in the inbox already (a replay after a crash)."""
    delivered: int = 0
    """Events delivered to the plugins."""
    failures: int = 0
    """Failed site applications this pass (retried on the next)."""
    dead_lettered: int = 0
    rebuilt: int = 0
    """Sites whose read models were built whole (new sites)."""
    published: int = 0
    """Event ids published to the Redis Stream."""
    from_stream: int = 0
    """Events taken from the Redis Stream."""
    stream_error: str | None = None
    cursor: int = 0
    lag: int = 0
    """The outbox's highest id minus the cursor."""
    pending: int = 0
    """Ids after the cursor not settled yet (failing, or missing and awaited)."""

    @property
    def progressed(self) -> bool:
        """Whether the pass did anything (if not, the loop waits before the next)."""
        return bool(
            self.read or self.applied or self.skipped or self.delivered or self.dead_lettered
            or self.rebuilt
        )  # fmt: skip


@dataclass
class _Pending:
    """An id after the cursor that is not settled: an event being applied, or a gap."""

    event: EventToApply | None
    occurred_at: datetime | None
    first_seen: datetime
    seen_pass: int
    done: set[str] = field(default_factory=set)
    fresh_on_origin: bool = False
    failures: Counter[str] = field(default_factory=Counter)
    errors: dict[str, str] = field(default_factory=dict)
    retry_at: datetime | None = None


class Relay:
    """Delivers the outbox to the site read models and the plugins for one consumer.

    :param platform: the platform whose HQ outbox and site databases to use.
    :param consumer: the cursor's name in ``relay_cursors`` and the inbox's consumer.
    :param max_failures: failed attempts of one event on a site before it becomes a dead
        letter; attempts are spaced by *retry_backoff*, doubled each time (1 + 2 + 4 + 8 s
        by default), so a database restarting for a few seconds dead-letters nothing.
    :param gap_timeout: how long a missing id is awaited on PostgreSQL.
    :param redis_url: the Redis server for the stream; defaults to ``VINTRY_REDIS_URL``
        (``None``: in-process, no Redis).
    :param stream: the stream's key.
    :param on_apply: called with ``(event id, site code)`` after each site application
        committed (metrics; the tests count applications with it).
    """

    def __init__(
        self,
        platform: Platform,
        consumer: str = DEFAULT_CONSUMER,
        *,
        max_failures: int = MAX_FAILURES,
        retry_backoff: timedelta = RETRY_BACKOFF,
        gap_timeout: timedelta = GAP_TIMEOUT,
        redis_url: str | None = _UNSET,
        stream: str = DEFAULT_STREAM,
        on_apply: Callable[[int, str], None] | None = None,
    ) -> None:
        if consumer.startswith(PLUGIN_CONSUMER_PREFIX):
            raise ValueError(f"consumer names starting {PLUGIN_CONSUMER_PREFIX!r} are plugins'")
        self.platform = platform
        self.consumer = consumer
        self.max_failures = max_failures
        self.retry_backoff = retry_backoff
        self.gap_timeout = gap_timeout
        url = platform.settings.redis_url if redis_url is _UNSET else redis_url
        self.stream = OutboxStream(url, stream=stream, group=consumer) if url else None
        self.on_apply = on_apply
        self._cursor: int | None = None
        self._high = 0
        self._pending: dict[int, _Pending] = {}
        self._passes = 0
        self._tree_version: int | None = None
        self._woken: list[tuple[str, int]] = []

    # --- one pass -------------------------------------------------------------------------

    def run_once(self, batch: int = 200) -> RelayReport:
        """Read up to *batch* new events, apply and deliver what is due, advance the cursor."""
        self._passes += 1
        report = RelayReport()
        directory = self.platform.directory()
        self._build_new_sites(directory, report)
        if self._cursor is None:
            self._cursor = self.cursor()
            self._high = self._cursor
        new_ids = self._read_new(batch, report)
        self._recheck_gaps()
        streamed = self.stream is not None and self._use_stream(directory, new_ids, batch, report)
        now = self.platform.clock.now()
        for event_id in sorted(self._pending):
            pending = self._pending.get(event_id)
            if pending is None or pending.event is None:
                continue
            if pending.retry_at is not None and pending.retry_at > now:
                continue
            if streamed and not pending.failures and pending.seen_pass == self._passes:
                continue  # the stream brings it; if it does not, the next pass sweeps it
            self._process(directory, event_id, pending, report)
        self._expire_gaps()
        self._advance(report)
        return report

    def _read_new(self, batch: int, report: RelayReport) -> list[int]:
        now = self.platform.clock.now()
        with self.platform.hq.reading() as session:
            rows = list(
                session.scalars(
                    select(OutboxEvent)
                    .where(OutboxEvent.id > self._high)
                    .order_by(OutboxEvent.id)
                    .limit(batch)
                )
            )
        expected = self._high + 1
        # On SQLite writers are serialised: an id missing below a visible one rolled back.
        awaits_gaps = self.platform.hq.backend != "sqlite"
        for row in rows:
            for gap in range(expected, row.id if awaits_gaps else expected):
                self._pending[gap] = _Pending(None, None, now, self._passes)
            self._pending[row.id] = _Pending(
                EventToApply.of(row), row.created_at, now, self._passes
            )
            expected = row.id + 1
        if rows:
            self._high = rows[-1].id
        report.read = len(rows)
        return [row.id for row in rows]

    def _recheck_gaps(self) -> None:
        gaps = [i for i, p in self._pending.items() if p.event is None][:GAP_RECHECK]
        if not gaps:
            return
        with self.platform.hq.reading() as session:
            for row in session.scalars(select(OutboxEvent).where(OutboxEvent.id.in_(gaps))):
                self._pending[row.id].event = EventToApply.of(row)
                self._pending[row.id].occurred_at = row.created_at

    def _expire_gaps(self) -> None:
        now = self.platform.clock.now()
        for event_id, pending in list(self._pending.items()):
            if pending.event is None and now - pending.first_seen >= self.gap_timeout:
                log.info("outbox id %s never appeared: taken as rolled back", event_id)
                del self._pending[event_id]

    def _use_stream(
        self, directory: SiteDirectory, new_ids: list[int], batch: int, report: RelayReport
    ) -> bool:
        """Publish the new ids, then apply what the consumer group hands over; ``False``
        if Redis did not answer (the pass then relays everything from the outbox)."""
        assert self.stream is not None
        try:
            report.published = self.stream.publish(new_ids)
            self.platform.fault_point("relay.after_publish")
            entries, self._woken = self._woken, []
            entries += self.stream.receive(count=max(batch, len(new_ids)))
        except StreamError as error:
            report.stream_error = f"{type(error).__name__}: {error}"
            log.warning("Redis stream unavailable, relaying from the outbox: %s", error)
            return False
        for _entry, event_id in entries:
            pending = self._pending.get(event_id)
            if pending is not None and pending.event is not None and pending.retry_at is None:
                report.from_stream += 1
                self._process(directory, event_id, pending, report)
        try:
            self.stream.ack([entry for entry, _ in entries])
        except StreamError as error:
            report.stream_error = f"{type(error).__name__}: {error}"
        return True

    # --- one event --------------------------------------------------------------------------

    def _process(
        self, directory: SiteDirectory, event_id: int, pending: _Pending, report: RelayReport
    ) -> None:
        event = pending.event
        assert event is not None
        try:
            sites = targets(directory, event.type, event.site)
        except NotFound as error:
            sites = [event.site]
            pending.failures[event.site] += 1
            pending.errors[event.site] = f"NotFound: {error.message}"
            report.failures += 1
        else:
            for code in sites:
                if code in pending.done:
                    continue
                try:
                    applied = apply_event(
                        self.platform, directory, code, event, consumer=self.consumer
                    )
                except Exception as error:
                    pending.failures[code] += 1
                    pending.errors[code] = f"{type(error).__name__}: {error}"
                    report.failures += 1
                    log.warning(
                        "event %s (%s) failed on site %s (%d/%d): %s",
                        event_id, event.type, code, pending.failures[code], self.max_failures,
                        error,
                    )  # fmt: skip
                    continue
                pending.done.add(code)
                if applied:
                    report.applied += 1
                    if self.on_apply is not None:
                        self.on_apply(event_id, code)
                    pending.fresh_on_origin |= code == event.site
                    self.platform.fault_point("relay.after_apply")
                else:
                    report.skipped += 1
        failing = [code for code in sites if code not in pending.done]
        if any(pending.failures[code] < self.max_failures for code in failing):
            attempts = max(pending.failures[code] for code in failing)
            pending.retry_at = self.platform.clock.now() + self.retry_backoff * 2 ** (attempts - 1)
            return
        if failing:
            errors = "; ".join(f"{code}: {pending.errors[code]}" for code in failing)
            record_dead_letter(
                self.platform,
                event_id,
                consumer=self.consumer,
                site=failing[0],
                type_=event.type,
                error=errors,
                attempts=max(pending.failures[code] for code in failing),
            )
            report.dead_lettered += 1
        self._deliver(directory, event_id, pending, report)
        del self._pending[event_id]

    def _deliver(
        self, directory: SiteDirectory, event_id: int, pending: _Pending, report: RelayReport
    ) -> None:
        event = pending.event
        assert event is not None and pending.occurred_at is not None
        if directory.find(event.site) is None:
            log.error("event %s names site %r, which does not exist", event_id, event.site)
            return
        replay = event.site in pending.done and not pending.fresh_on_origin
        if replay and was_delivered(self.platform, event.site, event_id, consumer=self.consumer):
            return
        delivery = deliver_event(self.platform, plugin_event(event, pending.occurred_at))
        for plugin, error in delivery.failed.items():
            record_dead_letter(
                self.platform,
                event_id,
                consumer=PLUGIN_CONSUMER_PREFIX + plugin,
                site=event.site,
                type_=event.type,
                error=error,
                attempts=MAX_ATTEMPTS,
            )
            report.dead_lettered += 1
        report.delivered += 1
        self.platform.fault_point("relay.after_deliver")
        mark_delivered(self.platform, event.site, event_id, consumer=self.consumer)

    # --- the cursor -----------------------------------------------------------------------

    def cursor(self) -> int:
        """The consumer's cursor in HQ: every event up to it is settled."""
        with self.platform.hq.reading() as session:
            row = session.get(RelayCursor, self.consumer)
            return row.last_event_id if row is not None else 0

    def _advance(self, report: RelayReport) -> None:
        assert self._cursor is not None
        target = min(self._pending) - 1 if self._pending else self._high
        if target > self._cursor:
            self.platform.fault_point("relay.before_cursor")
            write_cursor(self.platform, self.consumer, target)
            self._cursor = target
        report.cursor = self._cursor
        report.pending = len(self._pending)
        with self.platform.hq.reading() as session:
            highest = session.scalar(select(func.max(OutboxEvent.id))) or 0
        report.lag = max(highest - self._cursor, 0)

    # --- new sites ------------------------------------------------------------------------

    def _build_new_sites(self, directory: SiteDirectory, report: RelayReport) -> None:
        """Build the read models of sites that never had them, when the tree changed."""
        if directory.version == self._tree_version:
            return
        complete = True
        for code in sorted(directory.nodes):
            try:
                if not freshness(self.platform, code).built:
                    rebuild_site(self.platform, code)
                    report.rebuilt += 1
            except Exception:
                log.exception("could not build the read models of new site %s", code)
                complete = False  # the version stays unrecorded: tried again next pass
        if complete:
            self._tree_version = directory.version

    # --- running as a process ---------------------------------------------------------------

    def run_forever(
        self,
        stop: threading.Event,
        poll_interval: float = 1.0,
        *,
        batch: int = 200,
        on_pass: Callable[[RelayReport], None] | None = None,
    ) -> None:
        """Pass after pass until *stop* is set; wait up to *poll_interval* seconds after a
        pass that did nothing (on the Redis Stream if there is one, so a publish wakes it)."""
        while not stop.is_set():
            try:
                report = self.run_once(batch)
            except Exception:
                # HQ or a site database unreachable: nothing is lost (the cursor did not
                # move past what is unsettled), so wait and try again.
                log.exception("relay pass failed; retrying in %.1f s", poll_interval)
                stop.wait(poll_interval)
                continue
            if on_pass is not None:
                on_pass(report)
            if not report.progressed:
                self._wait(stop, poll_interval)

    def _wait(self, stop: threading.Event, seconds: float) -> None:
        if self.stream is not None:
            try:
                self._woken += self.stream.receive(count=200, block_ms=max(int(seconds * 1000), 1))
                return
            except StreamError as error:
                log.warning("Redis stream unavailable while waiting: %s", error)
        stop.wait(seconds)

    def close(self) -> None:
        """Close the Redis connection, if any."""
        if self.stream is not None:
            self.stream.close()


# --- HQ writes shared with the dead-letter service --------------------------------------------


def write_cursor(platform: Platform, consumer: str, event_id: int) -> None:
    """Move *consumer*'s cursor forward to *event_id* (never back)."""
    now = platform.clock.now()
    for _attempt in range(2):
        try:
            with platform.hq.transaction() as session:
                moved = session.execute(
                    update(RelayCursor)
                    .where(RelayCursor.consumer == consumer, RelayCursor.last_event_id < event_id)
                    .values(last_event_id=event_id, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                if moved.rowcount == 0 and session.get(RelayCursor, consumer) is None:  # type: ignore[attr-defined]
                    session.add(
                        RelayCursor(consumer=consumer, last_event_id=event_id, updated_at=now)
                    )
            return
        except IntegrityError:
            continue  # another relay created the row meanwhile: update it


def record_dead_letter(
    platform: Platform,
    event_id: int,
    *,
    consumer: str,
    site: str,
    type_: str,
    error: str,
    attempts: int,
) -> None:
    """Record (or re-open) the dead letter of *event_id* for *consumer*."""
    now = platform.clock.now()
    log.error("event %s (%s) dead-lettered for %s: %s", event_id, type_, consumer, error)
    with platform.hq.transaction() as session:
        letter = session.scalar(
            select(DeadLetter).where(
                DeadLetter.event_id == event_id, DeadLetter.consumer == consumer
            )
        )
        if letter is None:
            session.add(
                DeadLetter(
                    event_id=event_id, consumer=consumer, site=site, type=type_,
                    error=error[:4000], attempts=attempts, failed_at=now, resolved_at=None,
                )
            )  # fmt: skip
        else:
            letter.site, letter.error, letter.failed_at = site, error[:4000], now
            letter.attempts += attempts
            letter.resolved_at = None


def outbox_high(platform: Platform) -> int:
    """The outbox's highest event id (0 when empty)."""
    with platform.hq.reading() as session:
        return session.scalar(select(func.max(OutboxEvent.id))) or 0


def unresolved_dead_letters(platform: Platform, sites: Iterable[str] | None = None) -> int:
    """Dead letters not resolved yet (of *sites* only, if given)."""
    query = select(func.count()).select_from(DeadLetter).where(DeadLetter.resolved_at.is_(None))
    if sites is not None:
        query = query.where(DeadLetter.site.in_(sorted(set(sites))))
    with platform.hq.reading() as session:
        return session.scalar(query) or 0
