"""The plugin host: discovery, one-by-one validation, registration and per-site hook calls.

Plugins arrive through the ``vintry`` entry-point group (installing a distribution makes
its plugin available; nothing in the kernel names one). ``VINTRY_LOAD_PLUGINS`` narrows
what loads. Built-in behaviour is registered through the very same path.

Each plugin is validated on its own; one that needs an incompatible SDK, fails to import,
implements an unknown hook, uses wrong argument names or raises while registering is
unregistered and kept as a *failed* record with the reason, and the platform goes on
without it. Loading is lazy and idempotent: nothing happens at import time.
"""

from __future__ import annotations

import difflib
import functools
import logging
import re
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any, Literal

import pluggy
from fastapi import APIRouter
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from pydantic import BaseModel

from vintry import hookspecs
from vintry.contracts import BlockType, CampaignType, Carrier, Contribution, Scope
from vintry.db.migrate import MigrationTrack

log = logging.getLogger("vintry.plugins")

ENTRY_POINT_GROUP = "vintry"
SDK_DISTRIBUTION = "vintry-sdk"
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("vintry-events-log", "vintry.builtin.events_log"),
    ("vintry-sourcing-basic", "vintry.builtin.sourcing"),
    ("vintry-dealer-credit", "vintry.builtin.dealer_credit"),
    ("vintry-campaigns", "vintry.campaigns.budgets"),
    ("vintry-simulated-carrier", "vintry.builtin.carrier"),
    ("vintry-pages", "vintry.pages.blocks"),
)
REGISTRATION_HOOKS = (
    "vintry_register_settings",
    "vintry_register_routes",
    "vintry_register_commands",
    "vintry_register_migrations",
    "vintry_register_sourcing_strategies",
    "vintry_register_campaign_types",
    "vintry_register_carriers",
    "vintry_register_page_blocks",
)
Status = Literal["loaded", "failed"]
_STRATEGY_NAME = re.compile(r"^[a-z][a-z0-9_-]{1,63}$")
_CAMPAIGN_TYPE_NAME = re.compile(r"^[a-z][a-z0-9-]{1,63}$")


@dataclass
class PluginRecord:
    """One plugin as the host knows it: where it came from, and whether it loaded."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    builtin: bool = False
    status: Status = "loaded"
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    sdk_requirement: str | None = None
    contribution: Contribution = field(default_factory=Contribution)

    @property
    def settings_model(self) -> type[BaseModel] | None:
        """The plugin's settings model, if it registered one."""
        return self.contribution.settings_model


class PluginRejected(Exception):
    """Why a plugin could not be loaded (kept in its record, never raised to callers)."""


