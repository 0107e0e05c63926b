"""The settings of the group-buy plugin, configured per site.

HQ sets the defaults for every site; a site overrides only the fields it sets. Every field
has a default. The deals themselves are campaigns: operators create them through the
kernel's campaign routes (``POST /api/v1/campaigns`` with type ``group-buy``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GroupbuySettings(BaseModel):
    """What a site can configure."""

    model_config = ConfigDict(frozen=True)

    hold_margin_minutes: int = Field(
        default=24 * 60,
        ge=5,
        le=30 * 24 * 60,
        description="A member's stock hold expires this long after its group does, so a hold "
        "the plugin never got to release returns to stock on its own.",
    )
    show_member_codes: bool = Field(
        default=False,
        description="Show dealers the codes of the other members of a group (operators always "
        "see them).",
    )
