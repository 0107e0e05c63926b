"""Writing and reading the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vintry.accounts.principal import Actor
from vintry.audit.models import AuditEntry
from vintry.context import current_request_id


def record_change(
    session: Session,
    *,
    at: datetime,
    site_id: int,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (so it commits with the change)."""
    entry = AuditEntry(
        at=at,
        site_id=site_id,
        actor_user_id=actor.user_id,
        actor=actor.name,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        request_id=current_request_id.get(),
    )
    session.add(entry)
    return entry


def list_entries(
    session: Session,
    *,
    site_ids: Sequence[int],
    object_type: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Newest entries first for the given sites, paged by ``before_id``."""
    query = select(AuditEntry).where(AuditEntry.site_id.in_(site_ids))
    if object_type:
        query = query.where(AuditEntry.object_type == object_type)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)))
