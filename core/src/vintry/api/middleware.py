"""Pure ASGI middleware: request ids, body limits, and which site a request is for."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import MutableMapping
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vintry.api.errors import error_response, unexpected_error_response
from vintry.context import current_request_id

log = logging.getLogger("vintry.access")

SITE_SCOPE_KEY = "vintry.site"
HOST_SCOPE_KEY = "vintry.host"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_SITE_PREFIX = re.compile(r"^/sites/([^/]+)(/.*)?$")
_SITE_CODE = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"^(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]+\])(?::(\d{{1,5}}))?$")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


class RequestIdMiddleware:
    """Give every request an id (or keep a well-formed incoming ``X-Request-ID``), put it
    in the log context and the response headers, and log one access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = (_header(scope, b"x-request-id") or b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = current_request_id.set(request_id)
        started = time.perf_counter()
        status = 500
        status_sent = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, status_sent
            if message["type"] == "http.response.start":
                status, status_sent = message["status"], True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            # Answered (and logged) here, inside the request id's context, rather than by
            # Starlette's outermost ServerErrorMiddleware, which runs after the id is reset
            # and sends past send_with_id: its 500 would carry no request id anywhere.
            if status_sent:
                raise
            await unexpected_error_response(error)(scope, receive, send_with_id)
        finally:
            log.info(
                "%s %s %s %.1fms",
                scope.get("method"),
                scope.get("path"),
                status,
                (time.perf_counter() - started) * 1000,
            )
            current_request_id.reset(token)


class _BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive``; an HTTPException so the framework passes it through."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body exceeds {max_bytes} bytes")


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413, by header or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await self._refuse(
                    scope,
                    receive,
                    send,
                    400,
                    "invalid_content_length",
                    "Content-Length is not a number",
                )
                return
            if int(declared) > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if started:
                raise
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._refuse(
            scope,
            receive,
            send,
            413,
            "payload_too_large",
            f"the request body exceeds {self.max_bytes} bytes",
        )

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str
    ) -> None:
        response = error_response(status, code, message, field="body")
        await response(scope, receive, send)


class SiteRoutingMiddleware:
    """Work out which site a request addresses.

    ``/sites/<code>/...`` (for local use) names the site and is stripped from the path;
    otherwise the ``Host`` header is kept for lookup against site domains. A malformed
    ``Host`` is refused here with 400 ``invalid_host``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_host = _header(scope, b"host")
        host: str | None = None
        if raw_host is not None:
            try:
                text = raw_host.decode("ascii")
            except UnicodeDecodeError:
                text = None
            match = _HOST.match(text) if text is not None and len(text) <= 260 else None
            port = match.group(1) if match else None
            if match is None or (port is not None and not 0 < int(port) < 65536):
                response = error_response(
                    400, "invalid_host", "the Host header is malformed", field="header.host"
                )
                await response(scope, receive, send)
                return
            assert text is not None
            host = text.rsplit(":", 1)[0] if port else text
            host = host.lower().rstrip(".")
        scope[HOST_SCOPE_KEY] = host
        path: str = scope.get("path", "")
        prefixed = _SITE_PREFIX.match(path)
        if prefixed is not None:
            code, rest = prefixed.group(1), prefixed.group(2) or "/"
            if not _SITE_CODE.match(code):
                response = error_response(
                    404, "site_not_found", f"site {code!r} does not exist", field="site"
                )
                await response(scope, receive, send)
                return
            scope = dict(scope)
            scope[SITE_SCOPE_KEY] = code
            scope["path"] = rest
            scope["raw_path"] = rest.encode()
        await self.app(scope, receive, send)


def site_hint(scope: MutableMapping[str, Any]) -> tuple[str | None, str | None]:
    """The site code from the path prefix (if any) and the request's host name."""
    return scope.get(SITE_SCOPE_KEY), scope.get(HOST_SCOPE_KEY)
