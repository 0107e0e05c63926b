"""Commands contributed through ``vintry_register_commands`` become ``vintry <plugin> ...``."""

from __future__ import annotations

import typer
from typer.testing import CliRunner
from vintry.cli import add_plugin_commands
from vintry.hookspecs import hookimpl
from vintry.plugins import PluginHost


class _StockReport:
    """A plugin contributing one command group."""

    @hookimpl
    def vintry_register_commands(self, register: object) -> None:
        commands = typer.Typer(help="Stock reports.")

        @commands.command("report")
        def report(region: str) -> None:
            """Print a report for REGION."""
            typer.echo(f"report for {region}")

        register(commands)  # type: ignore[operator]


def test_a_plugin_command_is_mounted_under_the_plugin_name() -> None:
    host = PluginHost(entry_points=lambda: [], builtins=())
    assert host.register("stock", _StockReport()).status == "loaded"
    app = typer.Typer()

    @app.command("noop")
    def noop() -> None:
        """A kernel command, so the app has more than one."""

    add_plugin_commands(app, host)
    result = CliRunner().invoke(app, ["stock", "report", "east"])
    assert result.exit_code == 0, result.output
    assert "report for east" in result.output


def test_a_failed_plugin_contributes_no_command() -> None:
    class Broken(_StockReport):
        @hookimpl
        def vintry_regster_routes(self, register: object) -> None:
            """Misspelled: the plugin is refused, commands included."""

    host = PluginHost(entry_points=lambda: [], builtins=())
    assert host.register("broken", Broken()).status == "failed"
    app = typer.Typer()

    @app.command("noop")
    def noop() -> None:
        """A kernel command."""

    add_plugin_commands(app, host)
    result = CliRunner().invoke(app, ["broken", "report", "east"])
    assert result.exit_code != 0
