"""Typed objects that cross the boundary between the kernel and plugins.

Hooks receive these and return these; plugin authors import them from ``vintry_sdk``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

Scope = Literal["hq", "site"]


class Event(BaseModel):
    """Something that happened, delivered to ``vintry_handle_event`` after it committed."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Unique id; a handler may see the same event twice.")
    type: str = Field(description="Dotted name, e.g. 'site.created', 'plugin.enabled'.")
    site: str = Field(description="Code of the site the event belongs to.")
    occurred_at: datetime
    payload: dict[str, Any] = Field(default_factory=dict)


class SettingsRegistration(Protocol):
    """``register(model)``: declare the plugin's pydantic settings model (one per plugin)."""

    def __call__(self, model: type[BaseModel]) -> None: ...


class RoutesRegistration(Protocol):
    """``register(router)``: add a router served under ``/api/v1/x/<plugin>/`` on every
    site where the plugin is enabled (404 ``plugin_not_enabled`` elsewhere)."""

    def __call__(self, router: APIRouter) -> None: ...


class CommandsRegistration(Protocol):
    """``register(app)``: add a typer app as ``vintry <plugin> ...``."""

    def __call__(self, app: Any) -> None: ...


class MigrationsRegistration(Protocol):
    """``register(scope, script_location)``: an Alembic script directory of the plugin's own,
    run on HQ (``"hq"``) or on every site (``"site"``) with its own version table."""

    def __call__(self, scope: Scope, script_location: str) -> None: ...


@dataclass
class Contribution:
    """What one plugin contributed through the ``register`` callbacks."""

    settings_model: type[BaseModel] | None = None
    routers: list[APIRouter] = field(default_factory=list)
    command_apps: list[Any] = field(default_factory=list)
    migrations: list[tuple[Scope, str]] = field(default_factory=list)
    extra: dict[str, list[Any]] = field(default_factory=dict)


RegisterCallback = Callable[..., None]
