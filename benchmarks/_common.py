"""Helpers shared by the benchmark scripts. Not a benchmark itself.

Each script imports this module as ``_common``. The script's folder is first on
``sys.path`` when it runs as ``python benchmarks/<name>.py``.

Rules every script follows:

* figures are per operation: median, p95, and ops/s (1 / mean, one caller);
* each table has a **baseline** row measured in the same run, and the other rows show a
  ratio to it. The machine is noisy, so read the ratios, not the absolute numbers;
* cases are measured *interleaved* (round robin, in small batches, with the start rotating),
  so a burst of noise hits every case and not only one;
* every loop stops at a count or at a time budget, whichever comes first.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import platform as _platform
import re
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

console = Console(width=None if sys.stdout.isatty() else 140, highlight=False)

# --- figures ---------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The *q* percentile (0..100) of *values*, linearly interpolated."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Stats:
    """Per-operation durations (seconds) of one case."""

    name: str
    samples: list[float] = field(default_factory=list)
    note: str = ""
    errors: int = 0

    @property
    def n(self) -> int:
        """How many samples."""
        return len(self.samples)

    @property
    def median(self) -> float:
        """The median duration."""
        return statistics.median(self.samples) if self.samples else math.nan

    @property
    def p95(self) -> float:
        """The 95th percentile duration."""
        return percentile(self.samples, 95)

    @property
    def mean(self) -> float:
        """The mean duration."""
        return statistics.fmean(self.samples) if self.samples else math.nan

    @property
    def ops_per_second(self) -> float:
        """Operations per second for one sequential caller (1 / mean)."""
        mean = self.mean
        return 1 / mean if mean and mean > 0 else math.nan


def fmt_duration(seconds: float) -> str:
    """``12.3 µs``, ``4.56 ms`` or ``1.23 s``."""
    if seconds is None or math.isnan(seconds):
        return "-"
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_rate(value: float) -> str:
    """An ops/s figure with a sensible number of digits."""
    if value is None or math.isnan(value):
        return "-"
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e4:
        return f"{value / 1e3:.1f} k"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}"


def fmt_ratio(value: float) -> str:
    """``×3.21``."""
    if value is None or math.isnan(value) or math.isinf(value):
        return "-"
    return f"×{value:.2f}" if value < 100 else f"×{value:.0f}"


def stats_table(
    title: str,
    rows: Sequence[Stats],
    *,
    baseline: str | None,
    show_delta: bool = True,
    rate_label: str = "ops/s",
    caption: str | None = None,
) -> Table:
    """A table of *rows* with a ratio (medians) to the row named *baseline*."""
    base = next((row for row in rows if row.name == baseline), None)
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    table.add_column("case")
    table.add_column("n", justify="right")
    table.add_column("median", justify="right")
    table.add_column("p95", justify="right")
    table.add_column(rate_label, justify="right")
    if base is not None:
        table.add_column("× baseline", justify="right")
        if show_delta:
            table.add_column("Δ median", justify="right")
    table.add_column("note")
    for row in rows:
        cells = [
            Text(row.name, style="bold" if row is base else ""),
            str(row.n) + (f" ({row.errors} err)" if row.errors else ""),
            fmt_duration(row.median),
            fmt_duration(row.p95),
            fmt_rate(row.ops_per_second),
        ]
        if base is not None:
            if row is base:
                cells.append("baseline")
                if show_delta:
                    cells.append("")
            else:
                cells.append(fmt_ratio(row.median / base.median) if base.median else "-")
                if show_delta:
                    delta = row.median - base.median
                    cells.append(("+" if delta >= 0 else "−") + fmt_duration(abs(delta)))
        cells.append(row.note)
        table.add_row(*cells)
    return table


# --- measuring -------------------------------------------------------------------------


def interleave(
    cases: Mapping[str, Callable[[], object]],
    *,
    count: int,
    seconds: float,
    batch: int = 10,
    warmup: int = 3,
    units: Mapping[str, int] | None = None,
) -> dict[str, Stats]:
    """Time every case round robin, *batch* calls at a time, the first case rotating.

    Stops when every case has *count* samples or after *seconds*, whichever comes first.
    A case listed in *units* does that many operations per call: its sample is the call's
    time divided by it (a sweep over 320 sites gives a per-site figure).
    """
    units = units or {}
    names = list(cases)
    results = {name: Stats(name) for name in names}
    for name in names:
        for _ in range(warmup):
            cases[name]()
    gc.collect()
    clock = time.perf_counter
    deadline = clock() + seconds
    turn = 0
    while clock() < deadline:
        pending = [n for n in names if results[n].n < count]
        if not pending:
            break
        turn += 1
        start = turn % len(pending)
        for name in pending[start:] + pending[:start]:
            fn, divisor, samples = cases[name], units.get(name, 1), results[name].samples
            for _ in range(min(batch, count - len(samples))):
                began = clock()
                fn()
                samples.append((clock() - began) / divisor)
            if clock() >= deadline:
                break
    return results


async def interleave_async(
    cases: Mapping[str, Callable[[], Awaitable[object]]],
    *,
    count: int,
    seconds: float,
    batch: int = 10,
    warmup: int = 5,
) -> dict[str, Stats]:
    """:func:`interleave` for coroutines (one caller, sequential)."""
    names = list(cases)
    results = {name: Stats(name) for name in names}
    for name in names:
        for _ in range(warmup):
            await cases[name]()
    gc.collect()
    clock = time.perf_counter
    deadline = clock() + seconds
    turn = 0
    while clock() < deadline:
        pending = [n for n in names if results[n].n < count]
        if not pending:
            break
        turn += 1
        start = turn % len(pending)
        for name in pending[start:] + pending[:start]:
            fn, samples = cases[name], results[name].samples
            for _ in range(min(batch, count - len(samples))):
                began = clock()
                await fn()
                samples.append(clock() - began)
            if clock() >= deadline:
                break
    return results


def run_async(coro: Awaitable[Any]) -> Any:
    """Run *coro* on a fresh event loop."""
    return asyncio.run(coro)  # type: ignore[arg-type]


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    def __enter__(self) -> Stopwatch:
        self.began = time.perf_counter()
        self.seconds = math.nan
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.began


# --- SQL statement counting ------------------------------------------------------------


@dataclass
class StatementCount:
    """Statements sent and connections checked out while counting."""

    statements: Counter[str] = field(default_factory=Counter)
    checkouts: int = 0
    connects: int = 0
    pings: int = 0
    """Checkouts from pools with ``pool_pre_ping``: one extra round trip each, unseen by
    the statement events (SQLAlchemy pings on the raw DBAPI cursor)."""

    @property
    def total(self) -> int:
        """Every statement."""
        return sum(self.statements.values())


_FIRST_WORD = re.compile(r"^\s*(\w+)")


@contextmanager
def count_statements() -> Iterator[StatementCount]:
    """Count every SQL statement and pool checkout, on every engine, while inside."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    found = StatementCount()

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        match = _FIRST_WORD.match(statement)
        found.statements[(match.group(1) if match else "?").upper()] += 1

    def on_checkout(_dbapi: Any, _record: Any, proxy: Any) -> None:
        found.checkouts += 1
        if getattr(getattr(proxy, "_pool", None), "_pre_ping", False):
            found.pings += 1

    def on_connect(*_args: Any) -> None:
        found.connects += 1

    event.listen(Engine, "before_cursor_execute", on_execute)
    event.listen(Pool, "checkout", on_checkout)
    event.listen(Pool, "connect", on_connect)
    try:
        yield found
    finally:
        event.remove(Engine, "before_cursor_execute", on_execute)
        event.remove(Pool, "checkout", on_checkout)
        event.remove(Pool, "connect", on_connect)


