"""Response bodies of the relay's routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class RelayStatusOut(BaseModel):
    """Where the relay stands."""

    consumer: str = Field(description="The relay consumer whose cursor this is.")
    cursor: int = Field(description="Every outbox event up to this id is settled.")
    outbox_max_id: int = Field(description="The outbox's highest event id.")
    lag: int = Field(description="outbox_max_id - cursor: events not settled yet.")
    dead_letters: int = Field(description="Unresolved dead letters of the addressed subtree.")
    updated_at: datetime | None = Field(description="When the cursor last moved.")


class DeadLetterOut(BaseModel):
    """An event a consumer failed to apply after repeated attempts."""

    id: int
    event_id: int
    type: str
    site: str = Field(description="The site the failure happened on.")
    consumer: str = Field(
        description="'site-read-models' (the read models) or 'plugin:<name>' (a plugin)."
    )
    error: str
    attempts: int
    failed_at: datetime
    resolved_at: datetime | None
    payload: dict[str, Any] = Field(description="The event's payload, as written.")
