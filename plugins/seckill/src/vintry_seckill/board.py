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
import threading
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
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

    def answer(self, request: Request, now: datetime) -> Response | None:
        """The sold-out answer for *request* if it may be given from memory, else None."""
        campaign = request.path_params.get("campaign")
        authorization = request.headers.get("authorization")
        if not isinstance(campaign, str) or not authorization:
            return None
        prefixed, host = site_hint(request.scope)
        with self._lock:
            site = prefixed if prefixed is not None else self._hosts.get(host or "")
            if site is None:
                return None
            caller = self._callers.get(_digest(authorization))
            if caller is None or caller[0] != site or caller[1] <= now:
                return None
            mark = self._marks.get((site, campaign))
            if mark is None or mark.until <= now:
                return None
        return JSONResponse(
            status_code=409,
            content={
                "error": {
                    "code": SOLD_OUT_CODE,
                    "message": f"flash sale {campaign!r} is sold out",
                    "field": "campaign",
                    "request_id": current_request_id.get(),
                    "details": {"remaining": 0, "quota": mark.quota},
                }
            },
        )


def _digest(authorization: str) -> bytes:
    # The board keeps a digest, never a token.
    return hashlib.sha256(authorization.encode()).digest()


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
    before the route's dependencies (authentication, the plugin gate) and before the body is
    read. Anything the board cannot answer goes to the normal handler."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler with the board's check."""
        handler = super().get_route_handler()

        async def shortcut(request: Request) -> Response:
            platform: Platform = request.app.state.platform
            answer = board_for(platform).answer(request, platform.clock.now())
            if answer is not None:
                return answer
            return await handler(request)

        return shortcut
