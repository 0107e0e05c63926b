"""The settings of the seckill plugin, configured per site.

HQ sets the defaults for every site; a site overrides only the fields it sets, and deleting an
override restores what it inherits. Every field has a default, so the plugin works on a site
that configured nothing. The kernel validates each merged result with this model (for the
changed site and all its descendants) before accepting a change, and serves the model's JSON
Schema at ``GET /api/v1/plugins/seckill/schema`` for configuration forms.

The flash sales themselves are campaigns (type ``seckill``, see
:mod:`vintry_seckill.campaign_type`): operators create them through the kernel's campaign
routes; what is here is how a site runs them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CounterBackend = Literal["auto", "sql", "redis"]


class SeckillSettings(BaseModel):
    """What a site can configure."""

    model_config = ConfigDict(frozen=True)

    hold_minutes: int = Field(
        default=15,
        ge=1,
        le=24 * 60,
        description="How long a won unit is held for the dealer before it must be ordered; "
        "an unordered hold then expires and its units return to the quota. A campaign may "
        "set its own (config.hold_minutes).",
    )
    max_units_per_attempt: int = Field(
        default=5, ge=1, le=1000, description="The most units one attempt may ask for."
    )
    counter_backend: CounterBackend = Field(
        default="auto",
        description="Where the hot counter is checked first: 'sql' (the site database only), "
        "'redis' (an atomic Lua script on VINTRY_REDIS_URL, rebuilt from the database), or "
        "'auto' (Redis when VINTRY_REDIS_URL is set). The database is always the record.",
    )
    group_commit: bool = Field(
        default=True,
        description="Write concurrent attempts of this site in shared transactions (one "
        "durable commit for a batch). Off: one transaction per attempt.",
    )
    sold_out_recheck_seconds: float = Field(
        default=2.0,
        ge=0,
        le=300,
        description="How long a worker answers a sold-out campaign from memory, before the "
        "request is even read, until it checks the counter again (never past the moment the "
        "earliest unordered hold could expire). 0 turns the shortcut off.",
    )
