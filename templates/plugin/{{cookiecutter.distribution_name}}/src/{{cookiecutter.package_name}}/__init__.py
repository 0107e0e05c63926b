"""{{ cookiecutter.description }}

A Vintry plugin: plain functions marked ``@hookimpl``, found through the ``vintry`` entry
point ``{{ cookiecutter.plugin_slug }}``. Installed once, it acts only on the sites where it is
enabled, with each site's configuration (see :mod:`{{ cookiecutter.package_name }}.config`):

- ``GET /api/v1/x/{{ cookiecutter.plugin_slug }}/greeting`` answers the addressed site's greeting
  (404 ``plugin_not_enabled`` on the sites where the plugin is off);
- ``vintry_handle_event`` counts the events of each site where it is enabled, once per event.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from vintry_sdk import (
    Event,
    Permission,
    RequestScope,
    RoutesRegistration,
    SettingsRegistration,
    SiteContext,
    authorize,
    hookimpl,
)

from {{ cookiecutter.package_name }}.config import {{ cookiecutter.__settings_class }}

__all__ = [
    "PLUGIN_NAME",
    "EventTally",
    "Greeting",
    "events_seen",
    "greeting_for",
    "router",
    "settings_for",
    "vintry_handle_event",
    "vintry_register_routes",
    "vintry_register_settings",
]

# Must equal the entry-point name in pyproject.toml: the kernel files the plugin's enablement
# and configuration under that name.
PLUGIN_NAME = "{{ cookiecutter.plugin_slug }}"

log = logging.getLogger(__name__)


class Greeting(BaseModel):
    """The greeting of one site."""

    site: str = Field(description="Code of the site that answered.")
    message: str = Field(description="The greeting, as configured for that site.")


def settings_for(site: SiteContext) -> {{ cookiecutter.__settings_class }}:
    """This plugin's configuration in force on *site* (HQ's, merged with the site's overrides)."""
    # The kernel validated the merged values with the model registered below, so this returns
    # that very instance, typed.
    return {{ cookiecutter.__settings_class }}.model_validate(site.config(PLUGIN_NAME))


def greeting_for(site: SiteContext) -> Greeting:
    """Build *site*'s greeting from its configuration."""
    settings = settings_for(site)
    ending = "!" if settings.exclaim else "."
    return Greeting(site=site.code, message=f"{settings.greeting}, {site.name}{ending}")


router = APIRouter(tags=[PLUGIN_NAME])


@router.get("/greeting", response_model=Greeting, summary="The addressed site's greeting")
def read_greeting(
    scope: Annotated[RequestScope, Depends(authorize(Permission.SITES_READ))],
) -> Greeting:
    """Greet the caller with the greeting configured for the site the request addresses."""
    return greeting_for(scope.site)


class EventTally:
    """How many distinct events each site delivered to this plugin.

    Delivery is at least once, so the tally remembers the ids it counted and counts a
    re-delivered event only once. It lives in this process's memory to keep the example
    small; a real plugin records handled ids in its own table (``vintry_register_migrations``)
    so that the record survives restarts and every worker shares it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._per_site: Counter[str] = Counter()

    def record(self, event: Event) -> bool:
        """Count *event* for its site; False, counting nothing, if it was counted before."""
        with self._lock:
            if event.id in self._seen:
                return False
            self._seen.add(event.id)
            self._per_site[event.site] += 1
            return True

    def count(self, site: str) -> int:
        """The number of distinct events counted for *site*."""
        with self._lock:
            return self._per_site[site]


events_seen = EventTally()


@hookimpl
def vintry_register_settings(register: SettingsRegistration) -> None:
    """Declare the settings model sites configure this plugin with."""
    register({{ cookiecutter.__settings_class }})


@hookimpl
def vintry_register_routes(register: RoutesRegistration) -> None:
    """Serve the greeting route under ``/api/v1/x/{{ cookiecutter.plugin_slug }}/``."""
    register(router)


@hookimpl
def vintry_handle_event(event: Event, site: SiteContext) -> None:
    """Count each event of a site where the plugin is enabled, once however often delivered."""
    if events_seen.record(event):
        log.info("%s: event %s (%s) on site %s", PLUGIN_NAME, event.id, event.type, site.code)
