"""The settings of the analytics plugin, configured per site.

HQ sets the defaults for every site; a site overrides only the fields it sets, and deleting an
override restores what it inherits. Every field has a default, so the plugin works on a site
that configured nothing. The kernel validates each merged result with this model (for the
changed site and all its descendants) before accepting a change, and serves the model's JSON
Schema at ``GET /api/v1/plugins/analytics/schema`` for configuration forms.

Ratios are plain numbers (they are not money); money thresholds are integer fen.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from vintry_sdk import SiteContext


class AnalyticsSettings(BaseModel):
    """What a site can configure: ingestion bounds, the funnel window, insight thresholds."""

    model_config = ConfigDict(frozen=True)

    # --- ingestion -------------------------------------------------------------------
    max_batch_events: int = Field(
        default=200, ge=1, le=1000, description="Most events one ingestion batch may carry."
    )
    max_properties_bytes: int = Field(
        default=2048, ge=64, le=16384, description="Largest JSON size of one event's properties."
    )
    rate_limit_per_minute: int = Field(
        default=600, ge=1, le=100_000, description="Events a dealer may send per clock minute."
    )
    max_event_age_hours: int = Field(
        default=72, ge=1, le=24 * 30, description="Older events are refused as too_old."
    )
    max_clock_skew_seconds: int = Field(
        default=300, ge=0, le=3600, description="How far in the future an event may be stamped."
    )
    # --- funnels ---------------------------------------------------------------------
    conversion_window_hours: int = Field(
        default=72,
        ge=1,
        le=24 * 90,
        description="Default funnel window: every step within this time of the dealer's first.",
    )
    # --- insights --------------------------------------------------------------------
    insight_days: int = Field(
        default=30, ge=1, le=365, description="Length of the period insights look back over."
    )
    interest_min_viewers: int = Field(
        default=5, ge=1, description="Dealers who must view a SKU before it counts as interesting."
    )
    low_conversion_ratio: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="Viewing dealers who ordered, below which interest counts as blocked.",
    )
    price_comparison_hint_ratio: float = Field(
        default=0.5,
        ge=0,
        description="Price comparisons per viewing dealer from which the hint says 'price'.",
    )
    price_premium_hint_ratio: float = Field(
        default=0.05,
        ge=0,
        description="Site price above HQ's base price by this share: the hint says 'price'.",
    )
    stock_hint_days_of_cover: int = Field(
        default=7,
        ge=0,
        description="Available units covering fewer days of demand than this: 'stock'.",
    )
    slow_mover_days_of_cover: int = Field(
        default=90, ge=1, description="Regional stock lasting longer than this is slow-moving."
    )
    slowdown_drop_ratio: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share by which a dealer's order count must fall to be reported.",
    )
    slowdown_min_orders: int = Field(
        default=3, ge=1, description="Orders in the previous period before a drop is judged."
    )
    return_outlier_factor: float = Field(
        default=2.0, gt=1, description="A return rate this many times the SKU's average."
    )
    return_min_units: int = Field(
        default=3, ge=1, description="Returned units before a rate is judged at all."
    )

    @model_validator(mode="after")
    def _window_fits_the_age_limit(self) -> Self:
        if self.max_clock_skew_seconds > self.max_event_age_hours * 3600:
            raise ValueError("max_clock_skew_seconds must not exceed max_event_age_hours")
        return self


PLUGIN_NAME = "analytics"
"""Must equal the entry-point name in pyproject.toml: the kernel files the plugin's
enablement and configuration under that name."""


def settings_for(site: SiteContext) -> AnalyticsSettings:
    """This plugin's configuration in force on *site* (HQ's, merged with the overrides)."""
    return AnalyticsSettings.model_validate(site.config(PLUGIN_NAME))
