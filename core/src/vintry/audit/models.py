"""Audit entries: who changed what, where, when, and the value before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from vintry.db.base import HQBase, JSONValue


class AuditEntry(HQBase):
    """One recorded change; append-only."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_site_at", "site_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(200))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    request_id: Mapped[str | None] = mapped_column(String(64))
