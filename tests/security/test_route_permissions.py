"""The route matrix: every route of the API, called by every role, inside and outside its tenant.

ARCHITECTURE §5 (Tenancy): every route declares the permission it needs; outside the caller's
tenant the answer is 404, inside it without the permission 403, and HQ sees all. The routes
are enumerated from the app itself, so a new route is covered (or fails) without anyone
remembering to add it here: its path parameters must be fillable from ``PATH_FILLERS``
and it must declare a permission.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.testclient import TestClient
from vintry.accounts.models import Role
from vintry.accounts.permissions import DEALER_ACTS, ROLE_PERMISSIONS, Permission
from vintry.api import create_app
from vintry.api.app import api_routes, check_routes_declare_permissions
from vintry.api.security import PUBLIC, authorize, declared_permission, public
from vintry.platform import Platform
from vintry.settings import VintrySettings
from vintry_sdk.testing import VintryFactory

from .conftest import Caller, SecurityWorld

if TYPE_CHECKING:
    from httpx2 import Response  # what starlette's TestClient returns

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_PATH_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")

# Which kind of object each path parameter names, keyed "<segment before it>.<param>".
# A route with a parameter missing here fails the matrix: add a filler with the route.
PATH_FILLERS = frozenset(
    {"sites.code", "dealers.code", "users.username", "tokens.token_id", "plugins.name"}
    | {
        "brands.brand",
        "categories.category",
        "products.product",
        "skus.sku",
        "prices.sku",
        "floors.sku",
        "assortment.sku",
        "items.sku",
        "lines.sku",
    }
    | {"orders.number", "shipments.shipment", "returns.number"}
    | {"dead-letters.letter_id"}
    | {"campaigns.code", "campaign-types.type_name", "campaign-templates.template"}
    | {"sales.campaign"}
    | {"layouts.code", "page-blocks.type_name", "pages.page", "versions.number"}
    | {"page-templates.code"}
    | {"auctions.code", "lots.code", "deals.code", "groups.group"}
)


@dataclass(frozen=True)
class RouteCase:
    """One method of one API route."""

    method: str
    path: str
    public: bool

    @property
    def key(self) -> str:
        """``METHOD /path``, the test id."""
        return f"{self.method} {self.path}"


def _route_cases(app: FastAPI) -> list[RouteCase]:
    return sorted(
        (
            RouteCase(method, route.path, declared_permission(route) == PUBLIC)
            for route in api_routes(app)
            for method in route.methods or ()
            if method != "HEAD"
        ),
        key=lambda case: (case.path, case.method),
    )


def _collection_app() -> FastAPI:
    """The app as it is built, for enumerating routes before any database exists.

    Building it touches no database (engines open lazily), so the path is never created.
    """
    unused = Path("/nonexistent/vintry-route-enumeration")
    return create_app(
        Platform(
            VintrySettings(
                data_dir=unused, hq_database_url=None, site_database_url=None, load_plugins=None
            )
        )
    )


ROUTES = _route_cases(_collection_app())
ROUTE_IDS = [case.key for case in ROUTES]
PROTECTED_ROUTES = [case for case in ROUTES if not case.public]

# For the 401 checks: authentication comes before any lookup, so these need not exist.
UNAUTHENTICATED_FILLERS = {
    "sites.code": "hq",
    "dealers.code": "D-ANY",
    "users.username": "anyone",
    "tokens.token_id": "000000000000",
    "plugins.name": "any-plugin",
    "brands.brand": "ANY",
    "categories.category": "ANY",
    "products.product": "ANY",
    "skus.sku": "ANY",
    "prices.sku": "ANY",
    "floors.sku": "ANY",
    "assortment.sku": "ANY",
    "items.sku": "ANY",
    "lines.sku": "ANY",
    "orders.number": "VO-ANY",
    "shipments.shipment": "VS-ANY",
    "returns.number": "VR-ANY",
    "dead-letters.letter_id": "1",
    "campaigns.code": "ANY",
    "campaign-types.type_name": "any-type",
    "campaign-templates.template": "ANY",
    "sales.campaign": "ANY",
    "layouts.code": "ANY",
    "page-blocks.type_name": "any-type",
    "pages.page": "home",
    "versions.number": "1",
    "page-templates.code": "ANY",
    "auctions.code": "ANY",
    "lots.code": "ANY",
    "deals.code": "ANY",
    "groups.group": "ANY",
}


def _find_route(app: FastAPI, case: RouteCase) -> APIRoute:
    for route in api_routes(app):
        if route.path == case.path and case.method in (route.methods or ()):
            return route
    raise AssertionError(f"{case.key} is not a route of the app under test")


def _param_keys(path: str) -> list[tuple[str, str]]:
    """``(param, "<segment>.<param>")`` for each path parameter of *path*."""
    keys = []
    for match in _PATH_PARAM.finditer(path):
        segments = [s for s in path[: match.start()].split("/") if s]
        keys.append((match.group(1), f"{segments[-1] if segments else ''}.{match.group(1)}"))
    return keys


def _fill(case: RouteCase, values: dict[str, str]) -> str:
    path = case.path
    for param, key in _param_keys(case.path):
        if key not in PATH_FILLERS or key not in values:
            pytest.fail(
                f"{case.key}: no filler for path parameter {key!r}; add one to "
                "PATH_FILLERS and SecurityWorld.fillers so the route is checked"
            )
        path = re.sub(r"\{" + param + r"(?::\w+)?\}", values[key], path)
    return path


def _call(
    world: SecurityWorld, caller: Caller | None, site: str, case: RouteCase, path: str
) -> Response:
    return _send(world.client(caller, site), case, path)


def _send(client: TestClient, case: RouteCase, path: str) -> Response:
    """Call *case* at *path*, with an empty JSON object as the body of a write."""
    if case.method in BODY_METHODS:
        return client.request(case.method, path, json={})
    return client.request(case.method, path)


def _error(response: Response) -> dict[str, object]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    error = payload.get("error") if isinstance(payload, dict) else None
    return error if isinstance(error, dict) else {}


def _mismatch_outside(response: Response) -> str | None:
    code = str(_error(response).get("code", ""))
    if response.status_code == 404 and code.endswith("_not_found"):
        return None
    return f"expected 404 *_not_found, got {response.status_code} {code or response.text[:80]}"


def _mismatch_denied(response: Response) -> str | None:
    code = _error(response).get("code")
    if response.status_code == 403 and code == "permission_denied":
        return None
    got = f"{response.status_code} {code or response.text[:80]}"
    return f"expected 403 permission_denied, got {got}"


def _mismatch_served(response: Response) -> str | None:
    status = response.status_code
    if 200 <= status < 300:
        return None
    code = _error(response).get("code")
    # Past authorisation, a request the matrix sends bare may lack its inputs.
    if status == 422 and code in {"validation_failed", "idempotency_key_required"}:
        return None
    return f"expected 2xx (or 422 for the empty body), got {status} {code or response.text[:80]}"


def test_every_route_of_the_app_declares_a_permission_or_public(vintry_app: FastAPI) -> None:
    routes = api_routes(vintry_app)
    assert len(routes) >= 20, "the enumeration must reach routes of included routers"
    for route in routes:
        declared = declared_permission(route)
        assert isinstance(declared, Permission) or declared == PUBLIC, (
            f"{sorted(route.methods or ())} {route.path} declares {declared!r}"
        )
    check_routes_declare_permissions(vintry_app)


def _undeclared_router() -> APIRouter:
    router = APIRouter(prefix="/extra")

    @router.get("/declared", dependencies=[Depends(authorize(Permission.SITES_READ))])
    def declared() -> None:
        """Declares sites:read."""

    @router.get("/open", dependencies=[Depends(public)])
    def open_route() -> None:
        """Declares public."""

    @router.post("/forgotten")
    def forgotten() -> None:
        """Declares nothing."""

    return router


def test_app_with_an_undeclared_route_in_an_included_router_is_refused(
    vintry_app: FastAPI,
) -> None:
    vintry_app.include_router(_undeclared_router())
    with pytest.raises(RuntimeError, match=r"\['POST'\] /extra/forgotten") as raised:
        check_routes_declare_permissions(vintry_app)
    assert "/extra/declared" not in str(raised.value)
    assert "/extra/open" not in str(raised.value)


def test_app_with_an_undeclared_route_added_directly_is_refused() -> None:
    app = FastAPI()

    @app.delete("/direct/{thing}")
    def direct(thing: str) -> None:
        """Declares nothing."""

    with pytest.raises(RuntimeError, match=r"\['DELETE'\] /direct/\{thing\}"):
        check_routes_declare_permissions(app)


def test_permission_declared_by_an_include_or_a_nested_dependency_counts() -> None:
    def wrapped(scope: object = Depends(authorize(Permission.DEALERS_READ))) -> object:
        return scope

    inner = APIRouter()

    @inner.get("/nested")
    def nested(scope: object = Depends(wrapped)) -> None:
        """Declares dealers:read through a dependency of a dependency."""

    @inner.get("/by-include")
    def by_include() -> None:
        """Declares audit:read through the include."""

    app = FastAPI()
    app.include_router(inner, prefix="/p", dependencies=[Depends(authorize(Permission.AUDIT_READ))])
    check_routes_declare_permissions(app)
    declared = {route.path: declared_permission(route) for route in api_routes(app)}
    assert declared["/p/by-include"] is Permission.AUDIT_READ
    assert declared["/p/nested"] in {Permission.AUDIT_READ, Permission.DEALERS_READ}


def test_enumerated_routes_are_those_of_the_app_under_test(vintry_app: FastAPI) -> None:
    assert _route_cases(vintry_app) == ROUTES


def test_public_routes_answer_without_a_token(vintry_factory: VintryFactory) -> None:
    public_routes = [
        route for route in api_routes(vintry_factory.app) if declared_permission(route) == PUBLIC
    ]
    assert {route.path for route in public_routes} >= {"/health/live", "/health/ready"}
    anonymous = vintry_factory.client()
    for route in public_routes:
        for method in (route.methods or set()) - {"HEAD"}:
            response = anonymous.request(method, route.path)
            assert response.status_code == 200, f"{method} {route.path}: {response.text}"


def test_every_filler_table_fills_every_known_path_parameter(
    security_world: SecurityWorld,
) -> None:
    assert set(UNAUTHENTICATED_FILLERS) == PATH_FILLERS
    for caller in security_world.callers.values():
        for site in caller.inside + caller.outside:
            assert set(security_world.fillers(caller, site)) == PATH_FILLERS
        assert set(caller.foreign) <= PATH_FILLERS


@pytest.mark.parametrize("case", PROTECTED_ROUTES, ids=[case.key for case in PROTECTED_ROUTES])
def test_route_refuses_callers_without_a_valid_token(
    case: RouteCase, vintry_factory: VintryFactory
) -> None:
    assert declared_permission(_find_route(vintry_factory.app, case)) != PUBLIC
    path = _fill(case, UNAUTHENTICATED_FILLERS)
    admin_token_id = vintry_factory.admin_token.split("_")[1]
    tokens: dict[str, str | None] = {
        "none": None,
        "garbage": "not-a-token",
        "unknown": "vt_000000000000_secret",
        "wrong-secret": f"vt_{admin_token_id}_not-the-secret",
    }
    for label, token in tokens.items():
        response = _send(vintry_factory.client(token, site=vintry_factory.root), case, path)
        assert response.status_code == 401, f"{label} token: {response.text}"
        expected = "unauthenticated" if token is None else "invalid_token"
        assert _error(response)["code"] == expected, label
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("case", ROUTES, ids=ROUTE_IDS)
def test_route_obeys_tenancy_and_permissions(
    case: RouteCase, security_world: SecurityWorld
) -> None:
    """Outside the tenant 404; inside without the permission 403; with it, served."""
    route = _find_route(security_world.factory.app, case)
    declared = declared_permission(route)
    assert declared is not None, f"{case.key} declares no permission"
    mismatches: list[str] = []
    probes = 0
    for caller in security_world.callers.values():
        allowed = declared == PUBLIC or declared in ROLE_PERMISSIONS[caller.role]
        for site in caller.outside:
            path = _fill(case, security_world.fillers(caller, site))
            problem = _mismatch_outside(_call(security_world, caller, site, case, path))
            probes += 1
            if declared != PUBLIC and problem:
                mismatches.append(f"{caller.label} → outside site {site} {path}: {problem}")
        for site in caller.inside:
            path = _fill(case, security_world.fillers(caller, site))
            response = _call(security_world, caller, site, case, path)
            problem = _mismatch_served(response) if allowed else _mismatch_denied(response)
            probes += 1
            if problem:
                mismatches.append(f"{caller.label} → inside site {site} {path}: {problem}")
        if any(key in caller.foreign for _, key in _param_keys(case.path)):
            # Its own site, naming an object beyond its tenant: hidden (or 403 without the
            # permission, which is checked before any object is looked up).
            path = _fill(case, {**security_world.fillers(caller, caller.site), **caller.foreign})
            response = _call(security_world, caller, caller.site, case, path)
            problem = _mismatch_outside(response) if allowed else _mismatch_denied(response)
            probes += 1
            if problem:
                mismatches.append(f"{caller.label} → foreign object {path}: {problem}")
    assert probes >= len(security_world.callers)
    assert not mismatches, f"{case.key}:\n" + "\n".join(mismatches)


def test_hq_admin_holds_every_permission_and_dealers_cannot_write() -> None:
    # Everything but what a dealer does in its own name (its cart, its orders).
    assert ROLE_PERMISSIONS[Role.HQ_ADMIN] == frozenset(Permission) - DEALER_ACTS
    assert ROLE_PERMISSIONS[Role.DEALER] >= DEALER_ACTS
    assert not any(DEALER_ACTS & ROLE_PERMISSIONS[role] for role in Role if role is not Role.DEALER)
    verbs = (":write", ":create", ":update", ":manage")
    writes = {p for p in Permission if p.value.endswith(verbs)}
    assert ROLE_PERMISSIONS[Role.DEALER] & writes == {Permission.TOKENS_MANAGE}