def installed_sdk_version() -> str | None:
    """The version of ``vintry-sdk`` installed beside the kernel."""
    try:
        return metadata.version(SDK_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None


class PluginHost:
    """Owns the pluggy manager and the record of every plugin it tried to load."""

    def __init__(
        self,
        *,
        allow: Iterable[str] | None = None,
        entry_points: Callable[[], Iterable[metadata.EntryPoint]] | None = None,
        builtins: Iterable[tuple[str, str]] = BUILTIN_PLUGINS,
    ) -> None:
        self.allow = None if allow is None else frozenset(allow)
        self._entry_points = entry_points or (
            lambda: metadata.entry_points(group=ENTRY_POINT_GROUP)
        )
        self._builtins = tuple(builtins)
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self._loaded = False
        self._lock = threading.RLock()
        self._relays: dict[frozenset[str], SiteHooks] = {}
        self.generation = 0
        self._builtin_names: tuple[int, frozenset[str]] = (-1, frozenset())
        """Bumped whenever a plugin loads or is rejected, so what callers work out from the
        loaded plugins (a site's enabled set) can be kept until it moves."""

    # --- loading --------------------------------------------------------------------

    def load(self) -> PluginHost:
        """Load built-ins and installed plugins once; later calls do nothing."""
        with self._lock:
            if self._loaded:
                return self
            self._loaded = True
            for name, module in self._builtins:
                self._load_one(name, functools.partial(_import, module), builtin=True)
            for entry_point in sorted(self._entry_points(), key=lambda ep: ep.name):
                if self.allow is not None and entry_point.name not in self.allow:
                    continue
                self._load_entry_point(entry_point)
            for record in self.failed():
                log.error("plugin %s not loaded: %s", record.name, record.error)
            return self

    def register(self, name: str, plugin: object, *, builtin: bool = False) -> PluginRecord:
        """Register an in-process plugin object (tests, embedding); validated like any other."""
        with self._lock:
            self.load()
            existing = self.records.get(name)
            if existing is not None and existing.status == "loaded":
                if self.manager.get_plugin(name) is plugin:
                    return existing  # registering the same object again changes nothing
                # Keep the plugin that holds the name; file the newcomer as failed beside it.
                module = getattr(plugin, "__name__", type(plugin).__name__)
                record = PluginRecord(
                    name=name,
                    module=module,
                    builtin=builtin,
                    status="failed",
                    error=f"the name {name!r} is already taken by {existing.module}",
                )
                self.records[f"{name}@{module}#{id(plugin)}"] = record
            else:
                record = self._load_one(name, lambda: plugin, builtin=builtin)
            if record.status == "failed":
                log.error("plugin %s not loaded: %s", record.name, record.error)
            return record

    def _load_entry_point(self, entry_point: metadata.EntryPoint) -> None:
        dist = entry_point.dist
        record_base = {
            "distribution": dist.name if dist else None,
            "version": dist.version if dist else None,
        }
        if entry_point.name in self.records:
            self.records[f"{entry_point.name}@{record_base['distribution']}"] = PluginRecord(
                name=entry_point.name,
                module=entry_point.value,
                status="failed",
                error=f"the name {entry_point.name!r} is already taken by "
                f"{self.records[entry_point.name].distribution or 'a built-in'}",
                **record_base,  # type: ignore[arg-type]
            )
            return
        requirement: str | None = None
        try:
            requirement = _check_sdk(dist)
        except PluginRejected as rejected:
            self.records[entry_point.name] = PluginRecord(
                name=entry_point.name,
                module=entry_point.value,
                status="failed",
                error=str(rejected),
                **record_base,  # type: ignore[arg-type]
            )
            return
        record = self._load_one(entry_point.name, entry_point.load, module=entry_point.value)
        record.distribution = record_base["distribution"]
        record.version = record_base["version"]
        record.sdk_requirement = requirement

    def _load_one(
        self,
        name: str,
        load: Callable[[], object],
        *,
        builtin: bool = False,
        module: str | None = None,
    ) -> PluginRecord:
        record = PluginRecord(name=name, module=module or "", builtin=builtin)
        self.records[name] = record
        try:
            plugin = load()
        except Exception as error:
            return self._reject(record, None, f"import failed: {_describe(error)}")
        if not record.module:
            record.module = getattr(plugin, "__name__", type(plugin).__name__)
        try:
            self.manager.register(plugin, name=name)
        except pluggy.PluginValidationError as error:
            return self._reject(record, None, f"invalid hook implementation: {error}")
        except ValueError as error:
            return self._reject(record, None, str(error))
        unknown = [
            caller.name
            for caller in self.manager.get_hookcallers(plugin) or []
            if caller.spec is None
        ]
        if unknown:
            return self._reject(
                record, plugin, "; ".join(_unknown_hook_message(h) for h in unknown)
            )
        record.hooks = sorted(caller.name for caller in self.manager.get_hookcallers(plugin) or [])
        unmarked = [
            attr
            for attr in dir(plugin)
            if attr.startswith("vintry_")
            and attr not in record.hooks
            and callable(getattr(plugin, attr, None))
        ]
        if unmarked:
            return self._reject(
                record,
                plugin,
                "; ".join(f"{attr!r} is not marked @hookimpl" for attr in unmarked),
            )
        try:
            record.contribution = self._collect_contributions(name)
        except PluginRejected as rejected:
            return self._reject(record, plugin, str(rejected))
        self._changed()
        return record

    def _reject(self, record: PluginRecord, plugin: object | None, reason: str) -> PluginRecord:
        if plugin is not None and self.manager.is_registered(plugin):
            self.manager.unregister(plugin)
        record.status = "failed"
        record.error = reason
        self._changed()
        return record

    def _changed(self) -> None:
        self._relays.clear()
        self.generation += 1

    def _collect_contributions(self, name: str) -> Contribution:
        contribution = Contribution()

        def register_settings(model: type[BaseModel]) -> None:
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                raise PluginRejected(
                    "vintry_register_settings: register() needs a pydantic model class"
                )
            required = [f for f, info in model.model_fields.items() if info.is_required()]
            if required:
                raise PluginRejected(
                    f"settings model {model.__name__} has fields without defaults: "
                    f"{', '.join(required)}"
                )
            if contribution.settings_model is not None:
                raise PluginRejected("a plugin registers one settings model")
            contribution.settings_model = model

        def register_router(router: APIRouter) -> None:
            if not isinstance(router, APIRouter):
                raise PluginRejected("vintry_register_routes: register() needs a fastapi.APIRouter")
            contribution.routers.append(router)

        def register_command(app: Any) -> None:
            contribution.command_apps.append(app)

        def register_migrations(scope: Scope, script_location: str) -> None:
            if scope not in ("hq", "site"):
                raise PluginRejected(f"migration scope must be 'hq' or 'site', not {scope!r}")
            contribution.migrations.append((scope, script_location))

        def register_sourcing(name: str, strategy: Any) -> None:
            if not isinstance(name, str) or not _STRATEGY_NAME.match(name):
                raise PluginRejected(
                    f"sourcing strategy name {name!r} must match {_STRATEGY_NAME.pattern}"
                )
            if not callable(strategy):
                raise PluginRejected(f"sourcing strategy {name!r} is not callable")
            taken = self.sourcing_strategy_owner(name)
            if taken is not None or name in contribution.sourcing_strategies:
                raise PluginRejected(
                    f"sourcing strategy {name!r} is already registered by {taken or 'this plugin'}"
                )
            contribution.sourcing_strategies[name] = strategy

        def register_campaign_type(campaign_type: CampaignType) -> None:
            if not isinstance(campaign_type, CampaignType):
                raise PluginRejected(
                    "vintry_register_campaign_types: register() needs a vintry_sdk.CampaignType"
                )
            type_name = campaign_type.name
            if not isinstance(type_name, str) or not _CAMPAIGN_TYPE_NAME.match(type_name):
                raise PluginRejected(
                    f"campaign type name {type_name!r} must match {_CAMPAIGN_TYPE_NAME.pattern}"
                )
            model = campaign_type.config_model
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                raise PluginRejected(f"campaign type {type_name!r}: config_model is not a model")
            if not callable(campaign_type.lowest_unit_prices):
                raise PluginRejected(
                    f"campaign type {type_name!r}: lowest_unit_prices is not callable"
                )
            taken = self.campaign_type_owner(type_name)
            if taken is not None or type_name in contribution.campaign_types:
                raise PluginRejected(
                    f"campaign type {type_name!r} is already registered by "
                    f"{taken or 'this plugin'}"
                )
            contribution.campaign_types[type_name] = campaign_type

        def register_carrier(carrier: Carrier) -> None:
            if not isinstance(carrier, Carrier):
                raise PluginRejected(
                    "vintry_register_carriers: register() needs a vintry_sdk.Carrier"
                )
            if not isinstance(carrier.name, str) or not _CAMPAIGN_TYPE_NAME.match(carrier.name):
                raise PluginRejected(
                    f"carrier name {carrier.name!r} must match {_CAMPAIGN_TYPE_NAME.pattern}"
                )
            if not carrier.service_levels:
                raise PluginRejected(f"carrier {carrier.name!r} offers no service level")
            if not callable(carrier.estimate_arrival):
                raise PluginRejected(f"carrier {carrier.name!r}: estimate_arrival is not callable")
            taken = self.carrier_owner(carrier.name)
            if taken is not None or carrier.name in contribution.carriers:
                raise PluginRejected(
                    f"carrier {carrier.name!r} is already registered by {taken or 'this plugin'}"
                )
            contribution.carriers[carrier.name] = carrier

        def register_page_block(block_type: BlockType) -> None:
            if not isinstance(block_type, BlockType):
                raise PluginRejected(
                    "vintry_register_page_blocks: register() needs a vintry_sdk.BlockType"
                )
            type_name = block_type.name
            if not isinstance(type_name, str) or not _CAMPAIGN_TYPE_NAME.match(type_name):
                raise PluginRejected(
                    f"page block type name {type_name!r} must match {_CAMPAIGN_TYPE_NAME.pattern}"
                )
            model = block_type.config_model
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                raise PluginRejected(f"page block type {type_name!r}: config_model is not a model")
            if not callable(block_type.render):
                raise PluginRejected(f"page block type {type_name!r}: render is not callable")
            taken = self.page_block_owner(type_name)
            if taken is not None or type_name in contribution.page_blocks:
                raise PluginRejected(
                    f"page block type {type_name!r} is already registered by "
                    f"{taken or 'this plugin'}"
                )
            contribution.page_blocks[type_name] = block_type

        callbacks: dict[str, Callable[..., None]] = {
            "vintry_register_settings": register_settings,
            "vintry_register_routes": register_router,
            "vintry_register_commands": register_command,
            "vintry_register_migrations": register_migrations,
            "vintry_register_sourcing_strategies": register_sourcing,
            "vintry_register_campaign_types": register_campaign_type,
            "vintry_register_carriers": register_carrier,
            "vintry_register_page_blocks": register_page_block,
        }
        for hook_name in REGISTRATION_HOOKS:
            caller = getattr(self.manager.hook, hook_name)
            for impl in caller.get_hookimpls():
                if impl.plugin_name != name:
                    continue
                try:
                    impl.function(**{arg: callbacks[hook_name] for arg in impl.argnames})
                except PluginRejected:
                    raise
                except Exception as error:
                    raise PluginRejected(f"{hook_name} raised {_describe(error)}") from error
        return contribution

    # --- what loaded ----------------------------------------------------------------

    def loaded(self) -> list[PluginRecord]:
        """Plugins that loaded, by name."""
        self.load()
        return sorted(
            (r for r in self.records.values() if r.status == "loaded"), key=lambda r: r.name
        )

    def failed(self) -> list[PluginRecord]:
        """Plugins that did not load, by name, with the reason."""
        return sorted(
            (r for r in self.records.values() if r.status == "failed"), key=lambda r: r.name
        )

    def get(self, name: str) -> PluginRecord | None:
        """The loaded plugin *name*, or None."""
        self.load()
        record = self.records.get(name)
        return record if record is not None and record.status == "loaded" else None

    def builtin_names(self) -> frozenset[str]:
        """Names of the built-in plugins that loaded (always enabled everywhere)."""
        self.load()
        current = self.generation
        generation, names = self._builtin_names
        if generation != current:
            names = frozenset(r.name for r in self.loaded() if r.builtin)
            self._builtin_names = (current, names)
        return names

    def sourcing_strategy_owner(self, name: str) -> str | None:
        """The loaded plugin that registered sourcing strategy *name*, if any."""
        return self._owner("sourcing_strategies", name)

    def _owner(self, contributed: str, name: str) -> str | None:
        for record in self.records.values():
            if record.status == "loaded" and name in getattr(record.contribution, contributed):
                return record.name
        return None

    def campaign_type_owner(self, name: str) -> str | None:
        """The loaded plugin that registered campaign type *name*, if any."""
        return self._owner("campaign_types", name)

    def carrier_owner(self, name: str) -> str | None:
        """The loaded plugin that registered carrier *name*, if any."""
        return self._owner("carriers", name)

    def page_block_owner(self, name: str) -> str | None:
        """The loaded plugin that registered page block type *name*, if any."""
        return self._owner("page_blocks", name)

    def page_blocks(self) -> dict[str, tuple[str, BlockType]]:
        """Every registered page block type: name → (owning plugin, type)."""
        return {
            name: (record.name, block_type)
            for record in self.loaded()
            for name, block_type in record.contribution.page_blocks.items()
        }

    def carriers(self) -> dict[str, tuple[str, Carrier]]:
        """Every registered carrier: name → (owning plugin, carrier)."""
        return {
            name: (record.name, carrier)
            for record in self.loaded()
            for name, carrier in record.contribution.carriers.items()
        }

    def campaign_types(self) -> dict[str, tuple[str, CampaignType]]:
        """Every registered campaign type: name → (owning plugin, type)."""
        return {
            name: (record.name, campaign_type)
            for record in self.loaded()
            for name, campaign_type in record.contribution.campaign_types.items()
        }

    def sourcing_strategies(self) -> dict[str, tuple[str, Any]]:
        """Every registered strategy: name → (owning plugin, strategy)."""
        return {
            name: (record.name, strategy)
            for record in self.loaded()
            for name, strategy in record.contribution.sourcing_strategies.items()
        }

    def migration_tracks(self) -> list[MigrationTrack]:
        """Every loaded plugin's Alembic histories."""
        tracks: list[MigrationTrack] = []
        for record in self.loaded():
            for scope, location in record.contribution.migrations:
                safe = record.name.replace("-", "_")
                tracks.append(
                    MigrationTrack(
                        name=f"{record.name}-{scope}",
                        scope=scope,
                        script_location=location,
                        version_table=f"{safe}_{scope}_version",
                        owner=record.name,
                    )
                )
        return tracks

    # --- calling hooks for a site ---------------------------------------------------

    def hooks_for(self, enabled: frozenset[str]) -> SiteHooks:
        """Hook callers that reach only the plugins in *enabled* (plus nothing else)."""
        self.load()
        with self._lock:
            relay = self._relays.get(enabled)
            if relay is None:
                relay = SiteHooks(self.manager, enabled)
                self._relays[enabled] = relay
            return relay


class SiteHooks:
    """``hooks.vintry_x(...)`` for one set of enabled plugins."""

    def __init__(self, manager: pluggy.PluginManager, enabled: frozenset[str]) -> None:
        self._manager = manager
        self._enabled = enabled
        self._callers: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("vintry_"):
            raise AttributeError(name)
        caller = self._callers.get(name)
        if caller is None:
            excluded = [
                plugin
                for plugin_name, plugin in self._manager.list_name_plugin()
                if plugin_name not in self._enabled and plugin is not None
            ]
            caller = self._manager.subset_hook_caller(name, remove_plugins=excluded)
            self._callers[name] = caller
        return caller

    def implementations(self, name: str) -> list[pluggy.HookImpl]:
        """The enabled plugins' implementations of hook *name*, in call order."""
        return [
            impl
            for impl in reversed(getattr(self._manager.hook, name).get_hookimpls())
            if impl.plugin_name in self._enabled
        ]


def _check_sdk(dist: metadata.Distribution | None) -> str | None:
    if dist is None:
        return None
    requirement = None
    for raw in dist.requires or []:
        try:
            parsed = Requirement(raw)
        except InvalidRequirement:
            continue
        # A marker (python_version, extra == "test") decides whether the line applies here.
        applies = parsed.marker is None or parsed.marker.evaluate({"extra": ""})
        if canonicalize_name(parsed.name) == SDK_DISTRIBUTION and applies:
            requirement = parsed
            break
    if requirement is None:
        raise PluginRejected(f"{dist.name} declares no {SDK_DISTRIBUTION} requirement")
    installed = installed_sdk_version()
    if installed is None:
        raise PluginRejected(f"{SDK_DISTRIBUTION} is not installed")
    if not requirement.specifier.contains(installed, prereleases=True):
        raise PluginRejected(
            f"built for {SDK_DISTRIBUTION}{requirement.specifier}, "
            f"but this platform has {SDK_DISTRIBUTION} {installed}"
        )
    return str(requirement.specifier)


def _import(module: str) -> ModuleType:
    import importlib

    return importlib.import_module(module)


def _describe(error: BaseException) -> str:
    frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    where = f" ({frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})" if frame else ""
    return f"{type(error).__name__}: {error}{where}"


def _unknown_hook_message(name: str) -> str:
    # Compare without the shared prefix, which would make every name look close to every hook.
    known = {n.removeprefix("vintry_"): n for n in dir(hookspecs) if n.startswith("vintry_")}
    close = difflib.get_close_matches(name.removeprefix("vintry_"), list(known), n=1)
    hint = f" (did you mean {known[close[0]]!r}?)" if close else ""
    return f"unknown hook {name!r}{hint}"
