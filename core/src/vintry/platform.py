"""The composition root: settings, clock, databases, the site tree and (later) plugins.

Everything that serves a request or runs a command gets a :class:`Platform`; nothing reaches
for globals. Tests build one on a temporary data directory with a manual clock.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from vintry.cache import VersionedCache
from vintry.clock import Clock, SystemClock
from vintry.db.counters import read_all
from vintry.db.databases import Database, Databases
from vintry.db.migrate import MigrationTrack, kernel_tracks, upgrade
from vintry.db.provision import ensure_database
from vintry.errors import NotFound
from vintry.settings import VintrySettings
from vintry.sites.directory import SiteDirectory, SiteNode
from vintry.sites.inheritance import Enablement, EnablementRule, FieldMergeRule, Layer, resolve

if TYPE_CHECKING:
    from vintry.events.dispatch import DeliveryReport
    from vintry.plugins import PluginHost, SiteHooks

log = logging.getLogger("vintry.platform")

SITES_COUNTER = "sites"
PLUGINS_COUNTER = "plugins"
PLUGIN_NAMESPACE_PREFIX = "plugin:"


@dataclass(frozen=True)
class PluginState:
    """Plugin enablement and configuration overrides of every site, at one version."""

    version: int = -1
    enablement: Mapping[str, Mapping[str, Enablement]] = field(default_factory=dict)
    overrides: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)


@dataclass(frozen=True)
class SiteContext:
    """One site as code running for it sees it: what a hook receives as ``site``."""

    node: SiteNode
    path: tuple[SiteNode, ...]
    platform: Platform = field(repr=False, compare=False)
    enabled_plugins: frozenset[str] = frozenset()
    plugin_state: PluginState = field(default_factory=PluginState, repr=False, compare=False)
    counters: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)

    def versions(self, *names: str) -> tuple[int, ...]:
        """Change counters *names* as read by the refresh this context was built from: the
        versions under which cached HQ reads (:mod:`vintry.cache`) are valid for it."""
        if not self.counters:  # built without a refresh: nothing may be cached for it
            return tuple(-1 for _ in names)
        return tuple(self.counters.get(name, 0) for name in names)

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
        """The site's own database (from the node this context was made with: no reload
        of the site tree, which a request already did when it made the context)."""
        return self.platform.databases.site(self.node.code, self.node.database_url)

    @property
    def hooks(self) -> SiteHooks:
        """Hook callers that reach only the plugins enabled on this site."""
        return self.platform.plugins.hooks_for(self.enabled_plugins)

    def is_enabled(self, plugin: str) -> bool:
        """Whether *plugin* is enabled here."""
        return plugin in self.enabled_plugins

    def config(self, plugin: str) -> BaseModel:
        """The configuration of *plugin* in force on this site, validated by its model."""
        record = self.platform.plugins.get(plugin)
        if record is None or record.settings_model is None:
            raise NotFound(
                f"plugin {plugin!r} has no settings", code="plugin_not_found", field="plugin"
            )
        overrides = self.plugin_state.overrides.get(plugin, {})
        defaults = {
            name: info.get_default(call_default_factory=True)
            for name, info in record.settings_model.model_fields.items()
        }
        chain = [Layer(node.code, overrides.get(node.code)) for node in self.path]
        merged = resolve(FieldMergeRule(defaults=defaults), chain).value
        return record.settings_model.model_validate(merged)


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
        plugins: PluginHost | None = None,
    ) -> None:
        self.settings = settings or VintrySettings()
        self.clock: Clock = clock or SystemClock()
        self.databases = Databases(
            self.settings.resolved_hq_database_url,
            self.settings.site_database_url_for,
            cache_size=self.settings.site_engine_cache_size,
        )
        self._directory: SiteDirectory | None = None
        self._plugin_state = PluginState()
        self._state_lock = threading.Lock()
        self._extra_tracks: list[MigrationTrack] = []
        self._plugins = plugins
        self.plugin_faults: Counter[str] = Counter()
        self.fault_hook: Callable[[str], None] | None = None
        self._versions: Mapping[str, int] = {}
        self._enabled: tuple[object, object, int, dict[str, frozenset[str]]] = (None, None, -1, {})
        self._caches: dict[str, VersionedCache[Any, Any]] = {}

    @property
    def plugins(self) -> PluginHost:
        """The plugin host, loaded on first use (lazily, once)."""
        if self._plugins is None:
            from vintry.plugins import PluginHost

            self._plugins = PluginHost(allow=self.settings.load_plugins)
        return self._plugins.load()

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
        tracks = kernel_tracks() + self.plugins.migration_tracks() + self._extra_tracks
        return [t for t in tracks if t.scope == scope]

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

    def refresh(
        self, session: Session | None = None, *, counters: Mapping[str, int] | None = None
    ) -> tuple[SiteDirectory, PluginState]:
        """The site tree and plugin state, reloaded if any process changed them since.

        One small query reads the change counters; a part reloads only when its counter
        moved, so a change made by another worker takes effect on the next request here.
        A request that reads HQ right after (authentication) passes its read *session*, so
        both share one connection and one transaction; one that already read the
        *counters* on it (with the token) passes them, and no query is made for them.
        """
        if session is None:
            if counters is not None:
                current = self._current(counters)
                if current is not None:
                    self._versions = dict(counters)
                    return current
            with self.hq.reading() as own:
                return self._refresh(own, counters)
        return self._refresh(session, counters)

    def _current(
        self, counters: Mapping[str, int]
    ) -> tuple[SiteDirectory, PluginState] | None:
        """The cached tree and plugin state if *counters* say neither moved, else None."""
        directory, state = self._directory, self._plugin_state
        if (
            directory is not None
            and directory.version == counters.get(SITES_COUNTER, 0)
            and state.version == counters.get(PLUGINS_COUNTER, 0)
        ):
            return directory, state
        return None

    def _refresh(
        self, session: Session, counters: Mapping[str, int] | None = None
    ) -> tuple[SiteDirectory, PluginState]:
        counters = dict(counters) if counters is not None else read_all(session)
        self._versions = counters
        sites_version = counters.get(SITES_COUNTER, 0)
        plugins_version = counters.get(PLUGINS_COUNTER, 0)
        current = self._current(counters)
        if current is not None:
            return current
        directory, state = self._directory, self._plugin_state
        with self._state_lock:
            if directory is None or directory.version != sites_version:
                directory = SiteDirectory.load(session, version=sites_version)
                self._directory = directory
            if state.version != plugins_version:
                state = _load_plugin_state(session, directory, plugins_version)
                self._plugin_state = state
            return directory, state

    def cache(self, name: str, *, maxsize: int = 4096) -> VersionedCache[Any, Any]:
        """This process's cache *name* (see :mod:`vintry.cache`), created on first use."""
        found = self._caches.get(name)
        if found is None:
            with self._state_lock:
                found = self._caches.setdefault(name, VersionedCache(maxsize))
        return found

    def clear_caches(self) -> None:
        """Forget every cached read (tests that write HQ behind the services' back)."""
        for cache in list(self._caches.values()):
            cache.clear()

    def directory(self) -> SiteDirectory:
        """The site tree, reloaded when another process (or this one) changed it."""
        return self.refresh()[0]

    def enabled_plugins(
        self, code: str, directory: SiteDirectory, state: PluginState
    ) -> frozenset[str]:
        """Names of the plugins enabled on site *code* (built-ins always are).

        Kept per site until the tree, the plugin state or the loaded plugins change.
        """
        kept_directory, kept_state, generation, kept = self._enabled
        if (
            kept_directory is not directory
            or kept_state is not state
            or generation != self.plugins.generation
        ):
            kept = {}
            self._enabled = (directory, state, self.plugins.generation, kept)
        found = kept.get(code)
        if found is None:
            found = kept[code] = self._work_out_enabled(code, directory, state)
        return found

    def _work_out_enabled(
        self, code: str, directory: SiteDirectory, state: PluginState
    ) -> frozenset[str]:
        path = directory.path(code)
        enabled = set(self.plugins.builtin_names())
        for record in self.plugins.loaded():
            if record.builtin:
                continue
            settings = state.enablement.get(record.name, {})
            chain = [Layer(node.code, settings.get(node.code)) for node in path]
            if resolve(EnablementRule(), chain).value:
                enabled.add(record.name)
        return frozenset(enabled)

    def invalidate_directory(self) -> None:
        """Forget the cached tree and plugin state; the next call reloads them."""
        with self._state_lock:
            self._directory = None
            self._plugin_state = PluginState()

    def root_site(self) -> SiteContext:
        """HQ's own site, the root of the tree (whose database holds HQ's templates)."""
        directory, state = self.refresh()
        root = directory.root
        if root is None:
            raise NotFound("the platform has no root site yet", code="site_not_found")
        return self.site(root.code, directory, state)

    def site(
        self,
        code: str,
        directory: SiteDirectory | None = None,
        state: PluginState | None = None,
    ) -> SiteContext:
        """The context of site *code*: what hooks receive as ``site``.

        Pass the *directory* and *state* of a ``refresh()`` already made for this request
        to avoid reading the change counters twice.
        """
        if directory is None or state is None:
            directory, state = self.refresh()
        return SiteContext(
            node=directory.get(code),
            path=directory.path(code),
            platform=self,
            enabled_plugins=self.enabled_plugins(code, directory, state),
            plugin_state=state,
            counters=self._versions,
        )

    def emit(self, type_: str, site: str, payload: dict[str, Any] | None = None) -> DeliveryReport:
        """Deliver an event to the plugins enabled on *site*; call after the change committed.

        Never raises: the change has committed, so a delivery that cannot even start (the
        site unknown here, HQ unreachable) is logged and reported as delivered to nobody.
        """
        from vintry.events.dispatch import DeliveryReport, deliver_event, new_event

        event = new_event(self, type_, site, payload)
        try:
            return deliver_event(self, event)
        except Exception:
            log.exception("event %s (%s) for site %r was not delivered", event.id, type_, site)
            return DeliveryReport(event_id=event.id)

    def fault_point(self, name: str) -> None:
        """A named step of a multi-database operation; tests inject crashes here."""
        if self.fault_hook is not None:
            self.fault_hook(name)

    def close(self) -> None:
        """Release every database connection."""
        self.databases.dispose()


def _load_plugin_state(session: Any, directory: SiteDirectory, version: int) -> PluginState:

    from vintry.sites.inheritance import EnablementState
    from vintry.sites.models import PluginEnablement, SiteSettingOverride

    codes = {node.id: node.code for node in directory.nodes.values()}
    enablement: dict[str, dict[str, Enablement]] = {}
    for row in session.scalars(select(PluginEnablement)):
        if row.site_id in codes:
            enablement.setdefault(row.plugin, {})[codes[row.site_id]] = Enablement(
                state=EnablementState(row.state), required=row.required
            )
    overrides: dict[str, dict[str, Mapping[str, Any]]] = {}
    rows = session.scalars(
        select(SiteSettingOverride).where(
            SiteSettingOverride.namespace.startswith(PLUGIN_NAMESPACE_PREFIX)
        )
    )
    for row in rows:
        if row.site_id in codes:
            plugin = row.namespace[len(PLUGIN_NAMESPACE_PREFIX) :]
            overrides.setdefault(plugin, {})[codes[row.site_id]] = dict(row.values)
    return PluginState(version=version, enablement=enablement, overrides=overrides)


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
