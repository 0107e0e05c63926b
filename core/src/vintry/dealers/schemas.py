"""Request and response bodies for dealers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from vintry.dealers.models import DealerTier
from vintry.sites.schemas import RequestModel

DealerCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]{2,31}$")]
Tag = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 -]{5,31}$")]


class DealerCreate(RequestModel):
    """A new dealer company of the site the request is addressed to."""

    code: DealerCode
    name: Name
    tier: DealerTier = DealerTier.BRONZE
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    city: Annotated[str, StringConstraints(max_length=100)] | None = None
    contact_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    phone: Phone | None = None


class DealerUpdate(RequestModel):
    """Changes to a dealer; omitted fields stay as they are."""

    name: Name | None = None
    tier: DealerTier | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)
    city: Annotated[str, StringConstraints(max_length=100)] | None = None
    contact_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    phone: Phone | None = None
    active: bool | None = None


class DealerOut(BaseModel):
    """A dealer as the API shows it."""

    code: str
    name: str
    site: str
    tier: DealerTier
    tags: list[str]
    city: str | None
    contact_name: str | None
    phone: str | None
    active: bool
    created_at: datetime
