"""The one error model of the API, and the one place exceptions become responses.

Every error response has the body::

    {"error": {"code": "...", "message": "...", "field": "body.tier" | null,
               "request_id": "...", "details": {...}}}

``code`` is stable and machine-readable; ``message`` is for people; ``field`` names the
offending input where there is one. Validation failures also list every problem in
``details.errors``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from vintry.context import current_request_id
from vintry.errors import Unauthenticated, VintryError

log = logging.getLogger("vintry.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class ErrorDetail(BaseModel):
    """The content of an error response."""

    code: str
    message: str
    field: str | None = None
    request_id: str | None = None
    details: dict[str, Any] = {}


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx body."""

    error: ErrorDetail


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Build an error response in the one model."""
    body = ErrorResponse(
        error=ErrorDetail(
            code=code,
            message=message,
            field=field,
            request_id=current_request_id.get(),
            details=details or {},
        )
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _field_of(location: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in location)


def _validation_code(error_type: str) -> str:
    if error_type == "extra_forbidden":
        return "unknown_field"
    if error_type == "missing":
        return "missing_field"
    if error_type == "json_invalid":
        return "invalid_json"
    return "invalid_value"


async def _on_vintry_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, VintryError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, Unauthenticated) else None
    return error_response(
        error.status_code,
        error.code,
        error.message,
        field=error.field,
        details=error.details,
        headers=headers,
    )


async def _on_validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [
        {
            "field": _field_of(item.get("loc", ())),
            "code": _validation_code(item.get("type", "")),
            "message": item.get("msg", "invalid"),
        }
        for item in error.errors()
    ]
    first = (
        problems[0] if problems else {"field": None, "code": "invalid_value", "message": "invalid"}
    )
    if first["code"] == "invalid_json":
        return error_response(
            400,
            "invalid_json",
            "the request body is not valid JSON",
            field="body",
            details={"errors": problems},
        )
    return error_response(
        422,
        "validation_failed",
        f"{first['field']}: {first['message']}",
        field=first["field"],
        details={"errors": problems},
    )


async def _on_http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = _HTTP_CODES.get(error.status_code, "http_error")
    message = error.detail if isinstance(error.detail, str) else code.replace("_", " ")
    return error_response(error.status_code, code, message, headers=getattr(error, "headers", None))


def unexpected_error_response(error: BaseException) -> JSONResponse:
    """Log *error* with its traceback and answer 500 without revealing anything of it."""
    log.exception("unhandled error", exc_info=error)
    return error_response(500, "internal_error", "an unexpected error occurred; it was logged")


async def _on_unexpected(_request: Request, error: Exception) -> JSONResponse:
    return unexpected_error_response(error)


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception the API can meet to the error model."""
    app.add_exception_handler(VintryError, _on_vintry_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
