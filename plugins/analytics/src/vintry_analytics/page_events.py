"""Block impressions and clicks of sites' home pages, recorded as behaviour events.

The kernel checks each batch against the page version the dealer was shown and hands the
accepted events to ``vintry_record_page_events`` on sites where the plugin is enabled; they
become ``block_impression`` / ``block_click`` rows of ``analytics_events``, with the page,
version, block and block type in ``properties`` and the clicked SKU in ``sku`` — so a
funnel can start at a block (``block_click`` → ``add_to_cart`` → ``order_placed``). A row's
``uid`` is made of what the event says, so a batch sent twice is stored once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from vintry_sdk import PageEvent, SiteContext

from vintry_analytics.models import BehaviourEvent
from vintry_analytics.storage import epoch_ms, insert_ignoring_duplicates
from vintry_analytics.vocabulary import EventType

_TYPES = {"impression": EventType.BLOCK_IMPRESSION, "click": EventType.BLOCK_CLICK}


def _row(event: PageEvent, received_at: Any) -> dict[str, Any]:
    occurred_ms = epoch_ms(event.occurred_at)
    type_ = _TYPES[event.kind]
    said = "\x1f".join(
        (
            event.dealer or "-",
            event.session or "-",
            str(occurred_ms),
            event.page,
            event.block,
            type_.value,
            event.sku or "-",
        )
    )
    return {
        "uid": "p:" + hashlib.sha1(said.encode()).hexdigest(),
        "dealer": event.dealer,
        "session": event.session,
        "type": type_.value,
        "sku": event.sku,
        "occurred_ms": occurred_ms,
        "received_at": received_at,
        "source": "page",
        "dwell_ms": None,
        "quantity": None,
        "amount_fen": None,
        "reference": None,
        "properties": {
            "page": event.page,
            "version": event.version,
            "block": event.block,
            "block_type": event.block_type,
        },
    }


def record_page_events(events: Sequence[PageEvent], site: SiteContext) -> int:
    """Store *events* of *site*'s pages (those of dealers only); return how many were new."""
    now = site.platform.clock.now()
    rows = [_row(event, now) for event in events if event.dealer is not None]
    if not rows:
        return 0
    with site.database.transaction() as session:
        return insert_ignoring_duplicates(session, BehaviourEvent, rows, ["uid"])
