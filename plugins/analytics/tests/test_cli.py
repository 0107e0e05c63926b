"""``vintry analytics ...``: reports with evidence, charts written to files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from vintry_analytics import PLUGIN_NAME
from vintry_analytics.cli import app

from .conftest import UNTIL, World


def test_funnel_and_trend_reports_write_svg_charts(
    world: World, cli: CliRunner, tmp_path: Path
) -> None:
    moment = world.clock.now() - timedelta(days=2)
    world.events("east", [(d, "product_view", "FT-500", moment) for d in world.dealers["east"]])
    world.events(
        "east", [(world.dealers["east"][0], "add_to_cart", "FT-500", moment + timedelta(minutes=3))]
    )
    chart, trend = tmp_path / "charts" / "funnel.svg", tmp_path / "trend.svg"

    funnel = cli.invoke(app, ["funnel", "--until", UNTIL, "--svg", str(chart)])
    daily = cli.invoke(
        app, ["trend", "--site", "east", "--days", "5", "--until", UNTIL, "--svg", str(trend)]
    )

    assert funnel.exit_code == 0, funnel.output
    assert "all: 8 entrants" in funnel.output and "add_to_cart" in funnel.output
    assert chart.read_text().startswith("<svg") and "8  (100%)" in chart.read_text()
    assert daily.exit_code == 0, daily.output
    assert "<polyline" in trend.read_text()


def test_insight_reports_print_their_evidence(world: World, cli: CliRunner) -> None:
    moment = world.clock.now() - timedelta(days=2)
    world.events("west", [(d, "product_view", "FT-200", moment) for d in world.dealers["west"]])

    blocked = cli.invoke(app, ["blocked-demand", "--until", UNTIL])
    as_json = cli.invoke(app, ["kpis", "--site", "west", "--until", UNTIL, "--json"])
    slow = cli.invoke(app, ["slow-movers", "--site", "east", "--until", UNTIL])
    others = [
        cli.invoke(app, [name, "--until", UNTIL]) for name in ("dealer-slowdown", "return-outliers")
    ]
    stock = cli.invoke(app, ["dealer-stock"])

    assert blocked.exit_code == 0, blocked.output
    assert "FT-200" in blocked.output and "viewers=8" in blocked.output
    assert as_json.exit_code == 0, as_json.output
    assert '"self_service_rate": 0.0' in as_json.output
    assert slow.exit_code == 0 and "days_of_cover=∞" in slow.output
    assert all(result.exit_code == 0 for result in [*others, stock])
    assert "nothing found" in others[0].output


def test_reports_refuse_a_subtree_without_the_plugin(world: World, cli: CliRunner) -> None:
    world.factory.enable_plugin(PLUGIN_NAME, "west", state="off")

    result = cli.invoke(app, ["kpis", "--site", "west"])
    bad_time = cli.invoke(app, ["kpis", "--until", "tomorrow"])

    assert result.exit_code == 1
    assert "plugin_not_enabled" in result.output
    assert bad_time.exit_code == 1 and "until" in bad_time.output


def test_the_tracker_can_be_written_for_static_hosting(cli: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "tracker.js"
    result = cli.invoke(app, ["tracker", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert "VintryTracker" in target.read_text()
