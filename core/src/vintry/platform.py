"""The composition root: settings, clock, databases, the site tree and (later) plugins.

Everything that serves a request or runs a command gets a :class:`Platform`; nothing reaches
for globals. Tests build one on a temporary data directory with a manual clock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from vintry.clock import Clock, SystemClock
from vintry.db.counters import ChangeCounter
from vintry.db.databases import Database, Databases
from vintry.db.migrate import MigrationTrack, kernel_tracks, upgrade
from vintry.db.provision import ensure_database
from vintry.settings import VintrySettings
from vintry.sites.directory import SiteDirectory, SiteNode

log = logging.getLogger("vintry.platform")

SITES_COUNTER = "sites"


@dataclass(frozen=True)
class SiteContext:
    """One site as code running for it sees it: what a hook receives as ``site``."""

    node: SiteNode
    path: tuple[SiteNode, ...]
    platform: Platform = field(repr=False, compare=False)

    @property
    def code(self) -> str:
        """The site's code."""
        return self.node.code

    @property
    def name(self) -> str:
        """The site's display name."""
        return self.node.name

    @property
    def kind(self) -> str:
        """``hq``, ``region`` or ``store``."""
        return self.node.kind.value

    @property
    def lineage(self) -> tuple[str, ...]:
        """Codes from the root down to this site."""
        return tuple(node.code for node in self.path)

    @property
    def database(self) -> Database:
        """The site's own database."""
        return self.platform.site_database(self.node.code)


@dataclass
class MigrationReport:
    """What ``migrate`` moved: tracks per database."""

    hq: list[str] = field(default_factory=list)
    sites: dict[str, list[str]] = field(default_factory=dict)


class Platform:
    """One Vintry deployment as seen from one process."""

    def __init__(
        self,
        settings: VintrySettings | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings or VintrySettings()
        self.clock: Clock = clock or SystemClock()
        self.databases = Databases(
            self.settings.resolved_hq_database_url,
            self.settings.site_database_url_for,
            cache_size=self.settings.site_engine_cache_size,
        )
        self._directory: SiteDirectory | None = None
        self._directory_lock = threading.Lock()
        self._extra_tracks: list[MigrationTrack] = []

    # --- databases and migrations -------------------------------------------------

    @property
    def hq(self) -> Database:
        """The HQ database."""
        return self.databases.hq

    def site_database(self, code: str) -> Database:
        """The database of site *code* (opened lazily)."""
        node = self.directory().get(code)
        return self.databases.site(code, node.database_url)

    def add_migration_tracks(self, tracks: list[MigrationTrack]) -> None:
        """Add histories contributed by plugins."""
        self._extra_tracks.extend(tracks)

    def migration_tracks(self, scope: str) -> list[MigrationTrack]:
        """The kernel's tracks of *scope*, then the plugins'."""
        return [t for t in kernel_tracks() + self._extra_tracks if t.scope == scope]

    def ensure_hq(self) -> list[str]:
        """Create the data directory and the HQ database if missing, and migrate HQ."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_database(self.hq.url)
        return upgrade(self.hq, self.migration_tracks("hq"))

    def migrate_site(self, code: str, database_url: str | None = None) -> list[str]:
        """Create site *code*'s database if missing and bring it to head."""
        url = self.databases.site_url(code, database_url)
        ensure_database(url)
        database = self.databases.site(code, database_url)
        moved = upgrade(database, self.migration_tracks("site"))
        _stamp_site_code(database, code)
        return moved

    def migrate(self, on_site: Callable[[str], None] | None = None) -> MigrationReport:
        """Upgrade HQ, then every site; *on_site* is told after each site (progress bars)."""
        report = MigrationReport(hq=self.ensure_hq())
        self.invalidate_directory()
        for node in self.directory().nodes.values():
            report.sites[node.code] = self.migrate_site(node.code, node.database_url)
            if on_site is not None:
                on_site(node.code)
        return report

    # --- the site tree --------------------------------------------------------------

    def directory(self) -> SiteDirectory:
        """The site tree, reloaded when another process (or this one) changed it."""
        with self.hq.reading() as session:
            version = session.scalar(
                select(ChangeCounter.version).where(ChangeCounter.name == SITES_COUNTER)
            ) or 0
            cached = self._directory
            if cached is not None and cached.version == version:
                return cached
            with self._directory_lock:
                directory = SiteDirectory.load(session, version=version)
                self._directory = directory
                return directory

    def invalidate_directory(self) -> None:
        """Forget the cached tree; the next call reloads it."""
        self._directory = None

    def site(self, code: str, directory: SiteDirectory | None = None) -> SiteContext:
        """The context of site *code*."""
        directory = directory or self.directory()
        return SiteContext(node=directory.get(code), path=directory.path(code), platform=self)

    def close(self) -> None:
        """Release every database connection."""
        self.databases.dispose()


def _stamp_site_code(database: Database, code: str) -> None:
    from vintry.errors import Conflict
    from vintry.sites.site_models import SiteMeta

    with database.transaction() as session:
        meta = session.get(SiteMeta, "site_code")
        if meta is None:
            session.add(SiteMeta(key="site_code", value=code))
        elif meta.value != code:
            raise Conflict(
                f"database {database.url!r} already belongs to site {meta.value!r}",
                code="site_database_in_use",
                field="database_url",
            )
