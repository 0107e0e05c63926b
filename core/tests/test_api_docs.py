"""The route reference (``docs/api.md``) stays true to the app.

Like ``test_hook_docs.py`` for the hooks: the app is built and its routes enumerated (as
the security route matrix does), and every route the kernel serves must have its row —
``| METHOD | `/path` | `permission` | description |`` — with the permission the route
declares and a description; no row may name a route the app does not serve, and none may
appear twice. Plugin routes (``/api/v1/x/<plugin>/...``) belong to the plugins' READMEs.
The checks are plain functions, tested on a broken document too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from vintry.api import create_app
from vintry.api.app import api_routes
from vintry.api.security import declared_permission
from vintry.platform import Platform
from vintry.settings import VintrySettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
PLUGIN_PREFIX = "/api/v1/x/"
ROW = re.compile(
    r"^\|\s*(?P<method>[A-Z]+)\s*\|\s*`(?P<path>/[^`]*)`\s*\|\s*`(?P<permission>[^`]+)`\s*\|"
    r"(?P<description>[^|]*)\|\s*$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class DocumentedRoute:
    """One row of the reference."""

    method: str
    path: str
    permission: str
    description: str


def served_routes(app: FastAPI) -> dict[tuple[str, str], str]:
    """``(method, path) -> permission`` of every kernel route *app* serves."""
    served: dict[tuple[str, str], str] = {}
    for route in api_routes(app):
        if route.path.startswith(PLUGIN_PREFIX):
            continue
        permission = declared_permission(route)
        for method in route.methods or ():
            if method != "HEAD":
                served[(method, route.path)] = str(getattr(permission, "value", permission))
    return served


def documented_routes(text: str) -> list[DocumentedRoute]:
    """The route rows of the reference, in document order."""
    return [
        DocumentedRoute(
            match["method"], match["path"], match["permission"], match["description"].strip()
        )
        for match in ROW.finditer(text)
    ]


def doc_problems(served: dict[tuple[str, str], str], rows: list[DocumentedRoute]) -> list[str]:
    """Everything that makes the reference disagree with the routes served."""
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for row in rows:
        key = (row.method, row.path)
        if key in seen:
            problems.append(f"{row.method} {row.path}: documented twice")
            continue
        seen.add(key)
        if key not in served:
            problems.append(f"{row.method} {row.path}: documented, but no such route is served")
            continue
        if row.permission != served[key]:
            problems.append(
                f"{row.method} {row.path}: documented with `{row.permission}`, "
                f"declares `{served[key]}`"
            )
        if not row.description:
            problems.append(f"{row.method} {row.path}: no description")
    for method, path in sorted(set(served) - seen, key=lambda key: (key[1], key[0])):
        problems.append(
            f"{method} {path}: undocumented (add | {method} | `{path}` | "
            f"`{served[(method, path)]}` | what it does |)"
        )
    return problems


def _app() -> FastAPI:
    """The app as it is built; building it touches no database."""
    unused = Path("/nonexistent/vintry-api-docs")
    settings = VintrySettings(
        data_dir=unused, hq_database_url=None, site_database_url=None, load_plugins=None
    )
    return create_app(Platform(settings))


def test_the_reference_lists_every_route_the_app_serves() -> None:
    served = served_routes(_app())
    assert ("GET", "/api/v1/orders/{number}") in served and ("GET", "/health/live") in served
    problems = doc_problems(served, documented_routes(DOC.read_text(encoding="utf-8")))
    assert problems == [], "docs/api.md is out of date:\n" + "\n".join(problems)


BROKEN_REFERENCE = """
| method | path | permission | description |
| --- | --- | --- | --- |
| GET | `/api/v1/site` | `sites:read` | The addressed site. |
| GET | `/api/v1/site` | `sites:read` | Again. |
| POST | `/api/v1/sites` | `sites:read` | The wrong permission. |
| GET | `/api/v1/sites/{code}` | `sites:read` | |
| GET | `/api/v1/nothing` | `public` | No such route. |
"""


def test_checks_report_every_kind_of_disagreement() -> None:
    served = {
        ("GET", "/api/v1/site"): "sites:read",
        ("POST", "/api/v1/sites"): "sites:create",
        ("GET", "/api/v1/sites/{code}"): "sites:read",
        ("PATCH", "/api/v1/sites/{code}"): "sites:update",
    }
    assert doc_problems(served, documented_routes(BROKEN_REFERENCE)) == [
        "GET /api/v1/site: documented twice",
        "POST /api/v1/sites: documented with `sites:read`, declares `sites:create`",
        "GET /api/v1/sites/{code}: no description",
        "GET /api/v1/nothing: documented, but no such route is served",
        "PATCH /api/v1/sites/{code}: undocumented "
        "(add | PATCH | `/api/v1/sites/{code}` | `sites:update` | what it does |)",
    ]
