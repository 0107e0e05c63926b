"""Routes contributed by plugins obey the same tenancy rules as the kernel's.

A plugin's router is mounted under ``/api/v1/x/<plugin>/`` behind a gate that answers 404
``plugin_not_enabled`` where the plugin is off. The gate must not speak before the route's
own security: an anonymous caller gets 401, a caller outside its tenant gets the same
``site_not_found`` as anywhere else (never whether a plugin is enabled there, which would
also tell it the site exists), and only inside the tenant does the gate answer. A plugin
route that declares no permission stops the app from being built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from fastapi import APIRouter, Depends, FastAPI
from vintry.accounts.models import Role
from vintry.api import create_app
from vintry.platform import Platform
from vintry_sdk import Permission, RequestScope, RoutesRegistration, authorize, hookimpl, public
from vintry_sdk.testing import VintryFactory

if TYPE_CHECKING:
    from httpx2 import Response  # what starlette's TestClient returns

GATED = "gated"
BASE = f"/api/v1/x/{GATED}"

router = APIRouter()


@router.get("/stock")
def stock(scope: RequestScope = Depends(authorize(Permission.SITES_READ))) -> dict[str, str]:
    """Readable by every role inside its tenant."""
    return {"site": scope.site.code}


@router.post("/restock")
def restock(scope: RequestScope = Depends(authorize(Permission.SETTINGS_WRITE))) -> dict[str, str]:
    """Operators and HQ only."""
    return {"site": scope.site.code}


@router.get("/status", dependencies=[Depends(public)])
def status() -> dict[str, str]:
    """Open to anyone where the plugin is enabled."""
    return {"status": "ok"}


class GatedPlugin:
    """A plugin whose only contribution is :data:`router`."""

    @hookimpl
    def vintry_register_routes(self, register: RoutesRegistration) -> None:
        """Register the plugin's routes."""
        register(router)


class CarelessPlugin:
    """A plugin with a route that declares no permission."""

    @hookimpl
    def vintry_register_routes(self, register: RoutesRegistration) -> None:
        """Register a router whose route forgot its permission."""
        careless = APIRouter()

        @careless.delete("/everything")
        def delete_everything() -> None:
            """Declares nothing."""

        register(careless)


@pytest.fixture
def vintry_app(vintry_platform: Platform) -> FastAPI:
    """The API built after the plugin is installed, as a server loads plugins first."""
    record = vintry_platform.plugins.register(GATED, GatedPlugin())
    assert record.status == "loaded", record.error
    return create_app(vintry_platform)


@pytest.fixture
def tokens(vintry_factory: VintryFactory) -> dict[str, str]:
    """The plugin on at east (so at east-s1 too), off at west; a token per caller."""
    vintry_factory.site("east")
    vintry_factory.site("west")
    vintry_factory.site("east-s1", parent="east")
    turned_on = vintry_factory.admin_client(site="east").put(
        f"/api/v1/plugins/{GATED}/enablement", json={"state": "on"}
    )
    assert turned_on.status_code == 200, turned_on.text
    west = vintry_factory.admin_client(site="west").get(f"/api/v1/plugins/{GATED}/enablement")
    assert west.json()["enabled"] is False
    return {
        label: vintry_factory.token(vintry_factory.user(role, site))
        for label, role, site in [
            ("dealer-east", Role.DEALER, "east"),
            ("dealer-west", Role.DEALER, "west"),
            ("operator-west", Role.SITE_OPERATOR, "west"),
            ("operator-east-s1", Role.SITE_OPERATOR, "east-s1"),
        ]
    }


def _code(response: Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def _call(factory: VintryFactory, token: str | None, site: str, method: str, path: str) -> Response:
    return factory.client(token, site=site).request(method, BASE + path)


@pytest.mark.parametrize("site", ["east", "west", "nosuch"])
@pytest.mark.parametrize(("method", "path"), [("GET", "/stock"), ("POST", "/restock")])
def test_anonymous_caller_gets_401_whether_or_not_the_plugin_is_enabled(
    site: str, method: str, path: str, vintry_factory: VintryFactory, tokens: dict[str, str]
) -> None:
    response = _call(vintry_factory, None, site, method, path)
    assert response.status_code == 401, response.text
    assert _code(response) == "unauthenticated"


@pytest.mark.parametrize(
    ("caller", "site"),
    [("dealer-east", "west"), ("dealer-east", "east-s1"), ("dealer-west", "east"),
     ("operator-east-s1", "east"), ("operator-west", "east-s1")],
)
@pytest.mark.parametrize(("method", "path"), [("GET", "/stock"), ("POST", "/restock")])
def test_caller_outside_its_tenant_learns_nothing_about_the_plugin(
    caller: str, site: str, method: str, path: str,
    vintry_factory: VintryFactory, tokens: dict[str, str],
) -> None:
    response = _call(vintry_factory, tokens[caller], site, method, path)
    assert response.status_code == 404, response.text
    assert _code(response) == "site_not_found"
    assert GATED not in response.text


def test_inside_the_tenant_the_gate_answers_before_the_permission(
    vintry_factory: VintryFactory, tokens: dict[str, str]
) -> None:
    for caller, method, path in [("dealer-west", "GET", "/stock"),
                                 ("dealer-west", "POST", "/restock"),
                                 ("operator-west", "POST", "/restock")]:
        response = _call(vintry_factory, tokens[caller], "west", method, path)
        assert response.status_code == 404, (caller, path, response.text)
        assert _code(response) == "plugin_not_enabled"


def test_where_enabled_the_route_serves_by_permission(
    vintry_factory: VintryFactory, tokens: dict[str, str]
) -> None:
    served = _call(vintry_factory, tokens["dealer-east"], "east", "GET", "/stock")
    assert served.status_code == 200 and served.json() == {"site": "east"}
    denied = _call(vintry_factory, tokens["dealer-east"], "east", "POST", "/restock")
    assert denied.status_code == 403 and _code(denied) == "permission_denied"
    inherited = _call(vintry_factory, tokens["operator-east-s1"], "east-s1", "POST", "/restock")
    assert inherited.status_code == 200 and inherited.json() == {"site": "east-s1"}


@pytest.mark.parametrize(
    ("site", "status", "code"),
    [("east", 200, None), ("west", 404, "plugin_not_enabled"), ("nosuch", 404, "site_not_found")],
)
def test_public_plugin_route_is_gated_by_enablement_alone(
    site: str, status: int, code: str | None,
    vintry_factory: VintryFactory, tokens: dict[str, str],
) -> None:
    response = _call(vintry_factory, None, site, "GET", "/status")
    assert response.status_code == status, response.text
    if code is not None:
        assert _code(response) == code


def test_plugin_route_without_a_declared_permission_stops_the_app_build(
    vintry_platform: Platform,
) -> None:
    record = vintry_platform.plugins.register("careless", CarelessPlugin())
    assert record.status == "loaded", record.error
    with pytest.raises(RuntimeError, match=r"\['DELETE'\] /api/v1/x/careless/everything"):
        create_app(vintry_platform)
