"""An installed plugin, in real processes: listed, enabled per site, effective in every worker.

The deployment (``conftest.py``) runs two API server processes on one data directory. A
change made through one must be in force in the other on its very next request, and a
plugin that cannot load must be reported by name, with its reason, while the platform
serves.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .conftest import (
    BROKEN_IMPORT_PLUGIN,
    FUTURE_SDK_PLUGIN,
    GOOD_PLUGIN,
    MISSING_MODULE,
    Deployment,
)

pytestmark = pytest.mark.slow

GREETING = f"/api/v1/x/{GOOD_PLUGIN}/greeting"
ENABLEMENT = f"/api/v1/plugins/{GOOD_PLUGIN}/enablement"


@pytest.fixture(scope="module")
def regions(deployment: Deployment) -> tuple[str, str]:
    """Regions ``east`` and ``west`` under HQ, created through server 1."""
    with deployment.admin(0) as admin:
        for code, name in (("east", "East"), ("west", "West")):
            created = admin.post("/sites/hq/api/v1/sites", json={"code": code, "name": name})
            assert created.status_code == 201, created.text
    return "east", "west"


@pytest.fixture
def server_1(deployment: Deployment) -> Iterator[httpx.Client]:
    """HQ's admin on the first server."""
    with deployment.admin(0) as client:
        yield client


@pytest.fixture
def server_2(deployment: Deployment) -> Iterator[httpx.Client]:
    """HQ's admin on the second server."""
    with deployment.admin(1) as client:
        yield client


def plugins_by_name(client: httpx.Client) -> dict[str, dict[str, Any]]:
    """``GET /api/v1/plugins`` at HQ, by plugin name."""
    response = client.get("/sites/hq/api/v1/plugins")
    assert response.status_code == 200, response.text
    return {plugin["name"]: plugin for plugin in response.json()}


def set_state(client: httpx.Client, site: str, state: str) -> dict[str, Any]:
    """Set *site*'s own enablement of the good plugin."""
    response = client.put(f"/sites/{site}{ENABLEMENT}", json={"state": state})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_installed_plugin_is_listed_with_its_version_and_hooks(
    server_2: httpx.Client,
) -> None:
    plugin = plugins_by_name(server_2)[GOOD_PLUGIN]

    assert plugin["status"] == "loaded", plugin["error"]
    assert (plugin["distribution"], plugin["version"]) == (f"vintry-{GOOD_PLUGIN}", "0.1.0")
    assert plugin["module"] == "vintry_greeter"
    assert plugin["sdk_requirement"] == "<0.2,>=0.1"
    assert plugin["has_settings"] is True
    assert set(plugin["hooks"]) == {
        "vintry_handle_event",
        "vintry_register_routes",
        "vintry_register_settings",
    }
    assert plugin["enabled_on"] == []


def test_enablement_on_one_server_is_in_force_on_the_other_at_once(
    regions: tuple[str, str], server_1: httpx.Client, server_2: httpx.Client
) -> None:
    east, west = regions

    enabled = set_state(server_1, east, "on")

    assert (enabled["enabled"], enabled["decided_by"]) == (True, east)
    greeting = server_2.get(f"/sites/{east}{GREETING}")
    assert greeting.status_code == 200, greeting.text
    assert greeting.json() == {"site": east, "message": "Hello, East!"}
    elsewhere = server_2.get(f"/sites/{west}{GREETING}")
    assert elsewhere.status_code == 404, elsewhere.text
    assert elsewhere.json()["error"]["code"] == "plugin_not_enabled"
    assert plugins_by_name(server_2)[GOOD_PLUGIN]["enabled_on"] == [east]

    set_state(server_1, east, "off")

    disabled = server_2.get(f"/sites/{east}{GREETING}")  # the very next request
    assert disabled.status_code == 404, disabled.text
    assert disabled.json()["error"]["code"] == "plugin_not_enabled"
    assert plugins_by_name(server_2)[GOOD_PLUGIN]["enabled_on"] == []


def test_configuration_changed_on_one_server_is_in_force_on_the_other(
    regions: tuple[str, str], server_1: httpx.Client, server_2: httpx.Client
) -> None:
    east, _ = regions
    set_state(server_1, east, "on")
    try:
        changed = server_1.patch(
            f"/sites/{east}/api/v1/plugins/{GOOD_PLUGIN}/config", json={"greeting": "Welcome"}
        )
        assert changed.status_code == 200, changed.text

        greeting = server_2.get(f"/sites/{east}{GREETING}")

        assert greeting.json() == {"site": east, "message": "Welcome, East!"}
        refused = server_2.patch(
            f"/sites/{east}/api/v1/plugins/{GOOD_PLUGIN}/config", json={"greeting": " "}
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["field"] == "greeting"
    finally:
        server_1.patch(
            f"/sites/{east}/api/v1/plugins/{GOOD_PLUGIN}/config", json={"greeting": None}
        )
        set_state(server_1, east, "inherit")


def test_plugins_that_cannot_load_are_reported_while_the_platform_serves(
    regions: tuple[str, str], server_1: httpx.Client, server_2: httpx.Client
) -> None:
    for client in (server_1, server_2):
        plugins = plugins_by_name(client)

        broken = plugins[BROKEN_IMPORT_PLUGIN]
        assert broken["status"] == "failed"
        assert broken["version"] == "0.1.0"
        assert "import failed" in broken["error"]
        assert MISSING_MODULE in broken["error"]
        future = plugins[FUTURE_SDK_PLUGIN]
        assert future["status"] == "failed"
        assert ">=9" in future["error"] and "vintry-sdk" in future["error"]
        assert plugins[GOOD_PLUGIN]["status"] == "loaded"
        assert client.get("/health/ready").status_code == 200
        assert client.get("/sites/hq/api/v1/sites").status_code == 200

    refused = server_1.put(
        f"/sites/east/api/v1/plugins/{FUTURE_SDK_PLUGIN}/enablement", json={"state": "on"}
    )
    assert refused.status_code == 404, refused.text
    assert refused.json()["error"]["code"] == "plugin_not_found"


@pytest.mark.skipif(
    importlib.util.find_spec("vintry.cli.plugins") is None,
    reason="the 'vintry plugins' commands do not exist yet (the API is checked instead)",
)
def test_the_cli_lists_loaded_and_failed_plugins(deployment: Deployment) -> None:
    listed = deployment.cli("plugins", "list")

    for name in (GOOD_PLUGIN, BROKEN_IMPORT_PLUGIN, FUTURE_SDK_PLUGIN):
        assert name in listed.stdout, listed.stdout
    assert "0.1.0" in listed.stdout
    assert "failed" in listed.stdout.lower()
