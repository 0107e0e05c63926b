"""``vintry stock``: levels, receipts, adjustments, the sweeper and the ledger check.

The command line acts for HQ: it sees every warehouse, and its changes are audited as
``cli:<os user>``.
"""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from vintry.cli.console import console, err_console
from vintry.cli.platform import cli_actor, initialised_directory, open_platform
from vintry.inventory.stock_api import (
    StockAdjustment,
    StockChangeOut,
    StockReceipt,
    adjust_stock,
    ledger_check,
    receive_stock,
    stock_levels,
    stock_reach,
    sweep_expired,
)

app = typer.Typer(help="Stock per warehouse: levels, receipts, adjustments.", no_args_is_help=True)


@app.command("show")
def show(
    sku: str | None = typer.Option(None, "--sku", help="Only this SKU code."),
    warehouse: str | None = typer.Option(None, "--warehouse", help="Only this warehouse code."),
) -> None:
    """Show on hand, reserved and available per SKU and warehouse."""
    with open_platform() as platform:
        directory, _root = initialised_directory(platform)
        with platform.hq.reading() as session:
            levels = stock_levels(
                session,
                stock_reach(session, directory, None),
                now=platform.clock.now(),
                sku=sku,
                warehouse=warehouse,
                limit=None,
            )
    table = Table(title=f"Stock ({len(levels)} SKU(s))")
    for column in ("sku", "warehouse", "on hand", "reserved", "expired", "available"):
        table.add_column(column, justify="left" if column in ("sku", "warehouse") else "right")
    for level in levels:
        for place in level.warehouses:
            table.add_row(
                escape(level.sku),
                escape(place.warehouse),
                str(place.on_hand),
                str(place.reserved),
                str(place.expired) if place.expired else "-",
                str(place.available) if place.available else "[red]0[/red]",
            )
    console.print(table)


def _print_change(verb: str, change: StockChangeOut) -> None:
    console.print(
        f"{verb} [bold]{escape(change.sku)}[/bold] at {escape(change.warehouse)}: "
        f"{change.on_hand} on hand, {change.reserved} reserved, {change.available} available."
    )


@app.command("receive")
def receive(
    warehouse: str = typer.Argument(..., help="Warehouse code."),
    sku: str = typer.Argument(..., help="SKU code."),
    quantity: int = typer.Argument(..., help="Units received."),
    note: str | None = typer.Option(None, "--note", help="Delivery note, supplier, batch."),
    reference: str | None = typer.Option(None, "--reference", help="Delivery number."),
) -> None:
    """Record a goods receipt of QUANTITY units of SKU into WAREHOUSE."""
    with open_platform() as platform:
        initialised_directory(platform)
        request = StockReceipt(
            warehouse=warehouse, sku=sku, quantity=quantity, note=note, reference=reference
        )
        change = receive_stock(platform, request, actor=cli_actor())
    _print_change("Received", change)


# ignore_unknown_options: a negative DELTA such as -2 is a value, not an option.
@app.command("adjust", context_settings={"ignore_unknown_options": True})
def adjust(
    warehouse: str = typer.Argument(..., help="Warehouse code."),
    sku: str = typer.Argument(..., help="SKU code."),
    delta: int = typer.Argument(..., help="Units to add, or to remove when negative."),
    note: str = typer.Option(..., "--note", help="Why (a count, breakage); required."),
) -> None:
    """Correct the units of SKU on hand in WAREHOUSE by DELTA."""
    with open_platform() as platform:
        initialised_directory(platform)
        request = StockAdjustment(warehouse=warehouse, sku=sku, delta=delta, note=note)
        change = adjust_stock(platform, request, actor=cli_actor())
    _print_change("Adjusted", change)


@app.command("sweep")
def sweep() -> None:
    """Release every hold whose time ran out, now."""
    with open_platform() as platform:
        initialised_directory(platform)
        result = sweep_expired(platform)
    console.print(f"Released {result.released_units} unit(s) of expired holds.")


@app.command("check")
def check() -> None:
    """Check that every stock row equals the sum of its ledger; exit 1 if not."""
    with open_platform() as platform:
        directory, _root = initialised_directory(platform)
        with platform.hq.reading() as session:
            result = ledger_check(session, stock_reach(session, directory, None))
    if result.ok:
        console.print("The ledger matches the stock of every warehouse.")
        return
    table = Table(title=f"Ledger discrepancies ({len(result.discrepancies)})")
    for column in ("warehouse", "sku", "on hand", "ledger", "reserved", "ledger"):
        table.add_column(column)
    for found in result.discrepancies:
        table.add_row(
            escape(found.warehouse),
            escape(found.sku),
            str(found.on_hand),
            str(found.ledger_on_hand),
            str(found.reserved),
            str(found.ledger_reserved),
        )
    err_console.print(table)
    raise typer.Exit(code=1)
