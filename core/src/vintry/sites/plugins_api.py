"""Routes to list plugins and to enable, disable and configure them per site."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Path
from pydantic import BaseModel
from vintry.accounts.models import Role
from vintry.accounts.permissions import Permission
from vintry.api.security import RequestScope, authorize
from vintry.plugins import PluginRecord
from vintry.sites.configuration import change_overrides, resolve_configuration
from vintry.sites.enablement import config_namespace, enablement_at, loaded_plugin, set_enablement
from vintry.sites.inheritance import EnablementState
from vintry.sites.schemas import RequestModel, ResolvedSettingsOut

router = APIRouter(prefix="/api/v1/plugins", tags=["plugins"])
PluginName = Path(max_length=100, pattern=r"^[a-z0-9][a-z0-9_.-]*$")


class PluginOut(BaseModel):
    """A plugin as the API shows it."""

    name: str
    status: str
    error: str | None
    distribution: str | None
    version: str | None
    module: str
    builtin: bool
    hooks: list[str]
    sdk_requirement: str | None
    has_settings: bool
    enabled_here: bool | None
    enabled_on: list[str]


class EnablementIn(RequestModel):
    """A site's own setting for a plugin."""

    state: EnablementState
    required: bool = False


class EnablementOut(BaseModel):
    """A plugin's enablement at a site."""

    plugin: str
    site: str
    state: EnablementState
    required: bool
    enabled: bool
    decided_by: str | None


def _plugin_out(scope: RequestScope, record: PluginRecord) -> PluginOut:
    loaded = record.status == "loaded"
    enabled_on = [
        code
        for code in scope.visible_site_codes()
        if loaded and enablement_at(scope.platform, record.name, code).enabled
    ]
    return PluginOut(
        name=record.name,
        status=record.status,
        error=record.error,
        distribution=record.distribution,
        version=record.version,
        module=record.module,
        builtin=record.builtin,
        hooks=record.hooks,
        sdk_requirement=record.sdk_requirement,
        has_settings=record.settings_model is not None,
        enabled_here=scope.site.is_enabled(record.name) if loaded else None,
        enabled_on=enabled_on,
    )


@router.get("", response_model=list[PluginOut], summary="Installed plugins, loaded or failed")
def list_plugins(
    scope: RequestScope = Depends(authorize(Permission.PLUGINS_READ)),
) -> list[PluginOut]:
    """Every plugin the platform tried to load: version, hooks, load error, where enabled."""
    host = scope.platform.plugins
    return [_plugin_out(scope, r) for r in host.loaded() + host.failed()]


@router.get("/{name}", response_model=PluginOut, summary="One plugin")
def get_plugin(
    name: str = PluginName, scope: RequestScope = Depends(authorize(Permission.PLUGINS_READ))
) -> PluginOut:
    """A loaded plugin, with where it is enabled below the addressed site."""
    return _plugin_out(scope, loaded_plugin(scope.platform, name))


@router.get("/{name}/schema", summary="JSON Schema of a plugin's settings")
def plugin_schema(
    name: str = PluginName, scope: RequestScope = Depends(authorize(Permission.PLUGINS_READ))
) -> dict[str, Any]:
    """The schema a console builds the plugin's configuration form from."""
    return config_namespace(loaded_plugin(scope.platform, name)).model.model_json_schema()


@router.get("/{name}/enablement", response_model=EnablementOut, summary="Enablement here")
def get_enablement(
    name: str = PluginName, scope: RequestScope = Depends(authorize(Permission.PLUGINS_READ))
) -> EnablementOut:
    """The addressed site's own setting and the answer in force."""
    view = enablement_at(scope.platform, name, scope.site.code)
    return EnablementOut(plugin=name, **view.__dict__)


@router.put(
    "/{name}/enablement", response_model=EnablementOut, summary="Turn a plugin on or off here"
)
def put_enablement(
    body: EnablementIn,
    name: str = PluginName,
    scope: RequestScope = Depends(authorize(Permission.PLUGINS_MANAGE)),
) -> EnablementOut:
    """``inherit``, ``on`` or ``off`` for the addressed site; HQ alone may mark ``required``."""
    view = set_enablement(
        scope.platform,
        name,
        scope.site.code,
        state=body.state,
        required=body.required,
        actor=scope.actor,
        actor_is_hq_admin=scope.principal.role is Role.HQ_ADMIN,
    )
    return EnablementOut(plugin=name, **view.__dict__)


@router.get(
    "/{name}/config", response_model=ResolvedSettingsOut, summary="Configuration in force here"
)
def get_config(
    name: str = PluginName, scope: RequestScope = Depends(authorize(Permission.PLUGINS_READ))
) -> ResolvedSettingsOut:
    """The merged configuration at the addressed site, and which site decided each field."""
    namespace = config_namespace(loaded_plugin(scope.platform, name))
    return ResolvedSettingsOut(
        **resolve_configuration(scope.platform, namespace, scope.site.code).__dict__
    )


@router.patch(
    "/{name}/config",
    response_model=ResolvedSettingsOut,
    summary="Override or clear configuration here",
)
def patch_config(
    changes: dict[str, Any] = Body(..., description="JSON merge patch; null restores inheritance."),
    name: str = PluginName,
    scope: RequestScope = Depends(authorize(Permission.PLUGINS_MANAGE)),
) -> ResolvedSettingsOut:
    """Refused with 422 naming field (and descendant site) if a merged result would be invalid."""
    namespace = config_namespace(loaded_plugin(scope.platform, name))
    resolved = change_overrides(
        scope.platform,
        namespace,
        scope.site.code,
        set_fields={k: v for k, v in changes.items() if v is not None},
        clear_fields=[k for k, v in changes.items() if v is None],
        actor=scope.actor,
    )
    return ResolvedSettingsOut(**resolved.__dict__)
