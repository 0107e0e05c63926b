"""Writing HQ events to the transactional outbox.

Every HQ change that sites must learn about writes one event with :func:`record_event`, in
the *same transaction* as the change: both commit or neither does, so the relay
(:mod:`vintry.events.relay`) can never miss a committed change nor announce one that rolled
back. An event names *what* changed (a key) and *where* (the site it belongs to); the relay
reads the current HQ state of that key when it applies the event, so payloads stay small
and a late or repeated event does no harm.

=========================  ==========================================  ===================
type                       payload (keys the relay reads)              applies to
=========================  ==========================================  ===================
``catalog.changed``        ``sku``, ``skus`` or ``product`` (codes)    the site's subtree
``price.changed``          ``sku``                                     the site's subtree
``assortment.changed``     ``sku``                                     the site's subtree
``dealer.changed``         ``dealer``                                  the site
``order.placed``           ``number``                                  the site
``order.status_changed``   ``number``                                  the site
``return.status_changed``  ``order`` (the order's number), ``number``  the site
``shipment.status_changed`` ``number`` (the order's), ``shipment``     the site
``site.created``           (none)                                      the site (rebuilt)
=========================  ==========================================  ===================

Library changes (SKUs, products) are events of the root site; a site price or a hide is an
event of the site that set it. Other keys may ride along for plugins, which receive the
payload as it was written.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from vintry.orders.models import OutboxEvent


class EventType(enum.StrEnum):
    """The HQ events the relay knows how to apply to the site read models."""

    CATALOG_CHANGED = "catalog.changed"
    PRICE_CHANGED = "price.changed"
    ASSORTMENT_CHANGED = "assortment.changed"
    DEALER_CHANGED = "dealer.changed"
    ORDER_PLACED = "order.placed"
    ORDER_STATUS_CHANGED = "order.status_changed"
    RETURN_STATUS_CHANGED = "return.status_changed"
    SHIPMENT_STATUS_CHANGED = "shipment.status_changed"
    SITE_CREATED = "site.created"


SUBTREE_EVENTS = frozenset(
    {EventType.CATALOG_CHANGED, EventType.PRICE_CHANGED, EventType.ASSORTMENT_CHANGED}
)
"""Events whose effect is inherited: they apply to the site and every site below it."""

REQUIRED_KEYS: Mapping[EventType, tuple[str, ...]] = {
    EventType.CATALOG_CHANGED: ("sku", "skus", "product"),
    EventType.PRICE_CHANGED: ("sku",),
    EventType.ASSORTMENT_CHANGED: ("sku",),
    EventType.DEALER_CHANGED: ("dealer",),
    EventType.ORDER_PLACED: ("number",),
    EventType.ORDER_STATUS_CHANGED: ("number",),
    EventType.RETURN_STATUS_CHANGED: ("order",),
    EventType.SHIPMENT_STATUS_CHANGED: ("number",),
    EventType.SITE_CREATED: (),
}
"""For each type, the payload keys of which at least one must be present."""


def record_event(
    session: Session,
    *,
    type: str,
    site: str,
    payload: Mapping[str, Any],
    now: datetime,
) -> OutboxEvent:
    """Add an outbox event to *session*'s transaction; it commits with the change.

    Call it after writing the change itself, in the same HQ transaction. Nothing is flushed
    here, so the event costs one ``INSERT`` when the transaction flushes.

    :param session: the HQ session of the change's transaction.
    :param type: one of :class:`EventType`.
    :param site: code of the site the event belongs to (the root for library changes).
    :param payload: the changed key (see the module's table), JSON-serialisable.
    :param now: when the change happened (the platform clock's time), timezone-aware.
    :returns: the pending :class:`~vintry.orders.models.OutboxEvent` (its ``id`` is set
        once the session flushes).
    :raises ValueError: for an unknown type, an empty site, a payload without the key the
        relay needs, or a naive *now* — programming errors, caught by the change's tests.
    """
    event = OutboxEvent(**event_row(type=type, site=site, payload=payload, now=now))
    session.add(event)
    return event


def event_row(*, type: str, site: str, payload: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The outbox row of an event, checked as :func:`record_event` checks it; for callers
    that write many events in one ``INSERT`` (the batched order writer)."""
    try:
        kind = EventType(type)
    except ValueError:
        known = ", ".join(sorted(t.value for t in EventType))
        raise ValueError(f"unknown outbox event type {type!r}; known: {known}") from None
    if not site:
        raise ValueError("an outbox event needs the code of its site")
    required = REQUIRED_KEYS[kind]
    if required and not any(payload.get(key) for key in required):
        raise ValueError(f"a {kind.value} event needs one of {', '.join(required)} in its payload")
    if now.tzinfo is None:
        raise ValueError("an outbox event's time must be timezone-aware")
    return {"type": kind.value, "site": site, "payload": dict(payload), "created_at": now}
