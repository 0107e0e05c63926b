"""Who sees what (an operator its subtree, HQ everything, dealers no reports), the plugin's
per-site enablement, its settings, and the SVG charts of the API."""

from __future__ import annotations

from datetime import timedelta
from xml.etree import ElementTree

import pytest
from sqlalchemy import inspect
from vintry_sdk import Platform

from vintry_analytics import PLUGIN_NAME, AnalyticsSettings

from .conftest import BASE, World

REPORTS = [
    "/funnel",
    "/funnel.svg",
    "/trend",
    "/trend.svg",
    "/insights/blocked-demand",
    "/insights/slow-movers",
    "/insights/dealer-slowdown",
    "/insights/return-outliers",
    "/insights/kpis",
    "/dealer-stock",
]


def test_the_installed_plugin_is_loaded_with_its_hooks(vintry_platform: Platform) -> None:
    record = vintry_platform.plugins.get(PLUGIN_NAME)
    assert record is not None, vintry_platform.plugins.records.get(PLUGIN_NAME)
    assert record.version == "0.1.0"
    assert record.settings_model is AnalyticsSettings
    assert {
        "vintry_register_settings",
        "vintry_register_routes",
        "vintry_register_commands",
        "vintry_register_migrations",
        "vintry_handle_event",
    } <= set(record.hooks)


def test_every_site_database_has_the_plugins_tables(world: World) -> None:
    for site in ("hq", "east", "east-s1", "west"):
        tables = set(inspect(world.platform.site_database(site).engine).get_table_names())
        assert {
            "analytics_events",
            "analytics_rate_windows",
            "analytics_sellout",
            "analytics_site_version",
        } <= tables, site


def test_an_invalid_configuration_is_refused_with_its_field(world: World) -> None:
    admin = world.hq_client("east")
    response = admin.patch(
        f"/api/v1/plugins/{PLUGIN_NAME}/config", json={"low_conversion_ratio": 2}
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_configuration", "low_conversion_ratio")


def _seed(world: World) -> None:
    moment = world.clock.now() - timedelta(days=1)
    for site in ("east", "east-s1", "west"):
        world.events(
            site, [(dealer, "product_view", "FT-500", moment) for dealer in world.dealers[site]]
        )


@pytest.mark.parametrize("path", REPORTS)
def test_reports_refuse_dealers_and_outsiders(world: World, path: str) -> None:
    dealer = world.dealer_client(world.dealers["east"][0], "east")
    assert dealer.get(BASE + path).status_code == 403
    outsider = world.operator_client("west").get(BASE + path)
    # a west operator addressing west is served; it cannot address east at all
    assert outsider.status_code == 200, outsider.text
    east_from_west = world.factory.client(
        world.factory.token(world.factory.user("site_operator", "west")), site="east"
    ).get(BASE + path)
    assert (east_from_west.status_code, east_from_west.json()["error"]["code"]) == (
        404,
        "site_not_found",
    )


def test_an_operator_sees_its_subtree_and_hq_sees_all(world: World) -> None:
    _seed(world)

    east = world.operator_client("east").get(f"{BASE}/funnel").json()
    store = world.operator_client("east-s1").get(f"{BASE}/funnel").json()
    everything = world.hq_client().get(f"{BASE}/funnel").json()

    assert (east["sites"], east["overall"]["entrants"]) == (["east", "east-s1"], 8 + 3)
    assert (store["sites"], store["overall"]["entrants"]) == (["east-s1"], 3)
    assert everything["overall"]["entrants"] == 8 + 3 + 8


def test_a_site_where_the_plugin_is_off_is_left_out(world: World) -> None:
    _seed(world)
    world.factory.enable_plugin(PLUGIN_NAME, "east-s1", state="off")

    report = world.hq_client().get(f"{BASE}/funnel").json()
    refused = world.operator_client("east-s1").get(f"{BASE}/funnel")

    assert report["sites"] == ["hq", "east", "west"]
    assert report["overall"]["entrants"] == 16
    assert refused.json()["error"]["code"] == "plugin_not_enabled"


def test_funnel_and_trend_charts_are_svg(world: World) -> None:
    _seed(world)
    client = world.hq_client()

    funnel = client.get(f"{BASE}/funnel.svg")
    trend = client.get(f"{BASE}/trend.svg", params={"days": 7})
    counts = client.get(f"{BASE}/trend", params={"days": 7}).json()

    for response in (funnel, trend):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("image/svg+xml")
        root = ElementTree.fromstring(response.text)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "19  (100%)" in funnel.text and "product_view" in funnel.text
    assert len(counts["points"]) == 7
    assert [p["events"] for p in counts["points"]][-1] == 19
    assert trend.text.count("<circle") == 7
    bad = client.get(f"{BASE}/trend", params={"type": "teleport"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "type")
