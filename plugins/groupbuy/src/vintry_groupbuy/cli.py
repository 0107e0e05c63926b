"""``vintry groupbuy ...``: the sweep, for a scheduler (cron, a systemd timer)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="Group buys: fail expired groups, settle successful ones.", no_args_is_help=True
)


@app.command("sweep")
def sweep_command(
    site: list[str] = typer.Option(  # noqa: B008
        [], "--site", "-s", help="Site code (repeatable); default: every site where it is on."
    ),
) -> None:
    """Fail expired groups (holds released), settle closed successful ones (orders placed)."""
    from vintry.cli.platform import open_platform

    from vintry_groupbuy import PLUGIN_NAME
    from vintry_groupbuy.service import sweep

    with open_platform() as platform:
        codes = site or list(platform.directory().nodes)
        table = Table(
            "site", "failed", "settled", "orders placed", "orders failed", "holds released"
        )
        for code in codes:
            context = platform.site(code)
            if not context.is_enabled(PLUGIN_NAME):
                if site:
                    raise typer.BadParameter(f"the groupbuy plugin is not enabled on {code!r}")
                continue
            report = sweep(context)
            table.add_row(
                code,
                str(report.failed),
                str(report.settled),
                str(report.orders_placed),
                str(report.orders_failed),
                str(report.holds_released),
            )
        Console().print(table)
