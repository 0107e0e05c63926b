"""The settings of the partner's FEFO strategy: the lots in each warehouse and their expiry.

HQ records the lots (``PATCH /api/v1/plugins/partner-sourcing/config``); a region may
override the list for its subtree. Every field has a default, so the strategy works (as
nearest-first) on a site that configured nothing. A production version would keep lots in
a table of its own (``vintry_register_migrations``) fed by the warehouse system; the
strategy would read them the same way.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class Lot(BaseModel):
    """Units of one SKU in one warehouse from one production batch."""

    model_config = ConfigDict(frozen=True)

    warehouse: str = Field(min_length=1, max_length=32)
    sku: str = Field(min_length=1, max_length=32)
    batch: str = Field(min_length=1, max_length=64)
    expires_on: date


class PartnerSourcingSettings(BaseModel):
    """What a site can configure."""

    model_config = ConfigDict(frozen=True)

    lots: list[Lot] = Field(default_factory=list, max_length=5_000)
    horizon_days: int = Field(
        default=3650,
        ge=1,
        description="Lots expiring further out than this count as 'no expiry known'.",
    )
