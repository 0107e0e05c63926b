"""Migrations: ``platform.migrate()`` upgrades HQ and every site; histories stay separate.

The kernel's HQ and site schemas have their own version tables (``vintry_hq_version``,
``vintry_site_version``); a plugin's Alembic script directory, added as a
:class:`~vintry.db.migrate.MigrationTrack`, runs on HQ or on every site with its own version
table. A second ``migrate`` is a no-op. The plugin tracks here are tiny script directories
written into ``tmp_path`` whose ``env.py`` calls :func:`vintry.db.alembic_env.run_migrations`.
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from vintry.clock import ManualClock
from vintry.db.databases import Database
from vintry.db.migrate import MigrationTrack, current_revision, kernel_tracks
from vintry.db.provision import drop_database
from vintry.platform import MigrationReport, Platform
from vintry.settings import VintrySettings
from vintry_sdk.testing import VintryFactory
from vintry_sdk.testing.backends import postgres_url

ENV_PY = "from vintry.db.alembic_env import run_migrations\n\nrun_migrations()\n"


def _kernel_track(scope: str) -> MigrationTrack:
    (track,) = [track for track in kernel_tracks() if track.scope == scope]
    return track


def _tables(database: Database) -> set[str]:
    with database.reading() as session:
        return set(inspect(session.connection()).get_table_names())


def _nothing_moved(report: MigrationReport) -> bool:
    return report.hq == [] and all(moved == [] for moved in report.sites.values())


def _write_revision(
    directory: Path, revision: str, down_revision: str | None, table: str
) -> None:
    (directory / "versions" / f"{revision}_{table}.py").write_text(
        textwrap.dedent(
            f'''\
            """create {table}"""

            import sqlalchemy as sa
            from alembic import op

            revision = {revision!r}
            down_revision = {down_revision!r}
            branch_labels = None
            depends_on = None


            def upgrade() -> None:
                op.create_table(
                    {table!r},
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("amount", sa.Integer(), nullable=False),
                )


            def downgrade() -> None:
                op.drop_table({table!r})
            '''
        )
    )


def _plugin_track(root: Path, scope: str, table: str) -> MigrationTrack:
    """A one-revision Alembic script directory of a plugin called ``demo``."""
    directory = root / f"demo_{scope}"
    (directory / "versions").mkdir(parents=True)
    (directory / "env.py").write_text(ENV_PY)
    _write_revision(directory, f"demo_{scope}_0001", None, table)
    return MigrationTrack(
        name=f"demo-{scope}",
        scope=scope,  # type: ignore[arg-type]
        script_location=str(directory),
        version_table=f"demo_{scope}_version",
        owner="demo",
    )


@pytest.fixture
def sites(vintry_factory: VintryFactory) -> list[str]:
    """hq → east → east-1, and west: every site the platform has."""
    vintry_factory.site("east")
    vintry_factory.site("east-1", parent="east")
    vintry_factory.site("west")
    return ["hq", "east", "east-1", "west"]


# --- the kernel --------------------------------------------------------------------------


def test_kernel_hq_and_site_histories_use_separate_version_tables(
    vintry_platform: Platform, sites: list[str]
) -> None:
    hq_track, site_track = _kernel_track("hq"), _kernel_track("site")
    assert (hq_track.version_table, site_track.version_table) == (
        "vintry_hq_version", "vintry_site_version",
    )

    hq_tables = _tables(vintry_platform.hq)
    assert "vintry_hq_version" in hq_tables and "vintry_site_version" not in hq_tables
    assert current_revision(vintry_platform.hq, hq_track) == hq_track.head() is not None
    for code in sites:
        database = vintry_platform.site_database(code)
        tables = _tables(database)
        assert "vintry_site_version" in tables and "vintry_hq_version" not in tables, code
        assert current_revision(database, site_track) == site_track.head() is not None, code


def test_migrate_is_a_no_op_when_everything_is_at_head(
    vintry_platform: Platform, sites: list[str]
) -> None:
    report = vintry_platform.migrate()
    assert set(report.sites) == set(sites)
    assert _nothing_moved(report)


def test_migrate_brings_a_site_whose_database_is_empty_back_to_head(
    vintry_platform: Platform, sites: list[str]
) -> None:
    url = vintry_platform.site_database("east").url
    vintry_platform.databases.forget_site("east")
    drop_database(url)
    told: list[str] = []

    report = vintry_platform.migrate(on_site=told.append)

    assert "vintry-site" in report.sites["east"]
    assert all(report.sites[code] == [] for code in sites if code != "east")
    assert report.hq == []
    assert sorted(told) == sorted(sites)
    database = vintry_platform.site_database("east")
    site_track = _kernel_track("site")
    assert current_revision(database, site_track) == site_track.head()
    assert _nothing_moved(vintry_platform.migrate())


@pytest.fixture
def fresh_settings(vintry_backend: str, tmp_path: Path) -> Iterator[VintrySettings]:
    """Settings naming an HQ database that does not exist yet (dropped afterwards)."""
    if vintry_backend == "sqlite":
        yield VintrySettings(data_dir=tmp_path / "fresh")
        return
    server = postgres_url()
    assert server
    hq = make_url(server).set(database=f"vt_fresh_{uuid.uuid4().hex[:12]}")
    hq_url = hq.render_as_string(hide_password=False)
    site_url = hq_url + "?vintry_schema=site_{site}"
    try:
        yield VintrySettings(data_dir=tmp_path / "fresh", hq_database_url=hq_url,
                             site_database_url=site_url)
    finally:
        drop_database(hq_url)


def test_migrate_creates_and_upgrades_a_fresh_hq_then_does_nothing(
    fresh_settings: VintrySettings, vintry_clock: ManualClock
) -> None:
    platform = Platform(fresh_settings, clock=vintry_clock)
    try:
        first = platform.migrate()
        assert "vintry-hq" in first.hq
        assert first.sites == {}  # no site exists before the root is created
        hq_track = _kernel_track("hq")
        assert current_revision(platform.hq, hq_track) == hq_track.head()
        assert {"sites", "site_domains", "audit_log", "change_counters"} <= _tables(platform.hq)

        second = platform.migrate()
        assert _nothing_moved(second)
    finally:
        platform.close()


# --- plugin-style tracks -------------------------------------------------------------------


def test_a_plugin_site_track_runs_on_every_site_with_its_own_version_table(
    vintry_factory: VintryFactory, vintry_platform: Platform, sites: list[str], tmp_path: Path
) -> None:
    track = _plugin_track(tmp_path / "scripts", "site", "demo_bids")
    vintry_platform.add_migration_tracks([track])

    report = vintry_platform.migrate()

    assert report.hq == []
    assert {code: report.sites[code] for code in sites} == {code: ["demo-site"] for code in sites}
    site_track = _kernel_track("site")
    for code in sites:
        database = vintry_platform.site_database(code)
        tables = _tables(database)
        assert {"demo_bids", "demo_site_version", "vintry_site_version"} <= tables, code
        assert current_revision(database, track) == "demo_site_0001", code
        assert current_revision(database, site_track) == site_track.head(), code
    assert "demo_bids" not in _tables(vintry_platform.hq)
    assert _nothing_moved(vintry_platform.migrate())

    # A site created afterwards gets the plugin's schema too (enablement never changes it).
    vintry_factory.site("north")
    assert "demo_bids" in _tables(vintry_platform.site_database("north"))


def test_a_plugin_hq_track_runs_on_hq_only(
    vintry_platform: Platform, sites: list[str], tmp_path: Path
) -> None:
    track = _plugin_track(tmp_path / "scripts", "hq", "demo_ledger")
    vintry_platform.add_migration_tracks([track])

    report = vintry_platform.migrate()

    assert report.hq == ["demo-hq"]
    assert _nothing_moved(MigrationReport(sites=report.sites))
    hq_tables = _tables(vintry_platform.hq)
    assert {"demo_ledger", "demo_hq_version", "vintry_hq_version"} <= hq_tables
    assert current_revision(vintry_platform.hq, track) == "demo_hq_0001"
    hq_track = _kernel_track("hq")
    assert current_revision(vintry_platform.hq, hq_track) == hq_track.head()
    for code in sites:
        assert "demo_ledger" not in _tables(vintry_platform.site_database(code)), code
    assert _nothing_moved(vintry_platform.migrate())


def test_a_new_plugin_revision_moves_only_that_track(
    vintry_platform: Platform, sites: list[str], tmp_path: Path
) -> None:
    root = tmp_path / "scripts"
    hq_track = _plugin_track(root, "hq", "demo_ledger")
    site_track = _plugin_track(root, "site", "demo_bids")
    vintry_platform.add_migration_tracks([hq_track, site_track])
    vintry_platform.migrate()

    _write_revision(root / "demo_site", "demo_site_0002", "demo_site_0001", "demo_bid_log")
    report = vintry_platform.migrate()

    assert report.hq == []
    assert all(report.sites[code] == ["demo-site"] for code in sites)
    for code in sites:
        database = vintry_platform.site_database(code)
        assert current_revision(database, site_track) == "demo_site_0002", code
        with database.reading() as session:
            assert session.execute(text("SELECT count(*) FROM demo_bid_log")).scalar_one() == 0
    assert current_revision(vintry_platform.hq, hq_track) == "demo_hq_0001"
