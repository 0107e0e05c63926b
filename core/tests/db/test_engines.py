"""Engines: SQLite's pragmas and locking, aware UTC datetimes, and database URL parsing.

SQLite runs in WAL mode with a generous busy timeout; a write session starts with ``BEGIN
IMMEDIATE`` (so concurrent read-modify-write transactions queue instead of failing with
"database is locked" or losing updates), while a read-only session keeps a deferred
``BEGIN`` and never blocks a writer. Datetimes are stored as aware UTC on both backends
and naive ones are refused. ``parse_target`` understands Vintry's ``vintry_schema``.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, select, text
from sqlalchemy.exc import StatementError
from vintry.db.base import UTCDateTime
from vintry.db.databases import Database
from vintry.db.engines import SQLITE_BUSY_TIMEOUT_MS, SQLITE_CACHE_KIB, parse_target
from vintry.platform import Platform


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    """A SQLite database with a one-row counter table."""
    database = Database(f"sqlite:///{tmp_path / 'engines.db'}")
    with database.transaction() as session:
        session.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER)"))
        session.execute(text("INSERT INTO counter VALUES (1, 0)"))
    yield database
    database.dispose()


def _raw_connection(database: Database) -> sqlite3.Connection:
    """A plain sqlite3 connection that fails at once instead of waiting for a lock."""
    assert database.target.url.database
    return sqlite3.connect(database.target.url.database, timeout=0, isolation_level=None)


# --- SQLite pragmas and locking -----------------------------------------------------------


def test_sqlite_connections_use_wal_a_busy_timeout_and_foreign_keys(sqlite_db: Database) -> None:
    with sqlite_db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA temp_store").scalar() == 2  # MEMORY
        assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_CACHE_KIB
    assert SQLITE_BUSY_TIMEOUT_MS >= 5_000


def test_write_session_takes_the_write_lock_at_begin(sqlite_db: Database) -> None:
    other = _raw_connection(sqlite_db)
    try:
        with sqlite_db.transaction() as session:
            # Only a read so far: the lock is held because the transaction began IMMEDIATE.
            session.execute(text("SELECT value FROM counter")).scalar_one()
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # released at commit
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_read_only_session_does_not_block_a_writer(sqlite_db: Database) -> None:
    writer = _raw_connection(sqlite_db)
    try:
        with sqlite_db.reading() as session:
            assert session.execute(text("SELECT value FROM counter")).scalar_one() == 0
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("UPDATE counter SET value = 7")
            writer.execute("COMMIT")
            # The reader keeps its snapshot until its transaction ends.
            assert session.execute(text("SELECT value FROM counter")).scalar_one() == 0
        with sqlite_db.reading() as session:
            assert session.execute(text("SELECT value FROM counter")).scalar_one() == 7
    finally:
        writer.close()


def test_concurrent_read_modify_write_transactions_all_succeed_without_lost_updates(
    sqlite_db: Database,
) -> None:
    threads, rounds = 8, 25
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def increment() -> None:
        start.wait()
        for _ in range(rounds):
            try:
                with sqlite_db.transaction() as session:
                    value = session.execute(text("SELECT value FROM counter")).scalar_one()
                    session.execute(text("UPDATE counter SET value = :v"), {"v": value + 1})
            except BaseException as error:  # collected and asserted below
                errors.append(error)

    workers = [threading.Thread(target=increment) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    with sqlite_db.reading() as session:
        assert session.execute(text("SELECT value FROM counter")).scalar_one() == threads * rounds


def test_failed_write_session_rolls_back_and_releases_the_lock(sqlite_db: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"), sqlite_db.transaction() as session:
        session.execute(text("UPDATE counter SET value = 99"))
        raise RuntimeError("boom")
    with sqlite_db.transaction() as session:
        assert session.execute(text("SELECT value FROM counter")).scalar_one() == 0


# --- aware UTC datetimes, both backends ---------------------------------------------------


@pytest.fixture
def moments(vintry_platform: Platform) -> Table:
    """A throwaway table with a UTCDateTime column in the test platform's HQ database."""
    table = Table(
        f"moments_{uuid.uuid4().hex[:8]}",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("at", UTCDateTime()),
    )
    table.create(vintry_platform.hq.engine)
    return table


