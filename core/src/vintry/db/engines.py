"""Engine construction: one place that knows SQLite's and PostgreSQL's quirks.

SQLite runs in WAL mode with a generous busy timeout; write transactions start with
``BEGIN IMMEDIATE`` so two writers queue instead of failing at commit, while sessions opened
read-only keep a deferred ``BEGIN``. PostgreSQL sites may live in a schema of a shared
database: a ``vintry_schema`` query parameter names it and every connection's
``search_path`` is set to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

READ_ONLY_OPTION = "vintry_read_only"
SQLITE_CACHE_KIB = 32_768
"""Page cache per SQLite connection, in KiB (allocated as pages are used)."""
SINGLE_STATEMENT_OPTION = "vintry_single_statement"
"""A read of one statement: on SQLite it opens no transaction (autocommit mode makes one
statement one snapshot), so the ``BEGIN`` and the rollback at check-in are saved."""
SCHEMA_PARAMETER = "vintry_schema"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,62}$")


@dataclass(frozen=True)
class DatabaseTarget:
    """A parsed database URL: where to connect, and the schema to use if any."""

    url: URL
    schema: str | None

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.url.get_backend_name()


def parse_target(raw_url: str) -> DatabaseTarget:
    """Split Vintry's own ``vintry_schema`` parameter off a database URL."""
    url = make_url(raw_url)
    if f"{SCHEMA_PARAMETER}=" in raw_url and not url.query.get(SCHEMA_PARAMETER):
        raise ValueError(f"{SCHEMA_PARAMETER} is empty in the database URL")
    schema = url.query.get(SCHEMA_PARAMETER)
    if isinstance(schema, tuple):
        schema = schema[0]
    if schema is not None:
        if not _IDENTIFIER.match(schema):
            raise ValueError(f"invalid schema name {schema!r} in database URL")
        url = url.difference_update_query([SCHEMA_PARAMETER])
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database backend {backend!r}: use sqlite or postgresql")
    if schema is not None and backend != "postgresql":
        raise ValueError("a schema per site needs PostgreSQL")
    if backend == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return DatabaseTarget(url=url, schema=schema)


def quote_identifier(name: str) -> str:
    """Quote a PostgreSQL identifier that has already been checked against the pattern."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"invalid identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def build_engine(target: DatabaseTarget, *, pool_size: int = 2, max_overflow: int = 4) -> Engine:
    """Create an engine for *target* with the pragmas and pool Vintry expects."""
    kwargs: dict[str, Any] = {"future": True}
    if target.backend == "sqlite":
        kwargs["connect_args"] = {
            "check_same_thread": False,
            "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
        }
        if target.url.database not in (None, "", ":memory:"):
            # A file connection costs a file handle, not a server slot. Writers queue on the
            # database lock, not on the pool: leave room for every request thread (anyio's
            # pool is 40) so a burst waits for the lock instead of timing out on the pool.
            kwargs["pool_size"] = pool_size + 3
            kwargs["max_overflow"] = max(max_overflow + 4, 64)
        engine = create_engine(target.url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.update(
        pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True, pool_recycle=1800
    )
    engine = create_engine(target.url, **kwargs)
    if target.schema is not None:
        _pin_search_path(engine, target.schema)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to the "begin" listener below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        # Statement journals and temporary b-trees in memory, not in temporary files: a
        # multi-row insert or update inside a transaction opens one to undo just itself.
        cursor.execute("PRAGMA temp_store=MEMORY")
        # Up to 32 MiB of pages kept per connection (SQLite's default is 2 MiB, filled as
        # pages are read): the placement writer's index pages stay in its own cache
        # instead of being read again from the operating system's on every batch.
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get(SINGLE_STATEMENT_OPTION):
            return
        if options.get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _pin_search_path(engine: Engine, schema: str) -> None:
    statement = f"SET search_path TO {quote_identifier(schema)}"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(statement)
        cursor.close()
        dbapi_connection.commit()
