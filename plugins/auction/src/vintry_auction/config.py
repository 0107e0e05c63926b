"""The settings of the auction plugin, configured per site.

HQ sets the defaults for every site; a site overrides only the fields it sets, and deleting an
override restores what it inherits. Every field has a default, so the plugin works on a site
that configured nothing. The kernel validates each merged result with this model (for the
changed site and all its descendants) before accepting a change, and serves the model's JSON
Schema at ``GET /api/v1/plugins/auction/schema`` for configuration forms.

The auctions themselves are not settings: operators create them through the kernel's
campaign routes (``POST /api/v1/campaigns`` with type ``english-auction`` or
``dutch-auction``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AuctionSettings(BaseModel):
    """What a site can configure."""

    model_config = ConfigDict(frozen=True)

    hold_margin_minutes: int = Field(
        default=24 * 60,
        ge=5,
        le=30 * 24 * 60,
        description="A lot's stock hold expires this long after the latest moment its auction "
        "can close, so a hold the plugin never got to release returns to stock on its own.",
    )
    recent_bids_shown: int = Field(
        default=10,
        ge=0,
        le=100,
        description="How many of the latest bids dealers see with an English auction.",
    )
    reveal_reserve: bool = Field(
        default=False,
        description="Show dealers the reserve price itself; otherwise they only see whether "
        "the leading bid meets it.",
    )
