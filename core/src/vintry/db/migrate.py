"""Running Alembic histories ("tracks") against the HQ and site databases.

A track is one script directory with its own version table and a scope: ``hq`` tracks run
on the HQ database, ``site`` tracks on every site database. The kernel contributes
``vintry-hq`` and ``vintry-site``; plugins add theirs through the migrations hook.
"""

from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass, field
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData

from vintry.db.databases import Database

Scope = Literal["hq", "site"]


@dataclass(frozen=True)
class MigrationTrack:
    """One Alembic history: a script directory, its version table and where it runs."""

    name: str
    scope: Scope
    script_location: str
    version_table: str
    target_metadata: MetaData | None = field(default=None, compare=False)
    owner: str = "vintry"

    def config(self, connection: Connection | None = None) -> Config:
        """An Alembic config for this track, bound to *connection* when given."""
        config = Config()
        config.set_main_option("script_location", self.script_location)
        config.attributes["version_table"] = self.version_table
        config.attributes["target_metadata"] = self.target_metadata
        if connection is not None:
            config.attributes["connection"] = connection
        return config

    def head(self) -> str | None:
        """The head revision of the track's scripts."""
        return ScriptDirectory.from_config(self.config()).get_current_head()


def kernel_tracks() -> list[MigrationTrack]:
    """The kernel's own HQ and site histories."""
    from vintry.db.base import HQBase, SiteBase
    from vintry.models import import_all_models

    import_all_models()
    return [
        MigrationTrack(
            name="vintry-hq",
            scope="hq",
            script_location="vintry.db:migrations/hq",
            version_table="vintry_hq_version",
            target_metadata=HQBase.metadata,
        ),
        MigrationTrack(
            name="vintry-site",
            scope="site",
            script_location="vintry.db:migrations/site",
            version_table="vintry_site_version",
            target_metadata=SiteBase.metadata,
        ),
    ]


_process_lock = threading.Lock()


def current_revision(database: Database, track: MigrationTrack) -> str | None:
    """The revision *track* is at in *database* (None when never migrated)."""
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": track.version_table}
        )
        return context.get_current_revision()


def upgrade(database: Database, tracks: list[MigrationTrack]) -> list[str]:
    """Bring *database* to the head of every track in *tracks*; return the tracks that moved.

    Runs are serialised: on SQLite by the write lock (``BEGIN IMMEDIATE``), on PostgreSQL by
    an advisory lock keyed on the database, so concurrent workers migrating at start-up do
    not trip over each other.
    """
    moved: list[str] = []
    with _process_lock:
        for track in tracks:
            head = track.head()
            if head is not None and current_revision(database, track) == head:
                continue
            with database.engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    key = zlib.crc32(f"vintry-migrate:{track.version_table}".encode())
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({key})")
                command.upgrade(track.config(connection), "head")
            moved.append(track.name)
    return moved
