"""What every command shares for output: the consoles, progress bars and error reporting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from vintry.errors import VintryError

# Rich resolves sys.stdout/sys.stderr at write time, so these follow redirection (and
# typer's CliRunner in tests) without being rebuilt.
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def progress_bar() -> Progress:
    """A progress bar for a loop over sites: spinner, description, bar, n/total, elapsed."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def fail(code: str, message: str, field: str | None = None) -> typer.Exit:
    """Print one red error line naming *code* (and *field*); return the exit to raise."""
    where = f" (field: {escape(field)})" if field else ""
    # soft_wrap keeps the message on one line however narrow the terminal is.
    err_console.print(
        f"[bold red]error[/bold red] [red]{escape(code)}[/red]: {escape(message)}{where}",
        soft_wrap=True,
    )
    return typer.Exit(code=1)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn expected errors into a one-line message and exit code 1, never a traceback.

    Expected means a :class:`~vintry.errors.VintryError` raised by a service, or a pydantic
    ``ValidationError`` from a request model built from command-line arguments. Anything
    else is a bug and keeps its traceback.
    """
    try:
        yield
    except VintryError as error:
        raise fail(error.code, error.message, error.field) from None
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise fail("invalid_input", first["msg"], field) from None