# --- output ----------------------------------------------------------------------------


def header(title: str, what: str, why: str, *, read: str | None = None) -> None:
    """Print what a script measures, why, and how to read it, with the machine's state."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    body = f"[bold]What[/]: {what}\n[bold]Why[/]: {why}"
    if read:
        body += f"\n[bold]Read[/]: {read}"
    body += (
        f"\n[dim]Python {_platform.python_version()} on {_platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}. "
        "Figures are per operation, one caller, unless a table says otherwise.[/]"
    )
    console.print(Panel(body, title=f"[bold]{title}[/]", expand=True))


def section(title: str) -> None:
    """A rule between parts of a script's output."""
    console.rule(f"[bold]{title}")


def note(message: str) -> None:
    """A dim remark under a table."""
    console.print(f"[dim]{message}[/]")


def finding(message: str) -> None:
    """A hot spot or a bug the run exposed (yellow, so it stands out)."""
    console.print(f"[yellow]▲ {message}[/]")


def footer(started: float) -> None:
    """The script's wall time and the load average at its end."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    note(f"done in {time.perf_counter() - started:.1f} s; load average now {load[0]:.2f}")


# --- arguments ---------------------------------------------------------------------------


def argument_parser(description: str) -> argparse.ArgumentParser:
    """The options every script takes: ``--postgres URL`` and ``--quick``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="a PostgreSQL server URL (any database on it, e.g. "
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres); the script creates "
        "uniquely named databases and drops them at the end",
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer samples and smaller budgets (a smoke run)"
    )
    return parser


