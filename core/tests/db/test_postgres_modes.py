"""PostgreSQL at scale: a database per site, or a schema per site.

In database-per-site mode the site URL template names a database (``vt_x_…_{site}``) and
creating a site creates that database; in schema-per-site mode a ``vintry_schema`` query
parameter names a schema (``site_{site}``), on the HQ database or on a database of its own.
Either way each site is created, migrated and isolated from the others. Every database
made here has a unique name and is dropped afterwards (the server is shared).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from vintry.accounts.principal import Actor
from vintry.bootstrap import initialise
from vintry.clock import ManualClock
from vintry.db.databases import Database
from vintry.db.engines import parse_target
from vintry.db.migrate import current_revision, kernel_tracks
from vintry.db.provision import drop_database
from vintry.platform import Platform
from vintry.settings import VintrySettings
from vintry.sites.schemas import SiteCreate
from vintry.sites.service import create_site
from vintry.sites.site_models import SiteMeta
from vintry_sdk.testing.backends import POSTGRES_ENV

SERVER = os.environ.get(POSTGRES_ENV)
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not SERVER,
        reason=f"database- and schema-per-site modes need PostgreSQL: set {POSTGRES_ENV}",
    ),
]
ACTOR = Actor(name="pg-modes-test")


@dataclass
class Deployment:
    """A platform on its own PostgreSQL databases, and every database URL to drop after."""

    platform: Platform
    prefix: str
    to_drop: list[str]


def _url(database: str, **query: str) -> str:
    assert SERVER
    url = make_url(SERVER).set(database=database).render_as_string(hide_password=False)
    url = url.replace("%7Bsite%7D", "{site}")  # keep the template's placeholder readable
    if query:
        url += "?" + "&".join(f"{key}={value}" for key, value in query.items())
    return url


def _database_names(prefix: str) -> set[str]:
    engine = create_engine(parse_target(_url("postgres")).url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE :p"), {"p": f"{prefix}%"}
            )
            return {row[0] for row in rows}
    finally:
        engine.dispose()


def _schema_names(database: str, prefix: str) -> set[str]:
    engine = create_engine(parse_target(_url(database)).url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT schema_name FROM information_schema.schemata "
                     "WHERE schema_name LIKE :p"),
                {"p": f"{prefix}%"},
            )
            return {row[0] for row in rows}
    finally:
        engine.dispose()


def _deploy(hq_url: str, site_template: str, clock: ManualClock, prefix: str) -> Deployment:
    """A platform on the given URLs; call :func:`_initialise` inside the try that tears down."""
    settings = VintrySettings(hq_database_url=hq_url, site_database_url=site_template)
    return Deployment(Platform(settings, clock=clock), prefix, [hq_url])


def _initialise(deployment: Deployment) -> Platform:
    initialise(deployment.platform, actor=ACTOR)
    return deployment.platform


def _teardown(deployment: Deployment) -> None:
    platform = deployment.platform
    site_urls = [platform.settings.site_database_url_for(code) for code in ("hq", "east", "west")]
    platform.close()
    for url in [*site_urls, *deployment.to_drop]:
        drop_database(url)
    leftovers = _database_names(deployment.prefix)
    assert leftovers == set(), f"databases left behind: {leftovers}"


def _region(platform: Platform, code: str) -> None:
    create_site(
        platform, parent_code="hq", request=SiteCreate(code=code, name=code.title()), actor=ACTOR
    )


def _write_probe(database: Database, value: str) -> None:
    with database.transaction() as session:
        session.add(SiteMeta(key="probe", value=value))


def _probe(database: Database) -> str | None:
    with database.reading() as session:
        return session.scalar(select(SiteMeta.value).where(SiteMeta.key == "probe"))


def _assert_migrated_and_isolated(platform: Platform) -> None:
    site_track = next(track for track in kernel_tracks() if track.scope == "site")
    for code in ("hq", "east", "west"):
        database = platform.site_database(code)
        assert current_revision(database, site_track) == site_track.head(), code
        with database.reading() as session:
            assert session.get(SiteMeta, "site_code").value == code  # type: ignore[union-attr]
            assert "vintry_site_version" in inspect(session.connection()).get_table_names()
    _write_probe(platform.site_database("east"), "east only")
    assert _probe(platform.site_database("east")) == "east only"
    assert _probe(platform.site_database("west")) is None
    assert _probe(platform.site_database("hq")) is None


@pytest.fixture
def prefix() -> str:
    """A unique database-name prefix for this test."""
    return f"vt_x_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def database_per_site(vintry_clock: ManualClock, prefix: str) -> Iterator[Deployment]:
    """HQ in ``<prefix>_hq_db``, each site in a database ``<prefix>_<site>``."""
    deployment = _deploy(_url(f"{prefix}_hq_db"), _url(f"{prefix}_{{site}}"), vintry_clock, prefix)
    try:
        _initialise(deployment)
        yield deployment
    finally:
        _teardown(deployment)


@pytest.fixture
def schema_per_site(vintry_clock: ManualClock, prefix: str) -> Iterator[Deployment]:
    """HQ in ``<prefix>_hq_db``; sites as schemas ``site_<site>`` of ``<prefix>_sites``."""
    deployment = _deploy(
        _url(f"{prefix}_hq_db"),
        _url(f"{prefix}_sites", vintry_schema="site_{site}"),
        vintry_clock,
        prefix,
    )
    deployment.to_drop.append(_url(f"{prefix}_sites"))
    try:
        _initialise(deployment)
        yield deployment
    finally:
        _teardown(deployment)


def test_database_per_site_creates_a_database_for_each_new_site(
    database_per_site: Deployment,
) -> None:
    platform, prefix = database_per_site.platform, database_per_site.prefix
    assert _database_names(prefix) == {f"{prefix}_hq_db", f"{prefix}_hq"}

    _region(platform, "east")
    _region(platform, "west")

    assert _database_names(prefix) == {
        f"{prefix}_hq_db", f"{prefix}_hq", f"{prefix}_east", f"{prefix}_west",
    }
    assert platform.site_database("east").target.url.database == f"{prefix}_east"
    _assert_migrated_and_isolated(platform)
    # Site tables live in the site's database, HQ tables only in HQ's.
    assert "sites" not in set(inspect(platform.site_database("east").engine).get_table_names())
    assert "site_meta" not in set(inspect(platform.hq.engine).get_table_names())


def test_schema_per_site_creates_a_schema_for_each_new_site(schema_per_site: Deployment) -> None:
    platform, prefix = schema_per_site.platform, schema_per_site.prefix
    sites_database = f"{prefix}_sites"
    assert _database_names(prefix) == {f"{prefix}_hq_db", sites_database}
    assert _schema_names(sites_database, "site_") == {"site_hq"}

    _region(platform, "east")
    _region(platform, "west")

    assert _schema_names(sites_database, "site_") == {"site_hq", "site_east", "site_west"}
    assert platform.site_database("east").target.schema == "site_east"
    _assert_migrated_and_isolated(platform)
    east_tables = set(inspect(platform.site_database("east").engine).get_table_names())
    assert {"site_meta", "vintry_site_version"} <= east_tables
    with platform.site_database("east").reading() as session:
        assert session.execute(text("SELECT current_schema()")).scalar_one() == "site_east"


def test_schema_per_site_on_the_hq_database_keeps_sites_apart_from_hq(
    vintry_clock: ManualClock, prefix: str
) -> None:
    hq_url = _url(f"{prefix}_hq_db")
    deployment = _deploy(hq_url, hq_url + "?vintry_schema=site_{site}", vintry_clock, prefix)
    try:
        platform = _initialise(deployment)
        _region(platform, "east")
        _region(platform, "west")
        assert _database_names(prefix) == {f"{prefix}_hq_db"}
        assert _schema_names(f"{prefix}_hq_db", "site_") == {"site_hq", "site_east", "site_west"}
        _assert_migrated_and_isolated(platform)
        assert "site_meta" not in set(inspect(platform.hq.engine).get_table_names())
    finally:
        _teardown(deployment)
