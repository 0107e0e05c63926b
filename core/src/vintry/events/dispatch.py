"""In-process delivery of events to the plugins enabled on the event's site.

Each plugin's handler runs on its own: an exception is retried a bounded number of times,
then logged and counted against the plugin; it never reaches the code that emitted the
event, and other plugins still get it. (The durable outbox and relay that make delivery
survive a crash arrive with HQ → site sync; this is the delivery step they will call.)
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from vintry.contracts import Event
from vintry.platform import Platform

log = logging.getLogger("vintry.events")
MAX_ATTEMPTS = 3


@dataclass
class DeliveryReport:
    """Which plugins handled an event and which gave up, with the last error."""

    event_id: str
    delivered: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def new_event(
    platform: Platform, type_: str, site: str, payload: dict[str, Any] | None = None
) -> Event:
    """An event stamped with a fresh id and the platform clock's time."""
    return Event(
        id=uuid.uuid4().hex,
        type=type_,
        site=site,
        occurred_at=platform.clock.now(),
        payload=payload or {},
    )


def deliver_event(
    platform: Platform, event: Event, *, attempts: int = MAX_ATTEMPTS
) -> DeliveryReport:
    """Call ``vintry_handle_event`` of every plugin enabled on ``event.site``, isolated."""
    report = DeliveryReport(event_id=event.id)
    site = platform.site(event.site)
    for impl in site.hooks.implementations("vintry_handle_event"):
        arguments = {"event": event, "site": site}
        last_error: BaseException | None = None
        for _ in range(attempts):
            try:
                impl.function(**{name: arguments[name] for name in impl.argnames})
                last_error = None
                break
            except Exception as error:
                last_error = error
        if last_error is None:
            report.delivered.append(impl.plugin_name)
            continue
        platform.plugin_faults[impl.plugin_name] += 1
        report.failed[impl.plugin_name] = f"{type(last_error).__name__}: {last_error}"
        log.error(
            "plugin %s failed on event %s (%s) after %d attempts: %s",
            impl.plugin_name,
            event.id,
            event.type,
            attempts,
            last_error,
            exc_info=last_error,
        )
    return report
