"""``vintry relay``: run the outbox relay, inspect it, handle its dead letters.

``vintry relay`` alone runs the relay as its own process until Ctrl-C or SIGTERM (it
finishes the pass in progress, so nothing is left half-applied).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import typer
from rich.markup import escape
from rich.table import Table

from vintry.cli.console import console, err_console, fail
from vintry.cli.platform import initialised_directory, open_platform
from vintry.events.dead_letters import list_dead_letters, relay_status, retry_dead_letter
from vintry.events.read_models import freshness, rebuild_site, verify_site
from vintry.events.relay import Relay, RelayReport
from vintry.events.schemas import DeadLetterOut

app = typer.Typer(
    help="The outbox relay: HQ changes to the site read models and the plugins.",
    invoke_without_command=True,
)


def _summary(report: RelayReport) -> str:
    parts = [
        f"cursor {report.cursor}",
        f"lag {report.lag}",
        f"applied {report.applied}",
        f"delivered {report.delivered}",
    ]
    if report.skipped:
        parts.append(f"already applied {report.skipped}")
    if report.failures:
        parts.append(f"[yellow]failures {report.failures}[/yellow]")
    if report.dead_lettered:
        parts.append(f"[red]dead-lettered {report.dead_lettered}[/red]")
    if report.rebuilt:
        parts.append(f"sites built {report.rebuilt}")
    if report.pending:
        parts.append(f"pending {report.pending}")
    if report.stream_error:
        parts.append(f"[yellow]Redis: {escape(report.stream_error)}[/yellow]")
    return " · ".join(parts)


@app.callback()
def run(
    ctx: typer.Context,
    poll_interval: float = typer.Option(
        1.0, "--poll-interval", min=0.05, max=60, help="Seconds to wait after an idle pass."
    ),
    batch: int = typer.Option(200, "--batch", min=1, max=10_000, help="Events read per pass."),
) -> None:
    """Run the relay until Ctrl-C or SIGTERM (subcommands inspect it instead)."""
    if ctx.invoked_subcommand is not None:
        return
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    totals = RelayReport()
    try:
        with open_platform() as platform:
            initialised_directory(platform)
            relay = Relay(platform)
            mode = "Redis Stream" if relay.stream is not None else "in-process"
            console.print(f"Relay {relay.consumer} started ({mode}); Ctrl-C stops it.")
            with console.status("starting", spinner="dots") as status:

                def on_pass(report: RelayReport) -> None:
                    totals.applied += report.applied
                    totals.delivered += report.delivered
                    totals.dead_lettered += report.dead_lettered
                    totals.failures += report.failures
                    totals.rebuilt += report.rebuilt
                    totals.cursor, totals.lag, totals.pending = (
                        report.cursor,
                        report.lag,
                        report.pending,
                    )
                    totals.stream_error = report.stream_error
                    status.update(_summary(totals))
                    if report.progressed and not console.is_terminal:
                        console.print(_summary(report))

                try:
                    relay.run_forever(stop, poll_interval, batch=batch, on_pass=on_pass)
                finally:
                    relay.close()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print(f"Relay stopped: {_summary(totals)}.")


@app.command("once")
def once(
    batch: int = typer.Option(200, "--batch", min=1, max=10_000, help="Events read per pass."),
) -> None:
    """Run one pass: apply and deliver up to BATCH new events, advance the cursor."""
    with open_platform() as platform:
        initialised_directory(platform)
        relay = Relay(platform)
        try:
            report = relay.run_once(batch)
        finally:
            relay.close()
    console.print(f"One pass: read {report.read}; {_summary(report)}.")


@app.command("status")
def status() -> None:
    """Show the cursor, the lag behind the outbox, open dead letters and site freshness."""
    with open_platform() as platform:
        directory, _root = initialised_directory(platform)
        state = relay_status(platform)
        sites = [freshness(platform, code) for code in sorted(directory.nodes)]
    lag = f"[red]{state.lag}[/red]" if state.lag else "0"
    letters = f"[red]{state.dead_letters}[/red]" if state.dead_letters else "0"
    console.print(
        f"Relay {state.consumer}: cursor {state.cursor} of {state.outbox_max_id}, lag {lag}, "
        f"dead letters {letters}."
    )
    table = Table(title="Site read models")
    for column in ("site", "last event", "applied at", "rebuilt at"):
        table.add_column(column)
    for site in sites:
        table.add_row(
            escape(site.site),
            str(site.last_event_id),
            site.applied_at.isoformat(timespec="seconds") if site.applied_at else "-",
            site.rebuilt_at.isoformat(timespec="seconds")
            if site.rebuilt_at
            else "[red]never[/red]",
        )
    console.print(table)


def _letters_table(letters: list[DeadLetterOut], title: str) -> Table:
    table = Table(title=title)
    for column in ("id", "event", "type", "site", "consumer", "attempts", "failed at", "error"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        table.add_row(
            str(letter.id),
            str(letter.event_id),
            escape(letter.type),
            escape(letter.site),
            escape(letter.consumer),
            str(letter.attempts),
            letter.failed_at.isoformat(timespec="seconds"),
            escape(letter.error) if letter.resolved_at is None else "[green]resolved[/green]",
        )
    return table


@app.command("dead-letters")
def dead_letters(
    retry: int | None = typer.Option(None, "--retry", min=1, help="Retry the dead letter ID."),
    include_resolved: bool = typer.Option(False, "--all", help="Also list resolved letters."),
) -> None:
    """List the dead letters, or retry one with --retry ID (exit 1 if it fails again)."""
    with open_platform() as platform:
        initialised_directory(platform)
        if retry is None:
            letters = list_dead_letters(platform, include_resolved=include_resolved, limit=None)
            console.print(_letters_table(letters, f"Dead letters ({len(letters)})"))
            return
        letter = retry_dead_letter(platform, retry)
    if letter.resolved_at is None:
        err_console.print(_letters_table([letter], "Still failing"))
        raise fail("retry_failed", f"dead letter {letter.id} failed again: {letter.error}")
    console.print(
        f"Dead letter {letter.id} resolved: event {letter.event_id} ({escape(letter.type)}) "
        f"applied for {escape(letter.consumer)}."
    )


@app.command("rebuild")
def rebuild(
    site: list[str] = typer.Argument(None, help="Site codes; every site when omitted."),
) -> None:
    """Rebuild sites' read models wholesale from HQ (repair; safe while the relay runs)."""
    with open_platform() as platform:
        directory, _root = initialised_directory(platform)
        codes = site or sorted(directory.nodes)
        for code in codes:
            report = rebuild_site(platform, code)
            console.print(
                f"Rebuilt {escape(code)}: {report.catalog} catalog items, {report.dealers} "
                f"dealers, {report.orders} orders (through event {report.rebuilt_through})."
            )


@app.command("verify")
def verify(
    site: list[str] = typer.Argument(None, help="Site codes; every site when omitted."),
) -> None:
    """Compare sites' read models with HQ; exit 1 naming the differences if any."""
    with open_platform() as platform:
        directory, _root = initialised_directory(platform)
        codes = site or sorted(directory.nodes)
        drifted = 0
        for code in codes:
            differences = verify_site(platform, code)
            if differences:
                drifted += 1
                console.print(f"[red]{escape(code)}[/red]: {len(differences)} difference(s)")
                for line in differences[:20]:
                    console.print(f"  {escape(line)}")
            else:
                console.print(f"{escape(code)}: in step with HQ")
    if drifted:
        raise fail(
            "read_models_drift",
            f"{drifted} site(s) differ from HQ (the relay may be behind; see `vintry relay "
            "status`, or repair with `vintry relay rebuild`)",
        )
