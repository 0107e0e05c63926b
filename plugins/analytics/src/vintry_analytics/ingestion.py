"""Ingestion of a dealer's batch of tracked events at one site.

Each event is validated on its own and either stored or reported back with a stable code,
the field at fault and a message; one bad event never refuses the others. A batch larger
than the site's ``max_batch_events`` is refused whole (422 ``batch_too_large``). The rate
limit is a counter per dealer and clock minute in the site's database, consumed with the
events in the same transaction: events past the budget are rejected ``rate_limited``.
Events carrying a client ``id`` are idempotent: sending the same id again (a retried batch)
stores nothing and reports the event under ``duplicates``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from vintry.errors import InvalidInput
from vintry.sites.read_models import SiteCatalogItem
from vintry_sdk import SiteContext

from vintry_analytics.config import AnalyticsSettings
from vintry_analytics.models import BehaviourEvent, RateWindow
from vintry_analytics.schemas import IngestReport, RateLimitOut, Rejection
from vintry_analytics.storage import epoch_ms, from_epoch_ms, insert_ignoring_duplicates, lock_row
from vintry_analytics.vocabulary import SPECS, EventType

MINUTE_MS = 60_000


class ClientEvent(BaseModel):
    """One event as a dealer's session sends it."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="The client's own id; resending it is harmless.",
    )
    type: str = Field(min_length=1, max_length=32)
    session: str = Field(min_length=1, max_length=64)
    occurred_at: AwareDatetime
    sku: str | None = Field(default=None, min_length=1, max_length=32)
    dealer: str | None = Field(
        default=None, max_length=32, description="Optional; must be the caller's own dealer."
    )
    properties: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class _Accepted:
    index: int
    event: ClientEvent
    properties: BaseModel


def _code_of(error_type: str) -> str:
    if error_type == "extra_forbidden":
        return "unknown_field"
    if error_type == "missing":
        return "missing_field"
    return "invalid_value"


def _rejection(index: int, raw: Any, code: str, field: str | None, message: str) -> Rejection:
    event_id = raw.get("id") if isinstance(raw, dict) else None
    return Rejection(
        index=index,
        id=event_id if isinstance(event_id, str) else None,
        code=code,
        field=field,
        message=message,
    )


def _validate_one(
    index: int,
    raw: Any,
    *,
    dealer: str,
    now: datetime,
    settings: AnalyticsSettings,
    offered: set[str],
) -> _Accepted | Rejection:
    prefix = f"events.{index}"
    if not isinstance(raw, dict):
        return _rejection(index, raw, "invalid_value", prefix, "an event is a JSON object")
    try:
        event = ClientEvent.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join([prefix, *(str(part) for part in first["loc"])])
        return _rejection(index, raw, _code_of(first["type"]), field, first["msg"])
    try:
        spec = SPECS[EventType(event.type)]
    except ValueError:
        return _rejection(
            index, raw, "unknown_type", f"{prefix}.type", f"{event.type!r} is not a registered type"
        )
    if not spec.client:
        return _rejection(
            index,
            raw,
            "server_only_type",
            f"{prefix}.type",
            f"{event.type!r} is recorded by the platform and cannot be sent",
        )
    if event.dealer is not None and event.dealer != dealer:
        return _rejection(
            index,
            raw,
            "dealer_mismatch",
            f"{prefix}.dealer",
            "a dealer sends only its own events",
        )
    if spec.sku and event.sku is None:
        return _rejection(
            index, raw, "sku_required", f"{prefix}.sku", f"a {event.type} event names a SKU"
        )
    if not spec.sku and event.sku is not None:
        return _rejection(
            index, raw, "sku_not_allowed", f"{prefix}.sku", f"a {event.type} event names no SKU"
        )
    if event.sku is not None and event.sku not in offered:
        return _rejection(
            index, raw, "unknown_sku", f"{prefix}.sku", f"SKU {event.sku!r} is not offered here"
        )
    if event.occurred_at < now - timedelta(hours=settings.max_event_age_hours):
        return _rejection(
            index,
            raw,
            "too_old",
            f"{prefix}.occurred_at",
            f"events older than {settings.max_event_age_hours} h are not accepted",
        )
    if event.occurred_at > now + timedelta(seconds=settings.max_clock_skew_seconds):
        return _rejection(
            index, raw, "in_future", f"{prefix}.occurred_at", "the event is stamped in the future"
        )
    size = len(json.dumps(event.properties, separators=(",", ":"), ensure_ascii=False))
    if size > settings.max_properties_bytes:
        return _rejection(
            index,
            raw,
            "properties_too_large",
            f"{prefix}.properties",
            f"properties take {size} bytes; at most {settings.max_properties_bytes}",
        )
    try:
        properties = spec.properties.model_validate(event.properties)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join([prefix, "properties", *(str(part) for part in first["loc"])])
        return _rejection(index, raw, _code_of(first["type"]), field, first["msg"])
    return _Accepted(index, event, properties)


