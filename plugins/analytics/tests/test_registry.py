"""The report registry: one entry is a route (and its chart's), a command, and the same answer
through both; reading any of it needs ``analytics:read``; its tables render as CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from fastapi.routing import APIRoute
from typer.testing import CliRunner
from vintry.api.security import declared_permission
from vintry_sdk import Permission

from vintry_analytics.api import router
from vintry_analytics.cli import app
from vintry_analytics.registry import REPORTS, Column, Table, csv_text

from .conftest import BASE, UNTIL, World

READ = Permission.ANALYTICS_READ.value


def _permissions() -> dict[tuple[str, str], str]:
    return {
        (method, route.path): str(declared_permission(route))
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }


def test_every_report_is_a_route_and_a_command() -> None:
    paths = {path for _, path in _permissions()}
    commands = {command.name for command in app.registered_commands}

    for report in REPORTS:
        assert report.path in paths, report.name
        assert (f"{report.path}.svg" in paths) == (report.chart is not None), report.name
        assert report.name in commands


def test_reading_the_analytics_needs_analytics_read() -> None:
    """Dealers keep sending events and sell-out (``orders:place``); the tracker and the
    vocabulary are for everyone inside the tenant; everything else read needs the
    kernel's ``analytics:read``, never a borrowed stock or dealer permission."""
    permissions = _permissions()
    writes = {key: value for key, value in permissions.items() if key[0] == "POST"}
    reads = {key: value for key, value in permissions.items() if key[0] == "GET"}
    everyone = {("GET", "/tracker.js"), ("GET", "/vocabulary")}

    assert set(writes.values()) == {Permission.ORDERS_PLACE.value}
    assert {reads.pop(key) for key in everyone} == {Permission.SITES_READ.value}
    assert set(reads.values()) == {READ}
    assert ("GET", "/dealers/{code}/stock") in reads
    assert len(reads) == len(REPORTS) + 2 + 1  # two charts, one dealer's stock


def test_the_cli_answers_what_the_api_answers(world: World, cli: CliRunner) -> None:
    moment = world.clock.now() - timedelta(days=2)
    east = world.dealers["east"]
    world.events("east", [(d, "product_view", "FT-500", moment) for d in east])
    world.events("east", [(east[0], "add_to_cart", "FT-500", moment + timedelta(minutes=3))])
    query = {"days": 10, "end": UNTIL, "breakdown": "tier"}

    api = world.hq_client().get(f"{BASE}/funnel", params=query)
    arguments = ["--days", "10", "--until", UNTIL, "--breakdown", "tier", "--json"]
    printed = cli.invoke(app, ["funnel", *arguments])

    assert api.status_code == 200, api.text
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.output[printed.output.index("{") :]) == api.json()


def test_a_report_writes_its_tables_as_csv(world: World, cli: CliRunner, tmp_path: Path) -> None:
    moment = world.clock.now() - timedelta(days=2)
    for site in ("east", "west"):
        world.events(site, [(d, "product_view", "FT-500", moment) for d in world.dealers[site]])
    funnel, kpis = tmp_path / "funnel.csv", tmp_path / "out" / "kpis.csv"

    by_site = cli.invoke(
        app, ["funnel", "--until", UNTIL, "--breakdown", "site", "--csv", str(funnel)]
    )
    totals = cli.invoke(app, ["kpis", "--site", "west", "--until", UNTIL, "--csv", str(kpis)])

    assert by_site.exit_code == 0, by_site.output
    rows = list(csv.DictReader(io.StringIO(funnel.read_text())))
    reached = {(row["table"], row["type"]): int(row["reached"]) for row in rows}
    assert reached[("all", "product_view")] == 16
    assert reached[("east", "product_view")] == reached[("west", "product_view")] == 8
    assert reached[("all", "add_to_cart")] == 0
    assert rows[0]["from start"] == "1.0"  # the value itself, not "100.0%"
    assert totals.exit_code == 0, totals.output
    kpi_rows = list(csv.DictReader(io.StringIO(kpis.read_text())))
    assert [row["site"] for row in kpi_rows] == ["west", "total"]
    assert kpi_rows[0]["self-service"] == "0.0"


def test_csv_text_of_one_table_and_of_several() -> None:
    columns = [Column("sku", "sku"), Column("rate", lambda row: row.rate, lambda v: f"{v:.0%}")]
    first = [SimpleNamespace(sku="FT-500", rate=0.25), SimpleNamespace(sku="FT-200", rate=None)]
    one = Table("findings", "Rates", columns, first)
    two = Table("west", "West", columns, [SimpleNamespace(sku="LJ-500", rate=1)])

    assert csv_text([one]) == "sku,rate\nFT-500,0.25\nFT-200,\n"
    assert csv_text([one, two]) == (
        "table,sku,rate\nfindings,FT-500,0.25\nfindings,FT-200,\nwest,LJ-500,1\n"
    )
