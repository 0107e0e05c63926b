"""HQ figures by fan-out: a query runs in each site's own database and the parts merge.

The alternative, a replicated HQ store of every site's events, would make HQ queries one
scan but doubles the write path, lags behind ingestion and needs its own idempotent relay;
see the README ("HQ figures: fan-out") for the trade-off. Every part computed per site
merges exactly (counts add, duration lists concatenate), so fan-out loses no precision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from vintry.platform import Platform
from vintry_sdk import RequestScope, SiteContext

from vintry_analytics.config import PLUGIN_NAME

OnSite = Callable[[str], None] | None
"""Called with each site's code once its part is done (the CLI's progress bar), or None."""


def tick(on_site: OnSite, code: str) -> None:
    """Report site *code* done to *on_site*, if there is one."""
    if on_site is not None:
        on_site(code)


def enabled_sites(platform: Platform, codes: list[str]) -> list[SiteContext]:
    """The sites of *codes* where the plugin is enabled, as contexts, in the order given."""
    directory, state = platform.refresh()
    contexts = [platform.site(code, directory, state) for code in codes]
    return [site for site in contexts if site.is_enabled(PLUGIN_NAME)]


def sites_in_scope(scope: RequestScope) -> list[SiteContext]:
    """What a request covers: the addressed site's subtree inside the caller's tenant
    (a site operator its subtree, HQ everything), where the plugin is enabled."""
    return enabled_sites(scope.platform, scope.visible_site_codes())


def sites_under(platform: Platform, code: str) -> list[SiteContext]:
    """Site *code* and every site below it where the plugin is enabled (the CLI's scope)."""
    directory = platform.directory()
    return enabled_sites(platform, [node.code for node in directory.subtree(code)])


@dataclass(frozen=True)
class Window:
    """A period of whole days ending now, and the equal period before it."""

    start: datetime
    end: datetime
    previous_start: datetime

    @classmethod
    def ending(cls, now: datetime, days: int) -> Window:
        """The *days* days before *now*."""
        length = timedelta(days=days)
        return cls(start=now - length, end=now, previous_start=now - 2 * length)

    @property
    def days(self) -> int:
        """The period's length in days."""
        return (self.end - self.start).days