def _uid(dealer: str, event_id: str | None) -> str | None:
    return None if event_id is None else f"c:{dealer}:{event_id}"


def _consume_budget(
    session: Session, dealer: str, window_start_ms: int, wanted: int, limit: int
) -> tuple[int, int]:
    """Take up to *wanted* units of the dealer's minute; return (granted, used after)."""
    insert_ignoring_duplicates(
        session,
        RateWindow,
        [{"dealer": dealer, "window_start_ms": window_start_ms, "used": 0}],
        ["dealer", "window_start_ms"],
    )
    row = lock_row(
        session,
        select(RateWindow).where(
            RateWindow.dealer == dealer, RateWindow.window_start_ms == window_start_ms
        ),
    )
    granted = max(0, min(wanted, limit - row.used))
    row.used += granted
    return granted, row.used


def ingest_batch(
    site: SiteContext,
    dealer: str,
    raw_events: Sequence[Any],
    *,
    settings: AnalyticsSettings,
    now: datetime,
) -> IngestReport:
    """Validate and store a dealer's batch at *site*; report what was refused and why."""
    if len(raw_events) > settings.max_batch_events:
        raise InvalidInput(
            f"a batch carries at most {settings.max_batch_events} events, not {len(raw_events)}",
            code="batch_too_large",
            field="events",
            details={"limit": settings.max_batch_events, "received": len(raw_events)},
        )
    now_ms = epoch_ms(now)
    window_start_ms = now_ms - now_ms % MINUTE_MS
    rejected: list[Rejection] = []
    duplicates: list[int] = []
    with site.database.transaction() as session:
        wanted_skus = {
            raw["sku"]
            for raw in raw_events
            if isinstance(raw, dict) and isinstance(raw.get("sku"), str)
        }
        offered = set(
            session.scalars(
                select(SiteCatalogItem.sku).where(
                    SiteCatalogItem.sku.in_(sorted(wanted_skus)), SiteCatalogItem.offered.is_(True)
                )
            )
        )
        valid: list[_Accepted] = []
        seen_ids: set[str] = set()
        for index, raw in enumerate(raw_events):
            outcome = _validate_one(
                index, raw, dealer=dealer, now=now, settings=settings, offered=offered
            )
            if isinstance(outcome, Rejection):
                rejected.append(outcome)
                continue
            if outcome.event.id is not None:
                if outcome.event.id in seen_ids:
                    rejected.append(
                        _rejection(
                            index,
                            raw,
                            "duplicate_in_batch",
                            f"events.{index}.id",
                            "the same id appears earlier in this batch",
                        )
                    )
                    continue
                seen_ids.add(outcome.event.id)
            valid.append(outcome)
        granted, used = _consume_budget(
            session, dealer, window_start_ms, len(valid), settings.rate_limit_per_minute
        )
        for late in valid[granted:]:
            rejected.append(
                _rejection(
                    late.index,
                    raw_events[late.index],
                    "rate_limited",
                    f"events.{late.index}",
                    f"more than {settings.rate_limit_per_minute} events this minute",
                )
            )
        kept = valid[:granted]
        uids = [uid for uid in (_uid(dealer, item.event.id) for item in kept) if uid is not None]
        existing = (
            set(session.scalars(select(BehaviourEvent.uid).where(BehaviourEvent.uid.in_(uids))))
            if uids
            else set()
        )
        rows: list[dict[str, Any]] = []
        for item in kept:
            uid = _uid(dealer, item.event.id)
            if uid is not None and uid in existing:
                duplicates.append(item.index)
                continue
            properties = item.properties.model_dump(mode="json", exclude_none=True)
            rows.append(
                {
                    "uid": uid,
                    "dealer": dealer,
                    "session": item.event.session,
                    "type": item.event.type,
                    "sku": item.event.sku,
                    "occurred_ms": epoch_ms(item.event.occurred_at),
                    "received_at": now,
                    "source": "client",
                    "dwell_ms": properties.get("dwell_ms"),
                    "quantity": properties.get("quantity"),
                    "amount_fen": None,
                    "reference": properties.get("campaign"),
                    "properties": properties,
                }
            )
        stored = insert_ignoring_duplicates(session, BehaviourEvent, rows, ["uid"]) if rows else 0
    rejected.sort(key=lambda rejection: rejection.index)
    return IngestReport(
        received=len(raw_events),
        accepted=stored,
        duplicates=sorted(duplicates),
        rejected=rejected,
        rate_limit=RateLimitOut(
            limit=settings.rate_limit_per_minute,
            remaining=max(0, settings.rate_limit_per_minute - used),
            resets_at=from_epoch_ms(window_start_ms + MINUTE_MS),
        ),
    )
