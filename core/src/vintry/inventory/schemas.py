"""Request and response bodies for warehouses."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from vintry.sites.schemas import RequestModel, SiteCode

WarehouseCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]{2,31}$")]


class WarehouseCreate(RequestModel):
    """A new warehouse, optionally serving one regional site."""

    code: WarehouseCode
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    city: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    region: SiteCode | None = Field(default=None, description="Site code of the region served.")
    latitude: Decimal = Field(ge=-90, le=90, max_digits=9, decimal_places=6)
    longitude: Decimal = Field(ge=-180, le=180, max_digits=9, decimal_places=6)
    priority: int = Field(default=5, ge=1, le=9, description="1 is preferred.")
    active: bool = True


class WarehouseOut(BaseModel):
    """A warehouse as the API shows it."""

    code: str
    name: str
    city: str
    region: str | None
    latitude: Decimal
    longitude: Decimal
    priority: int
    active: bool
