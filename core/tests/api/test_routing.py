"""The route index picks exactly the route a sequential scan picks; flat registration
serves the same API (the same OpenAPI document) as including the routers."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Match
from vintry.api.app import create_app
from vintry.api.routing import RouteIndex
from vintry.api.security import require_plugin_enabled
from vintry.platform import Platform

_PARAMETER = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


def _scan(routes: list[Any], scope: dict[str, Any]) -> tuple[Match, Any]:
    """What Starlette's router does: the first full match, else the first partial one."""
    partial = None
    for route in routes:
        match, _child = route.matches(scope)
        if match is Match.FULL:
            return match, route
        if match is Match.PARTIAL and partial is None:
            partial = (match, route)
    return partial if partial is not None else (Match.NONE, None)


def _scope(path: str, method: str, root_path: str = "") -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": root_path + path,
        "root_path": root_path,
        "headers": [],
    }


def _probe_paths(app: FastAPI) -> list[str]:
    paths = {"/", "/nothing", "/api", "/api/v1", "/api/v1/x", "/api/v1/x/nothing/here"}
    for route in app.routes:
        if isinstance(route, APIRoute):
            paths.add(_PARAMETER.sub("VALUE-1", route.path))
            paths.add(_PARAMETER.sub("12", route.path) + "/extra")
            paths.add(route.path.rsplit("/", 1)[0] or "/")
    return sorted(paths)


def test_the_index_picks_what_the_scan_picks(vintry_platform: Platform) -> None:
    app = create_app(vintry_platform)
    index, behind = app.routes[0], app.routes[1:]
    assert isinstance(index, RouteIndex)
    checked = 0
    probes = [(path, "") for path in _probe_paths(app)]
    probes += [(path, "/mall") for path in ("/health/live", "/api/v1/site", "/")]
    for path, root_path in probes:
        for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            scope = _scope(path, method, root_path)
            expected_match, expected_route = _scan(behind, dict(scope))
            match, child = index.matches(dict(scope))
            assert match is expected_match, (method, path)
            if match is not Match.NONE:
                assert child["vintry.route"] is expected_route, (method, path)
            checked += 1
    assert checked > 500


def test_flat_registration_serves_the_same_openapi(vintry_platform: Platform) -> None:
    served = create_app(vintry_platform)
    included = FastAPI(
        title=served.title,
        version=served.version,
        description=served.description,
        responses=served.router.responses,
    )
    from vintry.api import app as app_module

    for router in app_module.kernel_routers():
        included.include_router(router)
    for record in vintry_platform.plugins.loaded():
        for plugin_router in record.contribution.routers:
            included.include_router(
                plugin_router,
                prefix=f"/api/v1/x/{record.name}",
                dependencies=[Depends(require_plugin_enabled(record.name))],
            )
    assert served.openapi() == included.openapi()


def test_a_request_is_served_through_the_index(vintry_platform: Platform) -> None:
    from fastapi.testclient import TestClient

    with TestClient(create_app(vintry_platform)) as client:
        assert client.get("/health/live").status_code == 200
        assert client.post("/health/live").status_code == 405
        missing = client.get("/api/v1/no-such-thing")
        assert missing.status_code == 404
