"""The ``vintry`` command line: one typer app, its commands split by domain."""

from __future__ import annotations

import typer

from vintry.cli import dealers, plugins, serve, setup, sites, tokens, users

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
app.add_typer(users.app, name="user")
app.add_typer(tokens.app, name="token")
app.add_typer(plugins.app, name="plugins")


def main() -> None:
    """Run the ``vintry`` command (the console-script entry point)."""
    app()


__all__ = ["app", "main"]
