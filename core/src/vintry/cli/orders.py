"""``vintry orders``: list and show orders; the expiry sweep and the claims sweeper for cron.

The command line acts for HQ: it sees every order. ``expire`` and ``sweep-claims`` are the
two periodic jobs of ordering; each run is safe to repeat and to overlap with another.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from vintry.cli.console import console
from vintry.cli.platform import initialised_directory, open_platform
from vintry.money import from_fen
from vintry.orders.lifecycle import expire_unpaid
from vintry.orders.listing import MAX_PAGE, OrderRecord, list_orders, order_record
from vintry.orders.models import OrderStatus
from vintry.orders.placement import sweep_claims
from vintry.platform import Platform

app = typer.Typer(help="Orders: list, show, and the periodic sweeps.", no_args_is_help=True)

EXPIRE_BATCH = 500
"""Orders one expiry pass cancels per query; a pass repeats until a query finds fewer."""
NUMBERS_SHOWN = 20


def _at(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def _yuan(fen: int) -> str:
    return f"{from_fen(fen):,.2f}"


# --- reading ------------------------------------------------------------------------------


@app.command("list")
def list_command(
    site: str | None = typer.Option(None, "--site", help="Only this site and those below it."),
    dealer: str | None = typer.Option(None, "--dealer", help="Only this dealer's orders."),
    status: OrderStatus | None = typer.Option(None, "--status", help="Only orders in this status."),
    before: str | None = typer.Option(
        None, "--before", help="Start after this order number (the next page)."
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=MAX_PAGE, help="Orders per page."),
) -> None:
    """List orders, newest first, a page at a time."""
    with open_platform() as platform:
        directory, _root = initialised_directory(platform)
        with platform.hq.reading() as session:
            page = list_orders(
                session,
                directory,
                site=site,
                dealer=dealer,
                status=status,
                before=before,
                limit=limit,
            )
    table = Table(title=f"Orders ({len(page.items)} shown)")
    for column in ("number", "placed at", "site", "dealer", "status"):
        table.add_column(column)
    for column in ("lines", "units", "total"):
        table.add_column(column, justify="right")
    for item in page.items:
        table.add_row(
            escape(item.number),
            _at(item.placed_at),
            escape(item.site),
            escape(item.dealer),
            _status(item.status),
            str(item.lines),
            str(item.units),
            _yuan(item.total_fen),
        )
    console.print(table)
    if page.next_before is not None:
        console.print(f"More: --before {escape(page.next_before)}")


_STATUS_STYLE = {
    OrderStatus.PLACED.value: "yellow",
    OrderStatus.PAID.value: "cyan",
    OrderStatus.DELIVERED.value: "green",
    OrderStatus.CANCELLED.value: "red",
}


def _status(status: str) -> str:
    style = _STATUS_STYLE.get(status)
    return f"[{style}]{escape(status)}[/{style}]" if style else escape(status)


@app.command("show")
def show(number: str = typer.Argument(..., help="The order number.")) -> None:
    """Show one order: lines and allocations, price breakdown, history, payments, returns."""
    with open_platform() as platform:
        directory, _root = initialised_directory(platform)
        with platform.hq.reading() as session:
            record = order_record(session, directory, number)
    _print_record(record)


def _print_record(record: OrderRecord) -> None:
    order = record.order
    console.print(
        f"[bold]Order {escape(order.number)}[/bold] · site {escape(record.site)} · dealer "
        f"{escape(record.dealer)} ({escape(record.dealer_name)}) · {_status(order.status)}"
    )
    console.print(
        f"Placed {_at(order.placed_at)} · pay by {_at(order.pay_by)} · paid {_at(order.paid_at)}"
        + (
            f" · cancelled {_at(order.cancelled_at)} ({escape(order.cancel_reason or '')})"
            if order.cancelled_at
            else ""
        )
    )
    if order.note:
        console.print(f"Note: {escape(order.note)}")

    lines = Table(title="Lines")
    for column in ("#", "sku", "name", "qty", "base unit", "unit", "discount", "total"):
        lines.add_column(column, justify="left" if column in ("sku", "name") else "right")
    for column in ("shipped", "returned", "allocations"):
        lines.add_column(column, justify="left" if column == "allocations" else "right")
    for entry in record.lines:
        line = entry.line
        lines.add_row(
            str(line.line_no),
            escape(line.sku_code),
            escape(line.name),
            str(line.quantity),
            _yuan(line.base_unit_fen),
            _yuan(line.unit_fen),
            _yuan(line.discount_fen),
            _yuan(line.total_fen),
            str(line.shipped_quantity),
            str(line.returned_quantity),
            ", ".join(f"{escape(code)} ×{units}" for code, units in entry.allocations) or "-",
        )
    console.print(lines)
    _print_pricing(order.pricing, order.subtotal_fen, order.discount_fen, order.total_fen)
    _print_history(record)
    if record.payments:
        payments = Table(title="Payments and refunds")
        for column in ("at", "method", "provider", "amount", "reference"):
            payments.add_column(column, justify="right" if column == "amount" else "left")
        for payment in record.payments:
            payments.add_row(
                _at(payment.created_at),
                escape(payment.method),
                escape(payment.provider),
                _yuan(payment.amount_fen),
                escape(payment.reference or "-"),
            )
        console.print(payments)
    if record.returns:
        returns = Table(title="Returns")
        for column in ("number", "requested", "status", "reason", "refund"):
            returns.add_column(column, justify="right" if column == "refund" else "left")
        for found in record.returns:
            reason = found.reason_code + (f": {found.reason_text}" if found.reason_text else "")
            returns.add_row(
                escape(found.number),
                _at(found.requested_at),
                escape(found.status),
                escape(reason),
                _yuan(found.refund_fen),
            )
        console.print(returns)


def _print_pricing(
    pricing: dict[str, Any], subtotal_fen: int, discount_fen: int, total_fen: int
) -> None:
    """The breakdown the pipeline stored with the order: adjustments applied, and why the
    other candidates lost."""
    console.print(
        f"Price: subtotal {_yuan(subtotal_fen)} − discount {_yuan(discount_fen)} = "
        f"[bold]{_yuan(total_fen)}[/bold]"
    )
    for title, entries in (
        ("applied", pricing.get("applied") or []),
        ("not applied", pricing.get("rejected") or []),
    ):
        for entry in entries:
            source = entry.get("campaign") or entry.get("source") or "?"
            why = entry.get("lost_because")
            console.print(
                f"  {title}: {escape(str(source))} −{escape(str(entry.get('amount', '0')))}"
                f" ({escape(str(entry.get('reason') or ''))})"
                + (f" — {escape(str(why))}" if why else "")
            )


def _print_history(record: OrderRecord) -> None:
    # At one instant a tracking node comes first: it is what moved the order's status.
    events: list[tuple[datetime, int, str, str]] = [
        (entry.at, 1, _status(entry.status), escape(entry.reason or ""))
        for entry in record.timeline.statuses
    ]
    for shipment in record.timeline.shipments:
        events.extend(
            (
                event.at,
                0,
                f"  {escape(event.node)}",
                f"{escape(shipment.shipment.number)} from {escape(shipment.warehouse)}"
                + (f" · {escape(event.location)}" if event.location else ""),
            )
            for event in shipment.tracking
        )
    events.sort(key=lambda item: (item[0], item[1]))
    history = Table(title="History")
    for column in ("at", "status / node", "detail"):
        history.add_column(column)
    for at, _rank, what, detail in events:
        history.add_row(_at(at), what, detail)
    console.print(history)
    arrival = record.timeline.estimated_arrival
    if arrival is not None:
        console.print(f"Estimated arrival: {_at(arrival)}")


# --- the periodic jobs --------------------------------------------------------------------


def _expire_all(platform: Platform) -> list[str]:
    """One sweep: cancel every unpaid order past its pay-by time, a batch at a time."""
    cancelled: list[str] = []
    while True:
        batch = expire_unpaid(platform, limit=EXPIRE_BATCH)
        cancelled.extend(batch)
        if len(batch) < EXPIRE_BATCH:
            return cancelled


def _pause(stop: threading.Event, seconds: float) -> None:
    """Wait between two passes of ``--every``; returns early when asked to stop."""
    stop.wait(seconds)


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by Ctrl-C or SIGTERM while the block runs (the pass in progress ends
    first); the previous handlers come back afterwards."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _numbers(numbers: list[str]) -> str:
    shown = ", ".join(numbers[:NUMBERS_SHOWN])
    more = len(numbers) - NUMBERS_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


@app.command("expire")
def expire(
    every: float | None = typer.Option(
        None,
        "--every",
        min=1,
        help="Repeat every SECONDS until Ctrl-C or SIGTERM (default: one sweep, for cron).",
    ),
) -> None:
    """Cancel unpaid orders past their pay-by time, releasing their stock."""
    with open_platform() as platform:
        initialised_directory(platform)
        if every is None:
            cancelled = _expire_all(platform)
            console.print(f"Cancelled {len(cancelled)} unpaid order(s) past their pay-by time.")
            if cancelled:
                console.print(_numbers(cancelled))
            return
        _expire_every(platform, every)


def _expire_every(platform: Platform, every: float) -> None:
    """Sweep now and every *every* seconds until stopped, with a status line."""
    passes = total = 0
    console.print(f"Expiry sweep every {every:g}s started; Ctrl-C stops it.")
    with _stop_on_signals() as stop, console.status("starting", spinner="dots") as status:
        while not stop.is_set():
            cancelled = _expire_all(platform)
            passes += 1
            total += len(cancelled)
            line = (
                f"pass {passes} at {_at(platform.clock.now())}: cancelled {len(cancelled)} · "
                f"{total} in total · next in {every:g}s"
            )
            status.update(line)
            if cancelled and not console.is_terminal:
                console.print(f"{line} ({_numbers(cancelled)})")
            _pause(stop, every)
    console.print(f"Expiry sweep stopped after {passes} pass(es): {total} order(s) cancelled.")


@app.command("sweep-claims")
def sweep_claims_command(
    older_than: float = typer.Option(
        5.0,
        "--older-than",
        min=0,
        help="Only claims pending for at least this many minutes (a placement may be running).",
    ),
) -> None:
    """Settle the saga claims a crashed placement left pending in the site databases."""
    with open_platform() as platform:
        initialised_directory(platform)
        outcome = sweep_claims(platform, older_than=timedelta(minutes=older_than))
    console.print(
        f"Pending claims settled: {outcome['confirmed']} confirmed (their order reached HQ), "
        f"{outcome['released']} released (it never did); {outcome['failed']} could not be "
        "released (their plugin failed) and stay pending for the next sweep."
    )
