"""Routes registered flat, and found through an index of their static path prefixes.

FastAPI (0.165) keeps an included router as one opaque entry of the app's routes: a request
is matched against every route of every router before it, each match setting and restoring
scope keys, and the chosen router's routes are matched a second time to dispatch. With the
kernel's ~130 routes and the plugins' behind them, a plugin's route paid ~0.2–0.35 ms of CPU
for routing alone — a third of what a flash-sale attempt may cost in all.

So the app registers every route of every router directly (:func:`add_routes`, what
``include_router`` did in earlier FastAPI versions: the same path, dependencies, responses
and route class, so the OpenAPI document is unchanged — a test compares them), and puts one
:class:`RouteIndex` in front of them. The index sends a request only to the routes whose
static path prefix it could match, in registration order, so it picks exactly the route the
sequential scan would pick, after a handful of dictionary lookups. The flat routes stay in
``app.routes`` behind it: OpenAPI, ``url_path_for`` and the route-permission checks see them
as before, and a path the index does not match (a 404) falls through to the full scan.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.params import Depends
from fastapi.routing import APIRoute, APIRouter
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

PREFIX_SEGMENTS = 4
"""How many leading path segments the index keys on (fewer when a segment is a parameter)."""

_COPIED = [
    name
    for name in inspect.signature(APIRouter.add_api_route).parameters
    if name not in {"self", "path", "endpoint", "dependencies", "responses", "route_class_override"}
]


def add_routes(
    app: FastAPI,
    router: APIRouter,
    *,
    prefix: str = "",
    dependencies: Sequence[Depends] = (),
) -> None:
    """Register every route of *router* on *app* itself, under *prefix*, with
    *dependencies* run before each route's own (``include_router`` semantics)."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"{route!r} of {router!r} is not an API route")
        settings = {name: getattr(route, name) for name in _COPIED if hasattr(route, name)}
        app.router.add_api_route(
            prefix + route.path,
            route.endpoint,
            dependencies=[*dependencies, *route.dependencies],
            responses={**app.router.responses, **(route.responses or {})},
            route_class_override=type(route),
            **settings,
        )


def _static_prefix(path: str) -> tuple[str, ...]:
    """The leading literal segments of route *path* (at most :data:`PREFIX_SEGMENTS`)."""
    found: list[str] = []
    for segment in path.split("/")[1 : PREFIX_SEGMENTS + 1]:
        if "{" in segment:
            break
        found.append(segment)
    return tuple(found)


def _route_path(scope: Scope) -> str:
    """The path routes match against: the request path below the app's ``root_path``
    (what Starlette's routes match, as its ``get_route_path`` computes it)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    return path[len(root_path) :] if path[len(root_path)] == "/" else path


class RouteIndex(BaseRoute):
    """Matches a request against only the routes its path could reach (see module doc)."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._by_prefix: dict[tuple[str, ...], list[tuple[int, BaseRoute]]] = {}
        for position, route in enumerate(routes):
            # Routes of unknown shape (mounts, hosts) could match any path: key () is
            # looked up for every request.
            key = _static_prefix(route.path) if isinstance(route, Route) else ()
            self._by_prefix.setdefault(key, []).append((position, route))

    def candidates(self, path: str) -> list[BaseRoute]:
        """The routes that could match *path*, in registration order."""
        segments = path.split("/")[1 : PREFIX_SEGMENTS + 1]
        found: list[tuple[int, BaseRoute]] = []
        for length in range(len(segments) + 1):
            group = self._by_prefix.get(tuple(segments[:length]))
            if group:
                found.extend(group)
        found.sort(key=lambda item: item[0])
        return [route for _, route in found]

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """The first full match among the candidates, else the first partial one (a 405);
        the chosen route travels in the child scope's ``route``."""
        if scope["type"] != "http":
            return Match.NONE, {}
        partial: tuple[Match, Scope] | None = None
        for route in self.candidates(_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                child_scope["vintry.route"] = route
                return match, child_scope
            if match is Match.PARTIAL and partial is None:
                child_scope["vintry.route"] = route
                partial = (match, child_scope)
        return partial if partial is not None else (Match.NONE, {})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand the request to the route :meth:`matches` chose."""
        route: BaseRoute = scope["vintry.route"]
        await route.handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        """Reverse routing is answered by the routes themselves, behind the index."""
        from starlette.routing import NoMatchFound

        raise NoMatchFound(name, path_params)


def index_routes(app: FastAPI) -> None:
    """Put a :class:`RouteIndex` of every route registered so far in front of them."""
    routes = app.router.routes
    routes[:] = [route for route in routes if not isinstance(route, RouteIndex)]
    routes.insert(0, RouteIndex(list(routes)))