def test_aware_datetimes_round_trip_as_utc(vintry_platform: Platform, moments: Table) -> None:
    beijing = timezone(timedelta(hours=8))
    stored = {
        1: datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=beijing),
        2: datetime(2026, 3, 1, 4, 30, tzinfo=UTC),
        3: datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5))),
    }
    with vintry_platform.hq.transaction() as session:
        session.execute(moments.insert(), [{"id": k, "at": v} for k, v in stored.items()])
        session.execute(moments.insert(), [{"id": 4, "at": None}])

    with vintry_platform.hq.reading() as session:
        loaded = dict(session.execute(select(moments.c.id, moments.c.at)).all())

    assert loaded[4] is None
    for key, moment in stored.items():
        assert loaded[key] == moment
        assert loaded[key].utcoffset() == timedelta(0)
        assert loaded[key].tzinfo is UTC
    assert loaded[1].hour == 4 and loaded[1].microsecond == 123456


def test_aware_datetimes_compare_as_instants_in_queries(
    vintry_platform: Platform, moments: Table
) -> None:
    with vintry_platform.hq.transaction() as session:
        session.execute(
            moments.insert(),
            [
                {"id": 1, "at": datetime(2026, 1, 1, 7, tzinfo=timezone(timedelta(hours=8)))},
                {"id": 2, "at": datetime(2026, 1, 1, 0, 30, tzinfo=UTC)},
            ],
        )
    with vintry_platform.hq.reading() as session:
        earliest = session.scalar(select(moments.c.id).order_by(moments.c.at).limit(1))
        after = session.scalars(
            select(moments.c.id).where(moments.c.at > datetime(2026, 1, 1, tzinfo=UTC))
        ).all()
    assert earliest == 1  # 07:00+08:00 is 23:00Z the day before
    assert list(after) == [2]


def test_naive_datetimes_are_refused(vintry_platform: Platform, moments: Table) -> None:
    with pytest.raises(StatementError) as raised, vintry_platform.hq.transaction() as session:
        session.execute(moments.insert(), [{"id": 1, "at": datetime(2026, 1, 1, 12)}])
    assert isinstance(raised.value.orig, ValueError)
    assert "naive" in str(raised.value.orig)
    with vintry_platform.hq.reading() as session:
        assert session.execute(select(moments.c.id)).all() == []


# --- parse_target ---------------------------------------------------------------------------


def test_parse_target_splits_off_vintry_schema() -> None:
    target = parse_target(
        "postgresql+psycopg://app:secret@db.internal:5433/malls?vintry_schema=site_east&sslmode=require"
    )
    assert target.schema == "site_east"
    assert target.backend == "postgresql"
    assert "vintry_schema" not in target.url.query
    assert target.url.query["sslmode"] == "require"
    assert (target.url.host, target.url.port, target.url.database) == ("db.internal", 5433, "malls")


def test_parse_target_accepts_site_codes_with_hyphens_as_schema_names() -> None:
    assert parse_target("postgresql://h/db?vintry_schema=site_east-1").schema == "site_east-1"


def test_parse_target_without_schema_and_default_driver() -> None:
    target = parse_target("postgresql://h/db")
    assert target.schema is None
    assert target.url.drivername == "postgresql+psycopg"
    sqlite = parse_target("sqlite:////var/lib/vintry/hq.db")
    assert (sqlite.backend, sqlite.schema, sqlite.url.database) == (
        "sqlite", None, "/var/lib/vintry/hq.db",
    )


@pytest.mark.parametrize(
    "schema",
    ["1site", "site;drop", 'site"east', "site east", "x" * 64, "site.east", "-site"],
)
def test_parse_target_rejects_bad_schema_names(schema: str) -> None:
    with pytest.raises(ValueError, match="invalid schema name"):
        parse_target(f"postgresql://h/db?vintry_schema={schema}")


@pytest.mark.parametrize(
    "url", ["mysql://u@h/db", "mssql+pyodbc://u@h/db", "oracle://u@h/db"]
)
def test_parse_target_rejects_other_backends(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported database backend"):
        parse_target(url)


def test_parse_target_rejects_a_schema_on_sqlite() -> None:
    with pytest.raises(ValueError, match="needs PostgreSQL"):
        parse_target("sqlite:///x.db?vintry_schema=site_east")
