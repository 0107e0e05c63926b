"""Idempotency keys: the record is written before any work; retries get the first answer.

``begin`` inserts an *in progress* record in its own transaction, so a concurrent duplicate
sees it at once. The work then completes the record **in the same transaction** as its
effect (the order), storing the exact response bytes. A duplicate that finds the record in
progress waits (bounded) for it, then answers 409 ``idempotency_in_progress``; the same key
with another body is refused with 422 ``idempotency_key_reused``. A record whose lease ran
out (its process died) is taken over by the next retry, so a crash never blocks a key.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vintry.errors import Conflict, InvalidInput
from vintry.orders.models import IdempotencyRecord, IdempotencyStatus
from vintry.platform import Platform

KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
LEASE = timedelta(seconds=60)
WAIT_SECONDS = 5.0
_POLL_SECONDS = 0.02


@dataclass(frozen=True)
class StoredResponse:
    """A response as first sent: replayed byte for byte."""

    status: int
    body: bytes


@dataclass(frozen=True)
class Begun:
    """The caller owns the key and must complete (or abandon) record *record_id*."""

    record_id: int


def request_hash(payload: bytes) -> str:
    """The fingerprint of a request body that a key is bound to."""
    return hashlib.sha256(payload).hexdigest()


def check_key(key: str | None) -> str:
    """The key, or 422 naming the header when it is missing or malformed."""
    if key is None:
        raise InvalidInput(
            "placing an order needs an Idempotency-Key header",
            code="idempotency_key_required",
            field="header.idempotency-key",
        )
    if not KEY_PATTERN.match(key):
        raise InvalidInput(
            "Idempotency-Key has 1-128 characters of A-Z a-z 0-9 . _ : -",
            code="invalid_idempotency_key",
            field="header.idempotency-key",
        )
    return key


def begin(
    platform: Platform,
    *,
    scope: str,
    key: str,
    fingerprint: str,
    wait_seconds: float = WAIT_SECONDS,
) -> Begun | StoredResponse:
    """Claim *key* in *scope*, or return the stored response of the request that did."""
    deadline = time.monotonic() + wait_seconds
    while True:
        now = platform.clock.now()
        try:
            with platform.hq.transaction() as session:
                record = IdempotencyRecord(
                    scope=scope,
                    key=key,
                    request_hash=fingerprint,
                    status=IdempotencyStatus.IN_PROGRESS.value,
                    response_status=None,
                    response_body=None,
                    created_at=now,
                    lease_until=now + LEASE,
                    completed_at=None,
                )
                session.add(record)
                session.flush()
                return Begun(record.id)
        except IntegrityError:
            pass
        with platform.hq.reading() as session:
            existing = session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
                )
            )
        if existing is None:  # abandoned between our insert and our read: try again
            continue
        if existing.request_hash != fingerprint:
            raise InvalidInput(
                "this Idempotency-Key was used with a different request body",
                code="idempotency_key_reused",
                field="header.idempotency-key",
            )
        if existing.status == IdempotencyStatus.COMPLETED.value:
            assert existing.response_status is not None and existing.response_body is not None
            return StoredResponse(existing.response_status, bytes(existing.response_body))
        if existing.lease_until <= now and _take_over(platform, existing, now):
            return Begun(existing.id)
        if time.monotonic() >= deadline:
            raise Conflict(
                "a request with this Idempotency-Key is still being processed; retry shortly",
                code="idempotency_in_progress",
                field="header.idempotency-key",
            )
        time.sleep(_POLL_SECONDS)  # another request holds the key: poll, bounded


def _take_over(platform: Platform, record: IdempotencyRecord, now: object) -> bool:
    with platform.hq.transaction() as session:
        result = session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.id == record.id,
                IdempotencyRecord.status == IdempotencyStatus.IN_PROGRESS.value,
                IdempotencyRecord.lease_until == record.lease_until,
            )
            .values(lease_until=platform.clock.now() + LEASE)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def complete(session: Session, record_id: int, response: StoredResponse, *, now: object) -> None:
    """Store the response, in the caller's transaction (the one that made the effect)."""
    session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == record_id)
        .values(
            status=IdempotencyStatus.COMPLETED.value,
            response_status=response.status,
            response_body=response.body,
            completed_at=now,
        )
    )


def abandon(platform: Platform, record_id: int) -> None:
    """Forget a record whose work failed unexpectedly, so the client may retry."""
    with platform.hq.transaction() as session:
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