# --- platforms and scratch databases -----------------------------------------------------

BENCH_ACTOR_NAME = "benchmark"


def bench_actor() -> Any:
    """The audit-log actor the benchmarks act as."""
    from vintry.accounts.principal import Actor

    return Actor(name=BENCH_ACTOR_NAME)


def make_platform(
    data_dir: Path,
    *,
    hq_url: str | None = None,
    site_url: str | None = None,
    cache_size: int | None = None,
) -> Any:
    """A :class:`vintry.platform.Platform` on *data_dir* (SQLite unless URLs are given)."""
    from vintry.platform import Platform
    from vintry.settings import VintrySettings

    extra: dict[str, Any] = {}
    if cache_size is not None:
        extra["site_engine_cache_size"] = cache_size
    settings = VintrySettings(
        data_dir=data_dir, hq_database_url=hq_url, site_database_url=site_url, **extra
    )
    return Platform(settings)


class ScratchPostgres:
    """Uniquely named databases on a PostgreSQL server, all dropped by :meth:`drop_all`.

    Every database this object names starts with its ``prefix`` (``vtb_<label>_<hex>``),
    and ``drop_all`` removes exactly the databases with that prefix.
    """

    def __init__(self, server_url: str, label: str) -> None:
        from sqlalchemy.engine import make_url

        self.server = make_url(server_url)
        if self.server.get_backend_name() != "postgresql":
            raise SystemExit(f"--postgres needs a postgresql:// URL, not {server_url!r}")
        if self.server.drivername == "postgresql":
            self.server = self.server.set(drivername="postgresql+psycopg")
        self.prefix = f"vtb_{label}_{uuid.uuid4().hex[:8]}"

    def url(self, database: str, *, schema: str | None = None) -> str:
        """The URL of database *database* (and schema *schema*, ``{site}`` kept literal)."""
        url = self.server.set(database=database)
        if schema is not None:
            url = url.update_query_dict({"vintry_schema": schema})
        return url.render_as_string(hide_password=False).replace("%7Bsite%7D", "{site}")

    def hq_url(self, mode: str) -> str:
        """The HQ database of *mode* (``database`` or ``schema``)."""
        return self.url(f"{self.prefix}_{mode[:2]}hq")

    def site_template(self, mode: str) -> str:
        """``VINTRY_SITE_DATABASE_URL`` of *mode*: a database, or a schema, per site.

        Schema mode puts the site schemas in the HQ database (as the SDK harness does);
        database mode names ``<prefix>_da_<site>``, never the HQ database's name.
        """
        if mode == "schema":
            return self.url(f"{self.prefix}_{mode[:2]}hq", schema="site_{site}")
        return self.url(f"{self.prefix}_{mode[:2]}_" + "{site}")

    def _maintenance(self) -> Any:
        from sqlalchemy import create_engine

        return create_engine(self.server.set(database="postgres"), isolation_level="AUTOCOMMIT")

    def query(self, sql: str, **params: Any) -> list[Any]:
        """Rows of *sql*, run on the server's ``postgres`` database."""
        from sqlalchemy import text

        engine = self._maintenance()
        try:
            with engine.connect() as connection:
                return list(connection.execute(text(sql), params))
        finally:
            engine.dispose()

    def ours(self) -> list[str]:
        """Names of the databases this object created (by prefix)."""
        rows = self.query(
            "SELECT datname FROM pg_database WHERE left(datname, :n) = :p",
            n=len(self.prefix),
            p=self.prefix,
        )
        return [row[0] for row in rows]

    def connections(self, database: str | None = None) -> int:
        """Open connections to our databases (or to *database*)."""
        if database is not None:
            rows = self.query(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = :d", d=database
            )
        else:
            rows = self.query(
                "SELECT count(*) FROM pg_stat_activity WHERE left(datname, :n) = :p",
                n=len(self.prefix),
                p=self.prefix,
            )
        return int(rows[0][0])

    def connection_budget(self) -> tuple[int, int]:
        """(max_connections, connections still free for this client, less a margin of 10)."""
        rows = self.query(
            "SELECT current_setting('max_connections')::int, "
            "current_setting('superuser_reserved_connections')::int, "
            "(SELECT count(*) FROM pg_stat_activity)"
        )
        maximum, reserved, used = (int(v) for v in rows[0])
        return maximum, maximum - reserved - used - 10

    def drop_all(self) -> list[str]:
        """Drop every database with our prefix; return their names."""
        from vintry.db.engines import quote_identifier

        names = self.ours()
        engine = self._maintenance()
        try:
            with engine.connect() as connection:
                for name in names:
                    connection.exec_driver_sql(
                        f"DROP DATABASE IF EXISTS {quote_identifier(name)} WITH (FORCE)"
                    )
        finally:
            engine.dispose()
        return names


