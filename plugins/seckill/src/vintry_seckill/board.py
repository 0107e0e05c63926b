"""Answering a sold-out flash sale from memory, before the request is even read.

When a sale runs out, thousands of dealers keep pressing the button. Each of those requests
would cost an authentication read in HQ, a read of the site database and the parsing of a
body, only to be told "sold out". A worker that has *seen* the counter at its quota marks
the sale on its :class:`SoldOutBoard`; until the mark lapses, an attempt on that sale by a
caller this worker recently authorised as a dealer of that site is answered 409
``seckill_sold_out`` by :class:`SoldOutShortcut` — a route class whose handler looks at the
path and the ``Authorization`` header and never touches a database or the body.

A mark lapses at the earliest moment the answer could stop being true: when the earliest
unordered hold of the sale could expire (its units would return to the quota), and at the
latest after the site's ``sold_out_recheck_seconds``, so an operator's change, a cancelled
order or the plugin being turned off are seen within that time. Callers the worker has not
authorised (or longer ago than :data:`CALLER_TTL`) take the normal path: the shortcut never
speaks to an anonymous caller or one outside the site's tenant.
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send
from vintry.api.middleware import site_hint
from vintry.context import current_request_id
from vintry_sdk import Platform

CALLER_TTL = timedelta(seconds=60)
"""How long a dealer's token, once authorised here for a site, may be answered from memory."""
SOLD_OUT_CODE = "seckill_sold_out"


@dataclass(frozen=True)
class _Mark:
    until: datetime
    quota: int


class SoldOutBoard:
    """Sales this worker saw sold out, and the callers it may answer from memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._marks: dict[tuple[str, str], _Mark] = {}
        self._callers: dict[bytes, tuple[str, datetime]] = {}
        self._hosts: dict[str, str] = {}

    def mark(self, site: str, campaign: str, *, until: datetime, quota: int) -> None:
        """Answer attempts on *campaign* at *site* from memory until *until*."""
        with self._lock:
            self._marks[(site, campaign)] = _Mark(until, quota)

    def clear(self, site: str, campaign: str | None = None) -> None:
        """Forget the mark of *campaign* at *site* (all of the site's when None)."""
        with self._lock:
            if campaign is not None:
                self._marks.pop((site, campaign), None)
                return
            for key in [key for key in self._marks if key[0] == site]:
                del self._marks[key]

    def is_marked(self, site: str, campaign: str, now: datetime) -> bool:
        """Whether *campaign* at *site* is marked sold out at *now*."""
        with self._lock:
            found = self._marks.get((site, campaign))
            if found is None:
                return False
            if found.until <= now:
                del self._marks[(site, campaign)]
                return False
            return True

    def remember_caller(
        self, authorization: str, site: str, host: str | None, now: datetime
    ) -> None:
        """*authorization* was just authorised as a dealer of *site* (reached through *host*)."""
        with self._lock:
            self._callers[_digest(authorization)] = (site, now + CALLER_TTL)
            if host:
                self._hosts[host] = site
            if len(self._callers) > 100_000:  # a bound, not a policy: drop the lapsed ones
                self._callers = {k: v for k, v in self._callers.items() if v[1] > now}

    def site_of(self, request: Request) -> str | None:
        """The site *request* addresses, as far as the path or a host this worker served
        tells (None: unknown before authentication)."""
        prefixed, host = site_hint(request.scope)
        if prefixed is not None:
            return prefixed
        with self._lock:
            return self._hosts.get(host or "")

    def answer(self, scope: Scope, now: datetime) -> bytes | None:
        """The body of the sold-out answer to the request of ASGI *scope* if it may be given
        from memory, else None."""
        campaign = scope.get("path_params", {}).get("campaign")
        authorization = _header(scope, b"authorization")
        if not isinstance(campaign, str) or not authorization:
            return None
        prefixed, host = site_hint(scope)
        digest = hashlib.sha256(authorization).digest()
        with self._lock:
            site = prefixed if prefixed is not None else self._hosts.get(host or "")
            if site is None:
                return None
            caller = self._callers.get(digest)
            if caller is None or caller[0] != site or caller[1] <= now:
                return None
            mark = self._marks.get((site, campaign))
            if mark is None or mark.until <= now:
                return None
        return json.dumps(
            {
                "error": {
                    "code": SOLD_OUT_CODE,
                    "message": f"flash sale {campaign!r} is sold out",
                    "field": "campaign",
                    "request_id": current_request_id.get(),
                    "details": {"remaining": 0, "quota": mark.quota},
                }
            },
            separators=(",", ":"),
        ).encode()


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def _digest(authorization: str) -> bytes:
    # The board keeps a digest, never a token.
    return hashlib.sha256(authorization.encode("latin-1")).digest()


_boards: weakref.WeakKeyDictionary[Platform, SoldOutBoard] = weakref.WeakKeyDictionary()
_boards_lock = threading.Lock()


def board_for(platform: Platform) -> SoldOutBoard:
    """The sold-out board of *platform* in this process."""
    found = _boards.get(platform)
    if found is None:
        with _boards_lock:
            found = _boards.setdefault(platform, SoldOutBoard())
    return found


class SoldOutShortcut(APIRoute):
    """A route that answers a sale this worker knows is sold out before anything else runs:
    before the route's dependencies (authentication, the plugin gate), before the body is
    read, before even a request object is made — at the ASGI level, from the path and the
    ``Authorization`` header. Anything the board cannot answer goes to the normal handler
    (through :meth:`serve`)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer from the board if it can; otherwise handle the request as FastAPI does."""
        if scope["type"] == "http" and scope["method"] == "POST":
            platform: Platform = scope["app"].state.platform
            body = board_for(platform).answer(scope, platform.clock.now())
            if body is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 409,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await super().handle(scope, receive, send)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, served through :meth:`serve`."""
        handler = super().get_route_handler()

        async def served(request: Request) -> Response:
            return await self.serve(request, handler)

        return served

    async def serve(
        self, request: Request, handler: Callable[[Request], Coroutine[Any, Any, Response]]
    ) -> Response:
        """Serve a request the board did not answer (a subclass may wrap it)."""
        return await handler(request)
