"""Creating and dropping the databases (or schemas) that sites live in."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from vintry.db.engines import DatabaseTarget, parse_target, quote_identifier


def ensure_database(raw_url: str) -> None:
    """Make sure the database (or schema) named by *raw_url* exists; safe to repeat."""
    target = parse_target(raw_url)
    if target.backend == "sqlite":
        database = target.url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        return
    if target.schema is not None:
        _create_database_if_missing(target)
        engine = create_engine(target.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(
                    f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(target.schema)}"
                )
        finally:
            engine.dispose()
        return
    _create_database_if_missing(target)


def drop_database(raw_url: str) -> None:
    """Remove the database (or schema) named by *raw_url*, if it exists."""
    target = parse_target(raw_url)
    if target.backend == "sqlite":
        database = target.url.database
        if database and database != ":memory:":
            for suffix in ("", "-wal", "-shm"):
                Path(database + suffix).unlink(missing_ok=True)
        return
    if target.schema is not None:
        engine = create_engine(target.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(
                    f"DROP SCHEMA IF EXISTS {quote_identifier(target.schema)} CASCADE"
                )
        finally:
            engine.dispose()
        return
    name = target.url.database
    if not name:
        return
    engine = _maintenance_engine(target)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(
                f"DROP DATABASE IF EXISTS {quote_identifier(name)} WITH (FORCE)"
            )
    finally:
        engine.dispose()


def create_database_from_template(raw_url: str, template_url: str) -> None:
    """Create the PostgreSQL database of *raw_url* as a copy of *template_url*'s database."""
    target, template = parse_target(raw_url), parse_target(template_url)
    if target.backend != "postgresql" or not target.url.database or not template.url.database:
        raise ValueError("template copies are a PostgreSQL feature; copy the file on SQLite")
    engine = _maintenance_engine(target)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(
                f"CREATE DATABASE {quote_identifier(target.url.database)} "
                f"TEMPLATE {quote_identifier(template.url.database)}"
            )
    finally:
        engine.dispose()


def _maintenance_engine(target: DatabaseTarget):  # type: ignore[no-untyped-def]
    return create_engine(target.url.set(database="postgres"), isolation_level="AUTOCOMMIT")


def _create_database_if_missing(target: DatabaseTarget) -> None:
    name = target.url.database
    if not name:
        raise ValueError("a PostgreSQL URL must name its database")
    engine = _maintenance_engine(target)
    try:
        with engine.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).scalar()
            if exists:
                return
            try:
                connection.exec_driver_sql(f"CREATE DATABASE {quote_identifier(name)}")
            except ProgrammingError as error:
                # Another process created it between our check and our CREATE.
                if "already exists" not in str(error):
                    raise
    finally:
        engine.dispose()
