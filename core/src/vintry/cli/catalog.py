"""``vintry catalog``: the HQ product library from the command line."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from vintry.catalog.importer import COLUMNS, import_catalog, read_catalog_csv
from vintry.cli.console import console, err_console, progress_bar
from vintry.cli.platform import cli_actor, initialised_directory, open_platform

app = typer.Typer(help="The HQ product library: brands, products, SKUs.", no_args_is_help=True)


@app.command("import")
def import_command(
    file: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        readable=True,
        help=f"A UTF-8 CSV with the columns {', '.join(COLUMNS)}.",
    ),
    batch_size: int = typer.Option(500, min=1, max=10_000, help="Rows per transaction."),
) -> None:
    """Import (upsert by code) the brands, categories, products and SKUs of FILE.

    Valid rows are imported; every bad row is reported with its line and why, and the
    command then exits with status 1. Running it again changes nothing.
    """
    started = time.perf_counter()
    with open_platform() as platform:
        initialised_directory(platform)
        rows = read_catalog_csv(file)
        with progress_bar() as progress:
            task = progress.add_task(f"Importing {escape(file.name)}", total=len(rows))
            report = import_catalog(
                platform,
                rows,
                actor=cli_actor(),
                on_row=lambda _line: progress.advance(task),
                batch_size=batch_size,
            )
    console.print(f"{escape(file.name)}: {report.rows} row(s)")
    table = Table()
    table.add_column("rows")
    table.add_column("count", justify="right")
    for outcome, count in report.counts().items():
        table.add_row(outcome, str(count))
    console.print(table)
    if report.objects_created:
        made = ", ".join(
            f"{count} {kind}(s)" for kind, count in sorted(report.objects_created.items())
        )
        console.print(f"Created {made}.")
    for problem in report.problems:
        sku = f" (SKU {escape(problem.sku)})" if problem.sku else ""
        err_console.print(
            f"[red]rejected[/red] line {problem.line}{sku}: "
            f"{escape(problem.field) + ': ' if problem.field else ''}{escape(problem.reason)}",
            soft_wrap=True,
        )
    elapsed = time.perf_counter() - started
    if report.rejected:
        console.print(
            f"[yellow]Imported what was valid in {elapsed:.1f}s; "
            f"{report.rejected} row(s) rejected.[/yellow]"
        )
        raise typer.Exit(code=1)
    console.print(f"[green]Done[/green] in {elapsed:.1f}s.")
