"""Turning plugins on and off per site, and configuring them, down the site tree."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from vintry.accounts.principal import Actor
from vintry.audit.service import record_change
from vintry.db.counters import bump
from vintry.errors import InvalidInput, NotFound, PermissionDenied
from vintry.platform import PLUGIN_NAMESPACE_PREFIX, PLUGINS_COUNTER, Platform
from vintry.plugins import PluginRecord
from vintry.sites.configuration import ConfigNamespace
from vintry.sites.inheritance import Enablement, EnablementRule, EnablementState, Layer, resolve
from vintry.sites.models import PluginEnablement, SiteKind


@dataclass(frozen=True)
class EnablementView:
    """A plugin's enablement at one site: its own setting and the answer in force."""

    site: str
    state: EnablementState
    required: bool
    enabled: bool
    decided_by: str | None


def loaded_plugin(platform: Platform, name: str) -> PluginRecord:
    """The loaded plugin *name*, or NotFound (failed plugins cannot be enabled)."""
    record = platform.plugins.get(name)
    if record is None:
        failed = platform.plugins.records.get(name)
        reason = f": it failed to load ({failed.error})" if failed and failed.error else ""
        raise NotFound(
            f"plugin {name!r} is not loaded{reason}", code="plugin_not_found", field="plugin"
        )
    return record


def config_namespace(record: PluginRecord) -> ConfigNamespace:
    """The configuration namespace of a plugin that registered a settings model."""
    if record.settings_model is None:
        raise NotFound(
            f"plugin {record.name!r} has no settings", code="plugin_has_no_settings", field="plugin"
        )
    return ConfigNamespace(
        name=f"{PLUGIN_NAMESPACE_PREFIX}{record.name}",
        model=record.settings_model,
        object_type="plugin_config",
        counter=PLUGINS_COUNTER,
    )


def enablement_at(platform: Platform, name: str, code: str) -> EnablementView:
    """Plugin *name*'s enablement at site *code*, with the site that decided it."""
    record = loaded_plugin(platform, name)
    directory, state = platform.refresh()
    own = state.enablement.get(name, {}).get(code, Enablement())
    if record.builtin:
        return EnablementView(
            code, own.state, True, True, directory.root.code if directory.root else None
        )
    chain = [
        Layer(node.code, state.enablement.get(name, {}).get(node.code))
        for node in directory.path(code)
    ]
    resolved = resolve(EnablementRule(), chain)
    return EnablementView(code, own.state, own.required, resolved.value, resolved.decided_by["*"])


def set_enablement(
    platform: Platform,
    name: str,
    code: str,
    *,
    state: EnablementState,
    required: bool = False,
    actor: Actor,
    actor_is_hq_admin: bool,
) -> EnablementView:
    """Set site *code*'s own enablement of plugin *name* (audited, effective everywhere at once)."""
    record = loaded_plugin(platform, name)
    if record.builtin:
        raise InvalidInput(
            f"{name!r} is built in and always on", code="plugin_builtin", field="plugin"
        )
    directory, plugin_state = platform.refresh()
    node = directory.get(code)
    if required and (node.kind is not SiteKind.HQ or not actor_is_hq_admin):
        raise PermissionDenied(
            "only HQ marks a plugin required", code="required_is_hq_only", field="required"
        )
    if required and state is EnablementState.OFF:
        raise InvalidInput(
            "a required plugin cannot be off", code="invalid_enablement", field="state"
        )
    if state is EnablementState.OFF:
        for ancestor in directory.path(code)[:-1]:
            setting = plugin_state.enablement.get(name, {}).get(ancestor.code)
            if setting is not None and setting.required:
                raise InvalidInput(
                    f"{name!r} is required by {ancestor.code!r} and cannot be turned off here",
                    code="plugin_required",
                    field="state",
                )
    with platform.hq.transaction() as session:
        row = session.scalar(
            select(PluginEnablement).where(
                PluginEnablement.site_id == node.id, PluginEnablement.plugin == name
            )
        )
        before = (
            {"state": row.state, "required": row.required}
            if row
            else {"state": "inherit", "required": False}
        )
        after = {"state": state.value, "required": required}
        if before != after:
            now = platform.clock.now()
            if state is EnablementState.INHERIT and not required:
                if row is not None:
                    session.delete(row)
            elif row is None:
                session.add(
                    PluginEnablement(
                        site_id=node.id,
                        plugin=name,
                        state=state.value,
                        required=required,
                        updated_at=now,
                    )
                )
            else:
                row.state, row.required, row.updated_at = state.value, required, now
            record_change(
                session,
                at=now,
                site_id=node.id,
                actor=actor,
                action="plugin.enablement",
                object_type="plugin",
                object_id=name,
                before=before,
                after=after,
            )
            bump(session, PLUGINS_COUNTER)
    view = enablement_at(platform, name, code)
    if before != after:
        platform.emit(
            "plugin.enablement_changed", code, {"plugin": name, **after, "enabled": view.enabled}
        )
    return view
