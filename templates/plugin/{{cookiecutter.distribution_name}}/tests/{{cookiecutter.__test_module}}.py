"""Tests of the {{ cookiecutter.plugin_slug }} plugin, with the fixtures of ``vintry_sdk.testing``.

The plugin is loaded because its distribution is installed (``pip install -e .``): nothing
here registers it by hand. Each test gets a fresh platform (HQ site ``hq``, an admin), once
on SQLite and once on PostgreSQL when ``VINTRY_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import uuid

from vintry_sdk import Event, ManualClock, Platform
from vintry_sdk.testing import VintryFactory

from {{ cookiecutter.package_name }} import PLUGIN_NAME, events_seen
from {{ cookiecutter.package_name }}.config import {{ cookiecutter.__settings_class }}

GREETING = f"/api/v1/x/{PLUGIN_NAME}/greeting"
CONFIG = f"/api/v1/plugins/{PLUGIN_NAME}/config"


def test_the_installed_plugin_is_loaded(vintry_platform: Platform) -> None:
    record = vintry_platform.plugins.get(PLUGIN_NAME)
    failed = vintry_platform.plugins.records.get(PLUGIN_NAME)
    assert record is not None, f"{PLUGIN_NAME} did not load: {failed and failed.error}"
    assert record.version == "0.1.0"
    assert record.settings_model is {{ cookiecutter.__settings_class }}
    assert {"vintry_register_settings", "vintry_register_routes", "vintry_handle_event"} <= set(
        record.hooks
    )


def test_a_region_greets_with_hq_configuration_and_its_own_override(
    vintry_factory: VintryFactory,
) -> None:
    region = vintry_factory.site("east").code
    hq_admin = vintry_factory.admin_client(site=vintry_factory.root)
    configured = hq_admin.patch(CONFIG, json={"exclaim": False})
    assert configured.status_code == 200, configured.text
    vintry_factory.enable_plugin(PLUGIN_NAME, region, config={"greeting": "Welcome"})

    response = vintry_factory.client_for("dealer", region).get(GREETING)

    assert response.status_code == 200, response.text
    assert response.json() == {"site": region, "message": "Welcome, East."}
    in_force = vintry_factory.admin_client(site=region).get(CONFIG).json()
    assert in_force["values"] == {"greeting": "Welcome", "exclaim": False}
    assert in_force["decided_by"] == {"greeting": region, "exclaim": vintry_factory.root}


def test_the_route_answers_404_where_the_plugin_is_not_enabled(
    vintry_factory: VintryFactory,
) -> None:
    east = vintry_factory.site("east").code
    west = vintry_factory.site("west").code
    vintry_factory.enable_plugin(PLUGIN_NAME, east)

    response = vintry_factory.client_for("dealer", west).get(GREETING)

    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "plugin_not_enabled"
    assert vintry_factory.client_for("dealer", east).get(GREETING).status_code == 200


def test_an_invalid_configuration_is_refused(vintry_factory: VintryFactory) -> None:
    region = vintry_factory.site("east").code
    vintry_factory.enable_plugin(PLUGIN_NAME, region)
    admin = vintry_factory.admin_client(site=region)

    response = admin.patch(CONFIG, json={"greeting": "   "})

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_configuration", "greeting")
    assert admin.get(CONFIG).json()["values"]["greeting"] == "Hello"


def test_events_reach_only_enabled_sites_and_count_once(
    vintry_factory: VintryFactory, vintry_clock: ManualClock
) -> None:
    east = vintry_factory.enable_plugin(PLUGIN_NAME, vintry_factory.site("east").code)
    west = vintry_factory.platform.site(vintry_factory.site("west").code)
    before = {site.code: events_seen.count(site.code) for site in (east, west)}
    east_event = _event(east.code, vintry_clock)

    east.hooks.vintry_handle_event(event=east_event, site=east)
    east.hooks.vintry_handle_event(event=east_event, site=east)  # delivered again
    west.hooks.vintry_handle_event(event=_event(west.code, vintry_clock), site=west)

    assert events_seen.count(east.code) == before[east.code] + 1
    assert events_seen.count(west.code) == before[west.code]  # not enabled there


def _event(site: str, clock: ManualClock) -> Event:
    return Event(id=uuid.uuid4().hex, type="example.happened", site=site, occurred_at=clock.now())
