"""Test databases: SQLite files copied from a migrated template, or PostgreSQL databases
created from a migrated template database, each with a unique name and dropped after use."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from vintry.accounts.principal import Actor
from vintry.bootstrap import initialise
from vintry.clock import Clock
from vintry.db.provision import create_database_from_template, drop_database
from vintry.platform import Platform
from vintry.settings import VintrySettings

POSTGRES_ENV = "VINTRY_TEST_POSTGRES_URL"
REDIS_ENV = "VINTRY_TEST_REDIS_URL"
TEST_ACTOR = Actor(name="test-setup")


def postgres_url() -> str | None:
    """The server tests may use, from ``VINTRY_TEST_POSTGRES_URL``."""
    return os.environ.get(POSTGRES_ENV) or None


@dataclass(frozen=True)
class Template:
    """A migrated, initialised platform to copy from, and its admin token."""

    backend: str
    data_dir: Path
    hq_url: str | None
    site_url: str | None
    admin_token: str


def _settings(data_dir: Path, hq_url: str | None, site_url: str | None) -> VintrySettings:
    return VintrySettings(
        data_dir=data_dir, hq_database_url=hq_url, site_database_url=site_url, load_plugins=None
    )


def _pg_urls(server: str, database: str) -> tuple[str, str]:
    base = make_url(server).set(database=database)
    hq = base.render_as_string(hide_password=False)
    site = base.update_query_dict({"vintry_schema": "site_{site}"}).render_as_string(
        hide_password=False
    )
    return hq, site.replace("%7Bsite%7D", "{site}")


def build_template(backend: str, root: Path, clock: Clock) -> Template:
    """Initialise a platform once per test session, to be copied by every test."""
    data_dir = root / "template"
    hq_url = site_url = None
    if backend == "postgresql":
        server = postgres_url()
        assert server, "PostgreSQL tests need VINTRY_TEST_POSTGRES_URL"
        hq_url, site_url = _pg_urls(server, f"vt_tpl_{uuid.uuid4().hex[:12]}")
    platform = Platform(_settings(data_dir, hq_url, site_url), clock=clock)
    try:
        result = initialise(platform, actor=TEST_ACTOR)
    finally:
        platform.close()
    assert result.admin_token is not None
    return Template(backend, data_dir, hq_url, site_url, result.admin_token)


def drop_template(template: Template) -> None:
    """Remove a template's database (SQLite files go with the temporary directory)."""
    if template.hq_url:
        drop_database(template.hq_url)


@contextmanager
def platform_from_template(template: Template, data_dir: Path, clock: Clock) -> Iterator[Platform]:
    """A fresh platform copied from *template*, removed afterwards."""
    hq_url = site_url = None
    if template.backend == "postgresql":
        assert template.hq_url is not None
        server = postgres_url()
        assert server
        hq_url, site_url = _pg_urls(server, f"vt_{uuid.uuid4().hex[:16]}")
        create_database_from_template(hq_url, template.hq_url)
        data_dir.mkdir(parents=True, exist_ok=True)
    else:
        shutil.copytree(template.data_dir, data_dir)
    platform = Platform(_settings(data_dir, hq_url, site_url), clock=clock)
    try:
        yield platform
    finally:
        platform.close()
        if hq_url:
            drop_database(hq_url)
