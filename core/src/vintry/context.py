"""Per-request context that reaches below the HTTP layer (logs, the audit log)."""

from __future__ import annotations

import logging
from contextvars import ContextVar

current_request_id: ContextVar[str | None] = ContextVar("vintry_request_id", default=None)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every log record ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get() or "-"
        return True
