"""Multi-row inserts for the hottest writer (placement), without per-row statement work.

SQLAlchemy's ``execute(insert(table), rows)`` builds a full parameter set per row and runs
every value through its type's processor inside a generic loop: for the ten-line orders of
a placement batch that cost several times the SQL itself. :class:`BulkInsert` keeps the
same column types — each value goes through exactly the bind processor SQLAlchemy would
apply (that of the type's dialect implementation), so what is stored is identical — but
builds the rows as plain tuples and sends them with ``exec_driver_sql``: one
``executemany`` without ``RETURNING``, or multi-row ``VALUES`` with it (SQLite returns the
new ids that way, in chunks under its bound-parameter limit).

This path is taken on SQLite, where the per-row work is most of the cost (a local file,
no round trip). On other backends the same call runs the ordinary Core statement.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, Insert, Table, exc, insert

MAX_BOUND_PARAMETERS = 32_000
"""SQLite's limit on bound parameters per statement is 32,766 (since 3.32): a multi-row
``VALUES`` is split into chunks that stay under it."""


_MISSING = object()


class BulkInsert:
    """``INSERT INTO table (columns…) VALUES …`` for many rows at once, built once.

    *columns* defaults to every column but the primary key; each row names them all (no
    Python-side column defaults are applied on this path).
    """

    def __init__(
        self, table: Table, *, columns: Sequence[str] | None = None, returning: Sequence[str] = ()
    ) -> None:
        self.table = table
        self.columns = (
            tuple(columns)
            if columns is not None
            else tuple(c.name for c in table.c if not c.primary_key)
        )
        self.returning = tuple(returning)
        missing = [c for c in (*self.columns, *self.returning) if c not in table.c]
        if missing:
            raise ValueError(f"{table.name} has no column(s) {', '.join(missing)}")
        statement: Insert = insert(table)
        if self.returning:
            statement = statement.returning(*(table.c[name] for name in self.returning))
        self._statement = statement
        self._lock = threading.Lock()
        self._compiled: dict[str, _Compiled] = {}

    def execute(
        self, connection: Connection, rows: Sequence[Mapping[str, Any]]
    ) -> list[tuple[Any, ...]]:
        """Insert *rows* (each naming every column); the ``returning`` columns of each
        inserted row (in no particular order), or ``[]`` without ``returning``."""
        if not rows:
            return []
        if connection.dialect.name != "sqlite":
            named = [{name: row[name] for name in self.columns} for row in rows]
            result = connection.execute(self._statement, named)
            return [tuple(row) for row in result] if self.returning else []
        compiled = self._for(connection.dialect)
        memo: dict[tuple[int, Any], Any] = {}
        values = [compiled.values(row, memo) for row in rows]
        run = _Driver(connection)
        if not self.returning:
            run.many(compiled.many, values)
            return []
        found: list[tuple[Any, ...]] = []
        per_chunk = max(1, MAX_BOUND_PARAMETERS // len(self.columns))
        for start in range(0, len(values), per_chunk):
            chunk = values[start : start + per_chunk]
            flat = tuple(value for row in chunk for value in row)
            found.extend(run.rows(compiled.returning_rows(len(chunk)), flat))
        return found

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            with self._lock:
                found = self._compiled.get(dialect.name)
                if found is None:
                    found = _Compiled(self, dialect)
                    self._compiled[dialect.name] = found
        return found


class _Driver:
    """Runs SQL text on *connection*'s DB-API connection, inside its transaction.

    Through ``exec_driver_sql`` each statement also builds an execution context and a
    result object, which cost about as much as SQLite inserting the rows. While anything
    listens for the engine's cursor events (statement counters in tests and benchmarks,
    tracing), the statements go through ``exec_driver_sql`` instead, so they are seen like
    any other. DB-API errors are raised as SQLAlchemy's, as ``exec_driver_sql`` raises them.
    """

    def __init__(self, connection: Connection) -> None:
        dispatch = connection.dispatch
        self._observed = bool(dispatch.before_cursor_execute or dispatch.after_cursor_execute)
        self._connection = connection
        self._errors: type[Exception] = connection.dialect.loaded_dbapi.Error

    def many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if self._observed:
            self._connection.exec_driver_sql(sql, rows)
            return
        cursor = self._connection.connection.cursor()
        try:
            cursor.executemany(sql, rows)
        except self._errors as error:
            raise self._wrapped(sql, rows, error) from error
        finally:
            cursor.close()

    def rows(self, sql: str, flat: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if self._observed:
            return [tuple(row) for row in self._connection.exec_driver_sql(sql, flat)]
        cursor = self._connection.connection.cursor()
        try:
            cursor.execute(sql, flat)
            return [tuple(row) for row in cursor.fetchall()]
        except self._errors as error:
            raise self._wrapped(sql, flat, error) from error
        finally:
            cursor.close()

    def _wrapped(self, sql: str, parameters: Any, error: Exception) -> exc.StatementError:
        dialect = self._connection.dialect
        return exc.DBAPIError.instance(sql, parameters, error, self._errors, dialect=dialect)


class _Compiled:
    """The SQL text and the per-column bind processors of one :class:`BulkInsert` on one
    dialect (qmark parameters: SQLite)."""

    def __init__(self, bulk: BulkInsert, dialect: Dialect) -> None:
        quote = dialect.identifier_preparer.quote
        self._get = itemgetter(*bulk.columns)
        self._single = len(bulk.columns) == 1
        # The dialect's own implementation of each type (SQLite's DATETIME under a
        # TypeDecorator), exactly as SQLAlchemy processes a bound value of that column.
        processors = (
            bulk.table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in bulk.columns
        )
        self._processed: tuple[tuple[int, Callable[[Any], Any]], ...] = tuple(
            (index, process) for index, process in enumerate(processors) if process is not None
        )
        self._head = (
            f"INSERT INTO {dialect.identifier_preparer.format_table(bulk.table)} "
            f"({', '.join(quote(name) for name in bulk.columns)}) VALUES "
        )
        self._row = "(" + ", ".join("?" for _ in bulk.columns) + ")"
        self._tail = (
            " RETURNING " + ", ".join(quote(name) for name in bulk.returning)
            if bulk.returning
            else ""
        )
        self.many = self._head + self._row
        self._sized: dict[int, str] = {}

    def values(self, row: Mapping[str, Any], memo: dict[tuple[int, Any], Any]) -> tuple[Any, ...]:
        """*row*'s values in column order, each through its type's bind processor (only
        the columns whose type has one: dates, JSON…). *memo* keeps what a column's
        processor made of a value for the rest of the call: a batch's rows share a few
        timestamps, each processed once."""
        found = self._get(row)
        values = [found] if self._single else list(found)
        for index, process in self._processed:
            value = values[index]
            if value is None or value.__hash__ is None:
                values[index] = process(value)
                continue
            key = (index, value)
            done = memo.get(key, _MISSING)
            if done is _MISSING:
                done = memo[key] = process(value)
            values[index] = done
        return tuple(values)

    def returning_rows(self, count: int) -> str:
        """The statement for *count* rows with ``RETURNING`` (cached per count)."""
        found = self._sized.get(count)
        if found is None:
            found = self._head + ", ".join([self._row] * count) + self._tail
            if len(self._sized) < 256:
                self._sized[count] = found
        return found
