"""Imports every kernel model so that both metadata collections are complete."""

from __future__ import annotations


def import_all_models() -> None:
    """Import the modules that declare kernel tables (idempotent)."""
    import vintry.accounts.models
    import vintry.audit.models
    import vintry.campaigns.models
    import vintry.catalog.models
    import vintry.db.counters
    import vintry.dealers.models
    import vintry.inventory.models
    import vintry.orders.models
    import vintry.pages.models
    import vintry.sites.models
    import vintry.sites.read_models
    import vintry.sites.site_models  # noqa: F401
