"""Lazily opened databases and the LRU bound on open site engines.

No engine exists before a database is first used, and at most ``site_engine_cache_size``
site databases stay open: opening one more disposes the least recently used, so hundreds
of sites do not hold hundreds of connection pools.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, text
from vintry.clock import ManualClock
from vintry.db.databases import Database, Databases
from vintry.platform import Platform
from vintry_sdk.testing import VintryFactory


@pytest.fixture
def databases(tmp_path: Path) -> Iterator[Databases]:
    """SQLite HQ and per-site files under *tmp_path*, keeping at most two site engines."""
    result = Databases(
        f"sqlite:///{tmp_path / 'hq.db'}",
        lambda code: f"sqlite:///{tmp_path / f'{code}.db'}",
        cache_size=2,
    )
    yield result
    result.dispose()


def _use(database: Database) -> None:
    with database.reading() as session:
        assert session.execute(text("SELECT 1")).scalar_one() == 1


def test_a_database_opens_no_engine_before_first_use(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'lazy.db'}")
    assert not database.is_open
    assert not (tmp_path / "lazy.db").exists()

    _use(database)

    assert database.is_open
    database.dispose()
    assert not database.is_open


def test_databases_open_nothing_until_a_site_is_used(databases: Databases) -> None:
    assert not databases.hq.is_open
    east = databases.site("east")
    assert not east.is_open
    assert databases.open_site_codes == []

    _use(east)

    assert databases.open_site_codes == ["east"]
    assert not databases.hq.is_open


def test_the_same_site_returns_the_same_database(databases: Databases) -> None:
    assert databases.site("east") is databases.site("east")


def test_at_most_cache_size_site_engines_stay_open_least_recently_used_goes(
    databases: Databases,
) -> None:
    east, west = databases.site("east"), databases.site("west")
    _use(east)
    _use(west)
    assert databases.site("east") is east  # touching east makes west the least recent

    north = databases.site("north")
    _use(north)

    assert not west.is_open
    assert east.is_open and north.is_open
    assert databases.open_site_codes == ["east", "north"]

    reopened = databases.site("west")
    assert reopened is not west and not reopened.is_open
    assert not east.is_open  # east was now the least recently used
    _use(reopened)
    assert databases.open_site_codes == ["north", "west"]


def test_an_explicit_url_replaces_and_disposes_the_cached_database(
    databases: Databases, tmp_path: Path
) -> None:
    templated = databases.site("east")
    _use(templated)

    explicit = databases.site("east", f"sqlite:///{tmp_path / 'elsewhere.db'}")

    assert explicit is not templated
    assert explicit.url.endswith("elsewhere.db")
    assert not templated.is_open


def test_forget_site_and_dispose_close_engines(databases: Databases) -> None:
    east, west = databases.site("east"), databases.site("west")
    _use(east)
    _use(west)
    _use(databases.hq)

    databases.forget_site("east")
    assert not east.is_open and databases.open_site_codes == ["west"]

    databases.dispose()
    assert not west.is_open and not databases.hq.is_open
    assert databases.open_site_codes == []


# --- through the platform, on both backends --------------------------------------------------


def test_a_new_platform_opens_nothing_until_used(
    vintry_platform: Platform, vintry_clock: ManualClock
) -> None:
    other = Platform(vintry_platform.settings, clock=vintry_clock)
    try:
        assert not other.hq.is_open
        database = other.site_database("hq")  # reads the tree: HQ opens, the site does not
        assert other.hq.is_open and not database.is_open
        _use(database)
        assert other.databases.open_site_codes == ["hq"]
    finally:
        other.close()


def test_platform_keeps_at_most_site_engine_cache_size_sites_open(
    vintry_factory: VintryFactory, vintry_platform: Platform, vintry_clock: ManualClock
) -> None:
    for code in ("east", "west", "north"):
        vintry_factory.site(code)
    settings = vintry_platform.settings.model_copy(update={"site_engine_cache_size": 2})
    other = Platform(settings, clock=vintry_clock)
    try:
        east = other.site_database("east")
        _use(east)
        west = other.site_database("west")
        _use(west)
        _use(other.site_database("east"))
        _use(other.site_database("north"))

        assert other.databases.open_site_codes == ["east", "north"]
        assert not west.is_open
        # A disposed site reopens transparently on its next use.
        _use(other.site_database("west"))
        assert other.databases.open_site_codes == ["north", "west"]
        assert not east.is_open
    finally:
        other.close()


def test_read_rows_and_on_demand_reading(tmp_path: Path) -> None:
    """``read_rows`` runs one statement without a Session, and on SQLite without a
    transaction (no ``BEGIN`` is sent); ``reading_on_demand`` opens no connection until the
    session is used, then reads like ``reading``."""
    database = Database(f"sqlite:///{tmp_path / 'one.db'}")
    try:
        with database.transaction() as session:
            session.execute(text("CREATE TABLE t (n INTEGER)"))
            session.execute(text("INSERT INTO t VALUES (1), (2)"))
        sent: list[str] = []

        def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
            sent.append(statement)

        event.listen(database.engine, "before_cursor_execute", record)
        try:
            rows = database.read_rows(
                text("SELECT n FROM t WHERE n >= :low ORDER BY n"), {"low": 1}
            )
            assert [tuple(row) for row in rows] == [(1,), (2,)]
            assert not any(s.strip().upper().startswith("BEGIN") for s in sent), sent
            sent.clear()
            with database.reading_on_demand():
                pass
            assert sent == []  # never used: nothing opened, nothing sent
            with database.reading_on_demand() as session:
                assert session.scalar(text("SELECT count(*) FROM t")) == 2
            assert any(s.strip().upper() == "BEGIN" for s in sent)  # as reading() does
        finally:
            event.remove(database.engine, "before_cursor_execute", record)
    finally:
        database.dispose()
