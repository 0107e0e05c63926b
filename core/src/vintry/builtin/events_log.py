"""Built-in plugin: every delivered event goes to the ``vintry.events`` log."""

from __future__ import annotations

import logging

from vintry.contracts import Event
from vintry.hookspecs import hookimpl
from vintry.platform import SiteContext

log = logging.getLogger("vintry.events")


@hookimpl
def vintry_handle_event(event: Event, site: SiteContext) -> None:
    """Log the event with its site, so operators can follow what happened."""
    log.info("event %s %s at %s: %s", event.id, event.type, site.code, event.payload)
