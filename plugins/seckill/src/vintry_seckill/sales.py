"""Flash sales as the plugin reads them: campaigns of type ``seckill`` of a site.

The kernel owns the campaigns (``vintry.campaigns``: window, state, targeting, budgets,
audit); the plugin reads them, never writes them. Attempts read a sale through a small
per-process cache — a pre-check that spares the database the attempts that cannot succeed
(a sale not live, a dealer not targeted). It is never trusted for the decision: the
admission batch reads the campaign again inside its transaction.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from vintry.campaigns.models import Campaign, CampaignState
from vintry.campaigns.selection import state_of, targets
from vintry_sdk import Conflict, DealerView, NotFound, PermissionDenied, Platform, SiteContext

from vintry_seckill.campaign_type import SECKILL, SeckillConfig
from vintry_seckill.config import SeckillSettings

PLUGIN_NAME = "seckill"
CACHE_SECONDS = 1.0
"""How long a worker reuses a sale it read (monotonic time: the age of a cached read, not a
business time; the decision itself is made on the database with the platform clock)."""


_settings: dict[tuple[int, str], tuple[object, SeckillSettings]] = {}


def settings_for(site: SiteContext) -> SeckillSettings:
    """This plugin's configuration in force on *site* (HQ's, merged with the site's overrides).

    Remembered per plugin state (the object a refresh produced), so the several reads of one
    attempt merge and validate the configuration once; a new state is read afresh.
    """
    key = (id(site.platform), site.code)
    found = _settings.get(key)
    if found is not None and found[0] is site.plugin_state and site.plugin_state.version >= 0:
        return found[1]
    settings = SeckillSettings.model_validate(site.config(PLUGIN_NAME))
    _settings[key] = (site.plugin_state, settings)
    return settings


@dataclass(frozen=True)
class Sale:
    """A flash sale: its campaign row (detached, read-only) and its validated config."""

    campaign: Campaign
    config: SeckillConfig

    @property
    def code(self) -> str:
        """The campaign's code."""
        return self.campaign.code

    def state(self, now: datetime) -> CampaignState:
        """The campaign's state at *now*."""
        return state_of(self.campaign, now)

    def targets(self, dealer: DealerView) -> bool:
        """Whether the campaign is for *dealer*."""
        return targets(self.campaign, dealer)

    def hold_time(self, settings: SeckillSettings) -> timedelta:
        """How long a won unit is held: the sale's own time, else the site's."""
        return timedelta(minutes=self.config.hold_minutes or settings.hold_minutes)

    def refusal(self, dealer: DealerView, now: datetime) -> Conflict | PermissionDenied | None:
        """Why *dealer* may not attempt this sale at *now*, or None."""
        state = self.state(now)
        if state is not CampaignState.LIVE:
            return Conflict(
                f"flash sale {self.code!r} is {state.value}, not live",
                code="campaign_not_live",
                field="campaign",
                details={"state": state.value},
            )
        if not self.targets(dealer):
            return PermissionDenied(
                f"flash sale {self.code!r} is not offered to dealer {dealer.code!r}",
                code="campaign_not_targeted",
                field="campaign",
            )
        return None


def not_found(code: str) -> NotFound:
    """The 404 of a code that names no flash sale of the site."""
    return NotFound(
        f"no flash sale {code!r} at this site", code="seckill_not_found", field="campaign"
    )


def read_sale(session: Session, code: str) -> Sale | None:
    """The flash sale *code* as the session sees it (None: not a seckill campaign here)."""
    row = session.scalar(select(Campaign).where(Campaign.code == code, Campaign.type == SECKILL))
    return None if row is None else Sale(row, SeckillConfig.model_validate(row.config))


def read_sales(session: Session, codes: list[str]) -> dict[str, Sale]:
    """The flash sales among *codes*, by code."""
    rows = session.scalars(
        select(Campaign).where(Campaign.code.in_(codes), Campaign.type == SECKILL)
    )
    return {row.code: Sale(row, SeckillConfig.model_validate(row.config)) for row in rows}


class SaleCache:
    """Sales read recently by this worker, per site."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: dict[tuple[str, str], tuple[Sale, float]] = {}

    def peek(self, site: SiteContext, code: str) -> Sale | None:
        """The sale *code* of *site* if this worker read it recently, else None."""
        found = self._found.get((site.code, code))
        if found is not None and time.monotonic() - found[1] < CACHE_SECONDS:
            return found[0]
        return None

    def get(self, site: SiteContext, code: str) -> Sale:
        """The sale *code* of *site* (404 ``seckill_not_found`` if there is none)."""
        key = (site.code, code)
        with self._lock:
            found = self._found.get(key)
        if found is not None and time.monotonic() - found[1] < CACHE_SECONDS:
            return found[0]
        with site.database.reading() as session:
            sale = read_sale(session, code)
        if sale is None:
            raise not_found(code)
        with self._lock:
            self._found[key] = (sale, time.monotonic())
        return sale

    def forget(self, site: SiteContext, code: str | None = None) -> None:
        """Drop the cached sale *code* of *site* (every sale of the site when None)."""
        with self._lock:
            for key in list(self._found):
                if key[0] == site.code and (code is None or key[1] == code):
                    del self._found[key]


_caches: weakref.WeakKeyDictionary[Platform, SaleCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def sale_cache(platform: Platform) -> SaleCache:
    """The sale cache of *platform* in this process."""
    found = _caches.get(platform)
    if found is None:
        with _caches_lock:
            found = _caches.setdefault(platform, SaleCache())
    return found
