"""The settings of the sourcing plugin, configured per site.

HQ sets the defaults for every site; a site overrides only the fields it sets, and deleting an
override restores what it inherits. A rule's ``parameters`` win over these: the settings are
what a strategy uses when the rule that chose it says nothing. The kernel validates each
merged result with this model (for the changed site and all its descendants) before
accepting a change, and serves its JSON Schema at ``GET /api/v1/plugins/sourcing/schema``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SourcingSettings(BaseModel):
    """What a site can configure."""

    model_config = ConfigDict(frozen=True)

    shipment_cost: float = Field(
        default=500.0,
        ge=0,
        le=1_000_000,
        description="What one more shipment costs, in unit-kilometres (one unit carried 500 km "
        "costs as much as one more parcel by default).",
    )
    time_limit_ms: int = Field(
        default=200,
        ge=1,
        le=5_000,
        description="cost-optimal's time box for HiGHS (capped at 60 % of the rule's budget).",
    )
