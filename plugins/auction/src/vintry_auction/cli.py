"""``vintry auction ...``: the sweep, for a scheduler (cron, a systemd timer)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="Auctions: close lots past their end and settle their orders.", no_args_is_help=True
)


@app.command("sweep")
def sweep_command(
    site: list[str] = typer.Option(  # noqa: B008
        [], "--site", "-s", help="Site code (repeatable); default: every site where it is on."
    ),
) -> None:
    """Hold lots not yet held, close lots past their end, settle pending sales."""
    from vintry.cli.platform import open_platform

    from vintry_auction import PLUGIN_NAME
    from vintry_auction.service import close_due

    with open_platform() as platform:
        codes = site or list(platform.directory().nodes)
        table = Table("site", "opened", "closed", "orders placed", "orders failed")
        for code in codes:
            context = platform.site(code)
            if not context.is_enabled(PLUGIN_NAME):
                if site:
                    raise typer.BadParameter(f"the auction plugin is not enabled on {code!r}")
                continue
            report = close_due(context)
            table.add_row(
                code,
                str(report.opened),
                str(report.closed),
                str(report.orders_placed),
                str(report.orders_failed),
            )
        Console().print(table)
