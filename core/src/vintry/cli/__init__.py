"""The ``vintry`` command line: one typer app, its commands split by domain."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from vintry.plugins import PluginHost

from vintry.cli import (
    catalog,
    dealers,
    orders,
    plugins,
    relay,
    serve,
    setup,
    sites,
    sourcing,
    stock,
    tokens,
    users,
)

app = typer.Typer(
    name="vintry",
    help="Vintry: HQ and regional malls of a brand's dealer-ordering platform.",
    no_args_is_help=True,
    # Locals in a traceback can hold token secrets and database passwords.
    pretty_exceptions_show_locals=False,
)
app.add_typer(setup.app)
app.add_typer(serve.app)
app.add_typer(sites.app, name="site")
app.add_typer(dealers.app, name="dealer")
app.add_typer(catalog.app, name="catalog")
app.add_typer(users.app, name="user")
app.add_typer(tokens.app, name="token")
app.add_typer(plugins.app, name="plugins")
app.add_typer(stock.app, name="stock")
app.add_typer(orders.app, name="orders")
app.add_typer(relay.app, name="relay")
app.add_typer(sourcing.app, name="sourcing")


def add_plugin_commands(target: typer.Typer, host: PluginHost | None = None) -> None:
    """Mount every loaded plugin's typer apps as ``vintry <plugin> ...``.

    Only the plugin host is needed (no database), so a broken HQ never hides commands; a
    settings error leaves the kernel's commands working and is reported when they run.
    """
    from pydantic import ValidationError

    from vintry.plugins import PluginHost
    from vintry.settings import VintrySettings

    if host is None:
        try:
            host = PluginHost(allow=VintrySettings().load_plugins)
        except (ValidationError, OSError):
            return
    for record in host.loaded():
        for command_app in record.contribution.command_apps:
            target.add_typer(command_app, name=record.name)


def main() -> None:
    """Run the ``vintry`` command (the console-script entry point)."""
    add_plugin_commands(app)
    app()


__all__ = ["app", "main"]
