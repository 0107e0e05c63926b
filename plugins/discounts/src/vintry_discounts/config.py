"""The settings of the discounts plugin, configured per site.

HQ sets the defaults for every site; a site overrides only the fields it sets, and deleting an
override restores what it inherits. Every field has a default, so the plugin works on a site
that configured nothing. The kernel validates each merged result with this model (for the
changed site and all its descendants) before accepting a change, and serves the model's JSON
Schema at ``GET /api/v1/plugins/discounts/schema`` for configuration forms.

The campaigns themselves are not settings: operators create them through the kernel's
campaign routes (``POST /api/v1/campaigns`` with one of this plugin's types).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DiscountsSettings(BaseModel):
    """What a site can configure."""

    model_config = ConfigDict(frozen=True)

    explain_untargeted: bool = Field(
        default=True,
        description="List the campaigns not targeted at a dealer in its cart's explanation "
        "('for gold dealers only'); off keeps a segment's offers out of other dealers' sight.",
    )
    explain_upcoming: bool = Field(
        default=True,
        description="List campaigns that start within a day, or ended within one, in the "
        "explanation ('outside window').",
    )
