"""The one exception hierarchy of the kernel.

Services raise these; ``vintry.api.errors`` maps them to HTTP responses in one place.
Every error carries a stable machine-readable ``code``, a human ``message`` and, where one
input is at fault, the ``field`` that names it (a dotted path such as ``body.tier``).
"""

from __future__ import annotations

from typing import Any


class VintryError(Exception):
    """Base of every error the kernel raises on purpose."""

    status_code: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field
        self.details = details or {}


class InvalidInput(VintryError):
    """The request is well formed but a value in it is not acceptable."""

    status_code = 422
    code = "invalid_input"


class NotFound(VintryError):
    """The object does not exist, or lies outside the caller's tenant."""

    status_code = 404
    code = "not_found"


class Unauthenticated(VintryError):
    """No valid credentials: missing, unknown, expired or revoked token."""

    status_code = 401
    code = "unauthenticated"


class PermissionDenied(VintryError):
    """The caller may see the object but lacks the permission the action needs."""

    status_code = 403
    code = "permission_denied"


class Conflict(VintryError):
    """The change contradicts the current state (a duplicate code, a busy key)."""

    status_code = 409
    code = "conflict"


class BadRequest(VintryError):
    """The request itself is malformed (a bad Host header, say)."""

    status_code = 400
    code = "bad_request"


class PayloadTooLarge(VintryError):
    """The request body exceeds the configured limit."""

    status_code = 413
    code = "payload_too_large"


class ServiceUnavailable(VintryError):
    """A dependency (a database) does not answer."""

    status_code = 503
    code = "service_unavailable"
