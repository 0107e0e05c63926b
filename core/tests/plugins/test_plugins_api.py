"""``/api/v1/plugins`` and plugin routes.

The listing shows every plugin the platform tried to load — loaded or failed, with version,
hooks, error and where it is enabled — and the platform keeps serving beside a failed one.
Plugin routes (the ``greeter`` of ``conftest``, registered before the app is built) answer
only where the plugin is enabled, and an app with a plugin route that declares no
permission refuses to build.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, Depends
from starlette.testclient import TestClient
from vintry.accounts.models import Role
from vintry.api import create_app
from vintry.api.app import api_routes
from vintry.clock import ManualClock
from vintry.platform import Platform
from vintry.plugins import BUILTIN_PLUGINS, PluginHost, installed_sdk_version
from vintry.settings import VintrySettings
from vintry_sdk import RoutesRegistration, hookimpl, public
from vintry_sdk.testing import VintryFactory

from .conftest import (
    GOOD_PLUGIN,
    GREETER,
    QUOTA,
    RECORDER,
    FakeInstall,
    Installed,
)

BUILTIN = "vintry-events-log"
SITES = ("hq", "east", "east-1", "west")
HELLO = f"/api/v1/x/{GREETER}/hello"


@pytest.fixture
def tree(installed: Installed, vintry_factory: VintryFactory) -> dict[str, TestClient]:
    """hq → east → east-1, and west; an HQ-admin client addressing each site."""
    vintry_factory.site("east")
    vintry_factory.site("east-1", parent="east")
    vintry_factory.site("west")
    return {code: vintry_factory.admin_client(site=code) for code in SITES}


def plugins_by_name(client: TestClient) -> dict[str, dict[str, Any]]:
    """GET /api/v1/plugins, keyed by name (a failed duplicate would need another key)."""
    response = client.get("/api/v1/plugins")
    assert response.status_code == 200, response.text
    return {entry["name"]: entry for entry in response.json()}


class Typo:
    """A plugin object with a misspelled hook."""

    @hookimpl
    def vintry_register_setings(self, register: object) -> None:
        """Never called."""


# --- the listing -------------------------------------------------------------------------


def test_listing_shows_loaded_and_failed_plugins_and_the_platform_keeps_serving(
    tree: dict[str, TestClient], vintry_platform: Platform, vintry_factory: VintryFactory
) -> None:
    vintry_factory.enable_plugin(RECORDER, "east")
    failed = vintry_platform.plugins.register("typo", Typo())
    assert failed.status == "failed"

    plugins = plugins_by_name(tree["hq"])

    recorder = plugins[RECORDER]
    assert recorder["status"] == "loaded" and recorder["error"] is None
    assert recorder["hooks"] == ["vintry_handle_event", "vintry_register_settings"]
    assert recorder["has_settings"] is True
    assert recorder["enabled_on"] == ["east", "east-1"]
    assert recorder["enabled_here"] is False
    typo = plugins["typo"]
    assert typo["status"] == "failed"
    assert typo["error"] == (
        "unknown hook 'vintry_register_setings' (did you mean 'vintry_register_settings'?)"
    )
    assert (typo["hooks"], typo["enabled_on"], typo["enabled_here"]) == ([], [], None)
    builtin = plugins[BUILTIN]
    assert builtin["builtin"] is True and sorted(builtin["enabled_on"]) == sorted(SITES)

    # Seen from a region, only that subtree is listed as enabled.
    assert plugins_by_name(tree["east"])[RECORDER]["enabled_on"] == ["east", "east-1"]
    assert plugins_by_name(tree["west"])[RECORDER]["enabled_on"] == []

    # The failed plugin cannot be enabled, and everything else still answers.
    refused = tree["hq"].put("/api/v1/plugins/typo/enablement", json={"state": "on"})
    assert refused.status_code == 404, refused.text
    assert refused.json()["error"]["code"] == "plugin_not_found"
    assert "failed to load" in refused.json()["error"]["message"]
    assert tree["east"].get(f"/api/v1/plugins/{QUOTA}/config").status_code == 200
    assert tree["east"].get(f"/api/v1/plugins/{RECORDER}").json()["enabled_here"] is True


@pytest.fixture
def installed_worker(
    vintry_platform: Platform, vintry_clock: ManualClock, fake_install: FakeInstall
) -> Iterator[Platform]:
    """Another worker on the same databases whose installation holds two distributions:
    ``stamp`` 1.2.0, and ``future`` 3.0.0 built for an SDK that does not exist yet."""
    stamp = fake_install.plugin("stamp", GOOD_PLUGIN, version="1.2.0")
    future = fake_install.plugin(
        "future", GOOD_PLUGIN, version="3.0.0", requires=("vintry-sdk>=9,<10",)
    )
    worker = Platform(vintry_platform.settings, clock=vintry_clock,
                      plugins=PluginHost(entry_points=lambda: [stamp, future]))
    yield worker
    worker.close()


def test_listing_shows_distribution_versions_and_an_incompatible_sdk(
    installed_worker: Platform, vintry_factory: VintryFactory
) -> None:
    app = create_app(installed_worker)
    headers = {"Authorization": f"Bearer {vintry_factory.admin_token}"}
    with TestClient(app, base_url="http://localhost/sites/hq", headers=headers) as client:
        plugins = plugins_by_name(client)
        missing = client.get("/api/v1/plugins/future")

    assert set(plugins) == {"stamp", "future"} | {name for name, _ in BUILTIN_PLUGINS}
    assert BUILTIN in plugins
    stamp, future = plugins["stamp"], plugins["future"]
    assert (stamp["status"], stamp["distribution"], stamp["version"]) == (
        "loaded", "vintry-stamp", "1.2.0",
    )
    assert stamp["sdk_requirement"] == "<0.2,>=0.1"
    assert stamp["hooks"] == ["vintry_handle_event", "vintry_register_settings"]
    assert (future["status"], future["distribution"], future["version"]) == (
        "failed", "vintry-future", "3.0.0",
    )
    assert future["error"] == (
        f"built for vintry-sdk<10,>=9, but this platform has vintry-sdk {installed_sdk_version()}"
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "plugin_not_found"
    assert "vintry-sdk<10,>=9" in missing.json()["error"]["message"]


# --- plugin routes -------------------------------------------------------------------------


def test_plugin_route_answers_only_where_the_plugin_is_enabled(
    tree: dict[str, TestClient], vintry_factory: VintryFactory
) -> None:
    vintry_factory.enable_plugin(GREETER, "east", config={"greeting": "ni hao"})

    for code in ("east", "east-1"):
        response = tree[code].get(HELLO)
        assert response.status_code == 200, response.text
        assert response.json() == {"site": code, "greeting": "ni hao"}
    for code in ("hq", "west"):
        response = tree[code].get(HELLO)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "plugin_not_enabled"

    # Its declared permission applies like any route's: a dealer of east reads it ...
    dealer = vintry_factory.client_for(Role.DEALER, "east")
    assert dealer.get(HELLO).status_code == 200
    # ... a caller without a token does not ...
    assert vintry_factory.client(site="east").get(HELLO).status_code == 401
    # ... and east is not in a west dealer's tenant.
    west_token = vintry_factory.token(vintry_factory.user(Role.DEALER, "west"))
    assert vintry_factory.client(west_token, site="east").get(HELLO).status_code == 404


def test_disabling_a_plugin_closes_its_routes_at_once(
    tree: dict[str, TestClient], vintry_factory: VintryFactory
) -> None:
    vintry_factory.enable_plugin(GREETER, "east")
    assert tree["east"].get(HELLO).status_code == 200

    off = tree["east"].put(f"/api/v1/plugins/{GREETER}/enablement", json={"state": "off"})
    assert off.status_code == 200, off.text

    response = tree["east"].get(HELLO)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "plugin_not_enabled"


# --- routes must declare their permission ------------------------------------------------


bare_router = APIRouter()


@bare_router.get("/open")
def bare_open() -> dict[str, str]:
    """A route that forgot its permission."""
    return {}


open_router = APIRouter()


@open_router.get("/ping", dependencies=[Depends(public)])
def open_ping() -> dict[str, str]:
    """A route that declares itself public."""
    return {"pong": "yes"}


class RoutesPlugin:
    """Registers one router."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router

    @hookimpl
    def vintry_register_routes(self, register: RoutesRegistration) -> None:
        """Register the router."""
        register(self.router)


@pytest.fixture
def bare_platform(tmp_path: Path) -> Iterator[Platform]:
    """A platform that is never migrated: building an app touches no database."""
    platform = Platform(VintrySettings(data_dir=tmp_path / "data"),
                        plugins=PluginHost(entry_points=lambda: []))
    yield platform
    platform.close()


def test_app_refuses_to_build_with_a_plugin_route_without_permission(
    bare_platform: Platform,
) -> None:
    assert bare_platform.plugins.register("bare", RoutesPlugin(bare_router)).status == "loaded"

    refusal = r"without a declared permission: \['GET'\] /api/v1/x/bare/open"
    with pytest.raises(RuntimeError, match=refusal):
        create_app(bare_platform)


def test_app_builds_with_a_plugin_route_declared_public(bare_platform: Platform) -> None:
    assert bare_platform.plugins.register("open", RoutesPlugin(open_router)).status == "loaded"

    app = create_app(bare_platform)

    assert "/api/v1/x/open/ping" in {route.path for route in api_routes(app)}
