"""The relay's status and its dead letters: listing and retrying them. No HTTP here.

A dead letter names one event and one consumer: ``site-read-models`` when the read models
of a site could not take the event, ``plugin:<name>`` when a plugin's handler kept
failing. Retrying re-runs exactly that consumer — the read models of every site the event
applies to (those that already have it skip it, through their inbox), or that one plugin
— and resolves the letter if it succeeds; otherwise the letter stays open with the new
error and one more attempt.
"""

from __future__ import annotations

from collections.abc import Collection

import pluggy
from sqlalchemy import select

from vintry.contracts import Event
from vintry.errors import NotFound
from vintry.events.dispatch import MAX_ATTEMPTS
from vintry.events.read_models import EventToApply, apply_event
from vintry.events.relay import (
    DEFAULT_CONSUMER,
    PLUGIN_CONSUMER_PREFIX,
    outbox_high,
    plugin_event,
    targets,
    unresolved_dead_letters,
)
from vintry.events.schemas import DeadLetterOut, RelayStatusOut
from vintry.orders.models import DeadLetter, OutboxEvent, RelayCursor
from vintry.platform import Platform, SiteContext


def relay_status(
    platform: Platform, *, consumer: str = DEFAULT_CONSUMER, sites: Collection[str] | None = None
) -> RelayStatusOut:
    """The cursor, the lag behind the outbox and the open dead letters (of *sites*)."""
    with platform.hq.reading() as session:
        row = session.get(RelayCursor, consumer)
    cursor = row.last_event_id if row is not None else 0
    highest = outbox_high(platform)
    return RelayStatusOut(
        consumer=consumer,
        cursor=cursor,
        outbox_max_id=highest,
        lag=max(highest - cursor, 0),
        dead_letters=unresolved_dead_letters(platform, sites),
        updated_at=row.updated_at if row is not None else None,
    )


def _out(letter: DeadLetter, event: OutboxEvent) -> DeadLetterOut:
    return DeadLetterOut(
        id=letter.id,
        event_id=letter.event_id,
        type=letter.type,
        site=letter.site,
        consumer=letter.consumer,
        error=letter.error,
        attempts=letter.attempts,
        failed_at=letter.failed_at,
        resolved_at=letter.resolved_at,
        payload=dict(event.payload),
    )


def list_dead_letters(
    platform: Platform,
    *,
    sites: Collection[str] | None = None,
    include_resolved: bool = False,
    after: int | None = None,
    limit: int | None = 100,
) -> list[DeadLetterOut]:
    """Dead letters by id (``after`` the last id seen), open ones only unless
    *include_resolved*; of *sites* only when given."""
    query = (
        select(DeadLetter, OutboxEvent)
        .join(OutboxEvent, DeadLetter.event_id == OutboxEvent.id)
        .order_by(DeadLetter.id)
    )
    if not include_resolved:
        query = query.where(DeadLetter.resolved_at.is_(None))
    if sites is not None:
        query = query.where(DeadLetter.site.in_(sorted(set(sites))))
    if after is not None:
        query = query.where(DeadLetter.id > after)
    if limit is not None:
        query = query.limit(limit)
    with platform.hq.reading() as session:
        return [_out(letter, event) for letter, event in session.execute(query)]


def _find(
    platform: Platform, letter_id: int, sites: Collection[str] | None
) -> tuple[DeadLetter, OutboxEvent]:
    with platform.hq.reading() as session:
        found = session.execute(
            select(DeadLetter, OutboxEvent)
            .join(OutboxEvent, DeadLetter.event_id == OutboxEvent.id)
            .where(DeadLetter.id == letter_id)
        ).first()
    if found is None or (sites is not None and found[0].site not in sites):
        raise NotFound(
            f"dead letter {letter_id} does not exist",
            code="dead_letter_not_found",
            field="letter_id",
        )
    return found[0], found[1]


def retry_dead_letter(
    platform: Platform, letter_id: int, *, sites: Collection[str] | None = None
) -> DeadLetterOut:
    """Re-run the consumer of dead letter *letter_id*; resolved if it succeeds now.

    Answers the letter as it stands afterwards (a resolved letter is answered as it is).
    404 ``dead_letter_not_found`` if there is no such letter, or its site is not in *sites*.
    """
    letter, event = _find(platform, letter_id, sites)
    if letter.resolved_at is not None:
        return _out(letter, event)
    if letter.consumer.startswith(PLUGIN_CONSUMER_PREFIX):
        error = _redeliver(platform, event, letter.consumer[len(PLUGIN_CONSUMER_PREFIX) :])
    else:
        error = _reapply(platform, event, letter.consumer)
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        stored = session.get(DeadLetter, letter.id)
        assert stored is not None
        stored.attempts += 1
        if error is None:
            stored.resolved_at = now
        else:
            stored.error, stored.failed_at = error[:4000], now
        return _out(stored, event)


def _reapply(platform: Platform, event: OutboxEvent, consumer: str) -> str | None:
    directory = platform.directory()
    try:
        codes = targets(directory, event.type, event.site)
    except NotFound as error:
        return f"NotFound: {error.message}"
    failures = []
    for code in codes:
        try:
            apply_event(platform, directory, code, EventToApply.of(event), consumer=consumer)
        except Exception as error:
            failures.append(f"{code}: {type(error).__name__}: {error}")
    return "; ".join(failures) or None


def _redeliver(platform: Platform, event: OutboxEvent, plugin: str) -> str | None:
    try:
        site = platform.site(event.site)
    except NotFound as error:
        return f"NotFound: {error.message}"
    delivered = plugin_event(EventToApply.of(event), event.created_at)
    for impl in site.hooks.implementations("vintry_handle_event"):
        if impl.plugin_name != plugin:
            continue
        return _call_handler(platform, impl, delivered, site, plugin)
    # Disabled on that site since, or uninstalled: nobody is left to deliver to.
    return None


def _call_handler(
    platform: Platform, impl: pluggy.HookImpl, event: Event, site: SiteContext, plugin: str
) -> str | None:
    arguments = {"event": event, "site": site}
    last: Exception | None = None
    for _attempt in range(MAX_ATTEMPTS):
        try:
            impl.function(**{name: arguments[name] for name in impl.argnames})
            return None
        except Exception as error:
            last = error
    platform.plugin_faults[plugin] += 1
    return f"{type(last).__name__}: {last}"
