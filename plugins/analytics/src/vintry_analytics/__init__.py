"""Behaviour analytics for Vintry malls: event tracking, exact funnels, HQ insight and
dealers' own stock.

A Vintry plugin: plain functions marked ``@hookimpl``, found through the ``vintry`` entry
point ``analytics``. Installed once, it acts only on the sites where it is enabled, with each
site's configuration (see :mod:`vintry_analytics.config`):

- ``vintry_register_migrations`` — its tables in every site's database
  (:mod:`vintry_analytics.models`);
- ``vintry_register_routes`` — ingestion, the tracker, funnels, trends, insights and
  dealers' stock under ``/api/v1/x/analytics/`` (:mod:`vintry_analytics.api`);
- ``vintry_register_commands`` — ``vintry analytics ...`` reports (:mod:`vintry_analytics.cli`);
- ``vintry_handle_event`` — server-side events from orders and returns
  (:mod:`vintry_analytics.server_events`).
"""

from __future__ import annotations

import logging

from vintry_sdk import (
    CommandsRegistration,
    Event,
    MigrationsRegistration,
    PageEvent,
    RoutesRegistration,
    SettingsRegistration,
    SiteContext,
    hookimpl,
)

from vintry_analytics.api import router
from vintry_analytics.cli import app as command_app
from vintry_analytics.config import PLUGIN_NAME, AnalyticsSettings, settings_for
from vintry_analytics.page_events import record_page_events
from vintry_analytics.server_events import record_server_event

__all__ = [
    "PLUGIN_NAME",
    "AnalyticsSettings",
    "settings_for",
    "vintry_handle_event",
    "vintry_register_commands",
    "vintry_register_migrations",
    "vintry_register_routes",
    "vintry_register_settings",
]

log = logging.getLogger(__name__)


@hookimpl
def vintry_register_settings(register: SettingsRegistration) -> None:
    """Declare the settings model sites configure this plugin with."""
    register(AnalyticsSettings)


@hookimpl
def vintry_register_migrations(register: MigrationsRegistration) -> None:
    """Events, rate windows and sell-out live in every site's own database."""
    register("site", "vintry_analytics:migrations/site")


@hookimpl
def vintry_register_routes(register: RoutesRegistration) -> None:
    """Serve the routes under ``/api/v1/x/analytics/``."""
    register(router)


@hookimpl
def vintry_register_commands(register: CommandsRegistration) -> None:
    """Add ``vintry analytics ...``."""
    register(command_app)


@hookimpl
def vintry_handle_event(event: Event, site: SiteContext) -> None:
    """Record orders, deliveries, cancellations and returns as behaviour events, once each
    however often the event is delivered."""
    stored = record_server_event(event, site)
    if stored:
        log.debug(
            "%s: %d rows from %s (%s) at %s", PLUGIN_NAME, stored, event.id, event.type, site.code
        )


@hookimpl
def vintry_record_page_events(events: list[PageEvent], site: SiteContext) -> None:
    """Store home-page block impressions and clicks as behaviour events."""
    record_page_events(events, site)