def check_postgres(server_url: str) -> str:
    """The server's version number, or exit with a clear message."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            version = str(connection.execute(text("SHOW server_version")).scalar())
            return version.split()[0]  # "15.20", without the distribution's suffix
    except Exception as error:
        raise SystemExit(f"cannot reach PostgreSQL at {server_url!r}: {error}") from None
    finally:
        engine.dispose()


def open_fds() -> int:
    """File descriptors this process holds (Linux), or -1."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


# --- SQL statements per operation ------------------------------------------------------

_PLACEHOLDER = re.compile(r"%\([^)]+\)s|\$\d+|%s")
_CAST = re.compile(r"::\w+(?:\(\d+(?:,\s*\d+)?\))?(?: WITH(?:OUT)? TIME ZONE)?(?:\[\])?")
_ROW_SEPARATOR = re.compile(r"\)\s*,\s*\(")
_PLACEHOLDER_LIST = re.compile(r"\?(?:\s*,\s*\?)+")
_VALUES_ROWS = re.compile(r"(VALUES\s*\([^()]*\))(?:\s*,\s*\([^()]*\))+", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def normalise_sql(statement: str) -> str:
    """*statement* with one placeholder style (``?``, PostgreSQL casts dropped), runs of
    placeholders as ``?…``, multi-row ``VALUES`` as one row plus ``, …``, and whitespace
    collapsed: statements that differ only in their parameters (or IN-list length) compare
    equal."""
    text = _WHITESPACE.sub(" ", statement).strip()
    text = _CAST.sub("", _PLACEHOLDER.sub("?", text))
    text = _PLACEHOLDER_LIST.sub("?…", text)
    return _VALUES_ROWS.sub(r"\1, …", text)


@dataclass
class LoggedStatement:
    """One statement as the driver received it, inside one operation."""

    database: str
    """A label for the engine (e.g. ``hq`` or ``site``)."""
    writing: bool
    """Sent in a transaction not opened read-only (``vintry_read_only``)."""
    text: str
    parameters: str
    """``repr`` of the parameters: equal text and equal parameters = the same statement."""
    rows: int
    """Rows of parameters: executemany's sets, or a multi-row VALUES's rows."""
    seconds: float = 0.0
    raw_parameters: Any = field(default=None, repr=False, compare=False)
    """The parameters as sent (to re-run the statement under EXPLAIN)."""

    @property
    def normalised(self) -> str:
        """:func:`normalise_sql` of the text."""
        return normalise_sql(self.text)

    @property
    def is_transaction_control(self) -> bool:
        """BEGIN, COMMIT, ROLLBACK, SAVEPOINT..."""
        return self.text.lstrip().upper().startswith(TRANSACTION_CONTROL)


@dataclass
class LoggedOperation:
    """What one operation (a request, a call) sent."""

    statements: list[LoggedStatement] = field(default_factory=list)
    transactions: Counter[tuple[str, bool]] = field(default_factory=Counter)
    """(database label, writing) → transactions begun."""
    checkouts: int = 0
    seconds: float = 0.0

    def data_statements(self) -> list[LoggedStatement]:
        """The statements that are not transaction control."""
        return [s for s in self.statements if not s.is_transaction_control]

    def duplicates(self) -> Counter[tuple[str, str, str]]:
        """(database, text, parameters) sent more than once → extra sends (count - 1)."""
        seen = Counter((s.database, s.text, s.parameters) for s in self.data_statements())
        return Counter({key: n - 1 for key, n in seen.items() if n > 1})


class StatementLog:
    """Statements, transactions and pool checkouts of every engine, grouped by operation.

    ``with log.operation(): ...`` collects what the block sends; anything sent outside an
    operation is ignored. *label* names an engine from its URL (``hq``, ``site``...).
    """

    def __init__(self, label: Callable[[Any], str]) -> None:
        self.label = label
        self.operations: list[LoggedOperation] = []
        self._current: LoggedOperation | None = None
        self._started: dict[int, float] = {}

    def _writing(self, connection: Any) -> bool:
        from vintry.db.engines import READ_ONLY_OPTION

        return not connection.get_execution_options().get(READ_ONLY_OPTION, False)

    def _before(
        self,
        connection: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        _context: Any,
        executemany: bool,
    ) -> None:
        if self._current is None:
            return
        if executemany and isinstance(parameters, list):
            rows = len(parameters)
        else:  # a multi-row VALUES (SQLAlchemy's insertmanyvalues) counts its rows
            values = statement.upper().rfind("VALUES")
            rows = 1 + len(_ROW_SEPARATOR.findall(statement, values)) if values >= 0 else 1
        self._current.statements.append(
            LoggedStatement(
                self.label(connection.engine),
                self._writing(connection),
                statement,
                repr(parameters),
                rows,
                raw_parameters=parameters,
            )
        )
        self._started[id(cursor)] = time.perf_counter()

    def _after(self, _connection: Any, cursor: Any, *_args: Any) -> None:
        began = self._started.pop(id(cursor), None)
        if self._current is not None and began is not None and self._current.statements:
            self._current.statements[-1].seconds = time.perf_counter() - began

    def _begin(self, connection: Any) -> None:
        if self._current is not None:
            self._current.transactions[
                (self.label(connection.engine), self._writing(connection))
            ] += 1

    def _checkout(self, *_args: Any) -> None:
        if self._current is not None:
            self._current.checkouts += 1

    @contextmanager
    def listening(self) -> Iterator[StatementLog]:
        """Listen on every engine and pool while inside."""
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
        from sqlalchemy.pool import Pool

        hooks: list[tuple[Any, str, Callable[..., Any]]] = [
            (Engine, "before_cursor_execute", self._before),
            (Engine, "after_cursor_execute", self._after),
            (Engine, "begin", self._begin),
            (Pool, "checkout", self._checkout),
        ]
        for target, name, fn in hooks:
            event.listen(target, name, fn)
        try:
            yield self
        finally:
            for target, name, fn in hooks:
                event.remove(target, name, fn)

    @contextmanager
    def operation(self) -> Iterator[LoggedOperation]:
        """Collect what the block sends as one operation."""
        current = LoggedOperation()
        self._current = current
        began = time.perf_counter()
        try:
            yield current
        finally:
            current.seconds = time.perf_counter() - began
            self._current = None
            self.operations.append(current)
