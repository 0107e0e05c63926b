"""Prepared reads: a Core ``SELECT`` compiled once per dialect, run on a pooled DB-API
connection without a Session.

Every authorised request reads its token (with the change counters) before anything else.
Through a Session that read costs several times the query itself: a Session, a
transaction, an execution context and a result object per call. :class:`PreparedRead`
compiles the statement once per dialect, keeps the result processors SQLAlchemy would apply
(aware UTC datetimes, enums, JSON, booleans), and then runs the SQL text on a connection
checked out of the engine's own pool — the same pool, pre-ping and ``connect`` pragmas as
every other read. One statement is one snapshot: SQLite runs it in its own implicit read
transaction (Vintry's SQLite connections are in autocommit mode; writes open theirs with
``BEGIN IMMEDIATE``), and a PostgreSQL connection is rolled back as it returns to the pool.

Nothing is hidden from observers: while anything listens for the engine's
``before_cursor_execute`` (statement counters in tests and benchmarks, tracing), the read
runs through a SQLAlchemy ``Connection`` instead, so it is seen like any other statement.

Parameters go through their types' bind processors, as SQLAlchemy would send them (aware
datetimes as SQLite stores them). No expanding ``IN`` lists: a statement that needs a list
binds it as one value (a JSON array read with ``json_each`` on SQLite).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Select, exc
from sqlalchemy.engine import Dialect

from vintry.db.engines import READ_ONLY_OPTION

_Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positions: tuple[str, ...] | None
    """Parameter names in order for a positional paramstyle (SQLite's ``?``); None when
    the driver takes a mapping (psycopg's ``%(name)s``)."""
    processors: tuple[_Processor, ...]
    """One per result column (None: the value is used as the driver returns it)."""
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]
    """Parameters whose type processes the value before it is sent, with the processor."""
    fixed: Mapping[str, Any]
    """Values the statement carries itself (a ``LIMIT``, a literal compared against)."""
    processing: tuple[tuple[int, Callable[[Any], Any]], ...]
    """The result columns that have a processor, by position."""


class PreparedRead:
    """A ``SELECT`` compiled once per dialect; :meth:`first` runs it on a pooled connection."""

    def __init__(self, statement: Select[Any]) -> None:
        self._statement = statement
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is not None:
            return found
        compiled = self._statement.compile(dialect=dialect)
        binds: list[tuple[str, Callable[[Any], Any]]] = []
        fixed: dict[str, Any] = {}
        for name, bind in compiled.binds.items():
            if not bind.required:
                fixed[name] = bind.effective_value
            if bind.expanding:
                raise TypeError(
                    f"parameter {name!r} of a prepared read is an expanding list; bind the "
                    "list as one value instead"
                )
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                binds.append((name, process))
        processors = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in self._statement.selected_columns
        )
        positions = tuple(compiled.positiontup or ()) if compiled.positional else None
        processing = tuple((i, p) for i, p in enumerate(processors) if p is not None)
        made = _Compiled(compiled.string, positions, processors, tuple(binds), fixed, processing)
        with self._lock:
            self._compiled[dialect.name] = made
        return made

    def first(self, engine: Engine, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row for *params* (processed as SQLAlchemy would), or None."""
        rows = self._run(engine, params, first=True)
        return rows[0] if rows else None

    def all(self, engine: Engine, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row for *params* (processed as SQLAlchemy would)."""
        return self._run(engine, params, first=False)

    def _run(
        self, engine: Engine, params: Mapping[str, Any], *, first: bool
    ) -> list[tuple[Any, ...]]:
        if engine.dispatch.before_cursor_execute:
            observed = engine.execution_options(**{READ_ONLY_OPTION: True})
            with observed.connect() as observed_connection:
                result = observed_connection.execute(self._statement, dict(params))
                found = [result.first()] if first else result.all()
            return [tuple(row) for row in found if row is not None]
        compiled = self._for(engine.dialect)
        arguments = _arguments(compiled, params)
        pooled = engine.raw_connection()
        try:
            cursor = pooled.cursor()
            try:
                cursor.execute(compiled.sql, arguments)
                raw = cursor.fetchmany(1) if first else cursor.fetchall()
            finally:
                cursor.close()
        finally:
            pooled.close()  # back to the pool, which rolls back what is open
        return _processed(compiled, raw)

    def all_on(self, connection: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row for *params*, read on *connection* — inside its transaction (a write
        transaction's lock held: what a writer reads before it writes). Observed like
        :meth:`all`; a DB-API error is raised as SQLAlchemy's."""
        if connection.dispatch.before_cursor_execute:
            return [tuple(row) for row in connection.execute(self._statement, dict(params))]
        compiled = self._for(connection.dialect)
        arguments = _arguments(compiled, params)
        errors: type[Exception] = connection.dialect.loaded_dbapi.Error
        cursor = connection.connection.cursor()
        try:
            cursor.execute(compiled.sql, arguments)
            raw = cursor.fetchall()
        except errors as error:
            raise exc.DBAPIError.instance(
                compiled.sql, arguments, error, errors, dialect=connection.dialect
            ) from error
        finally:
            cursor.close()
        return _processed(compiled, raw)


def _arguments(
    compiled: _Compiled, params: Mapping[str, Any]
) -> Sequence[Any] | Mapping[str, Any]:
    """*params* as the driver takes them: the statement's own values added, each value
    through its type's bind processor, in position order for a positional paramstyle."""
    if compiled.fixed:
        params = {**compiled.fixed, **params}
    if compiled.binds:
        params = dict(params)
        for name, process in compiled.binds:
            params[name] = process(params[name])
    return params if compiled.positions is None else [params[n] for n in compiled.positions]


def _processed(compiled: _Compiled, raw: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Driver rows as SQLAlchemy would return them (result processors applied)."""
    processing = compiled.processing
    if not processing:
        return [tuple(row) for row in raw]
    processed: list[tuple[Any, ...]] = []
    for row in raw:
        values = list(row)
        for index, process in processing:
            values[index] = process(values[index])
        processed.append(tuple(values))
    return processed
