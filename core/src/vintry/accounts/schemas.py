"""Request and response bodies for users and tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from vintry.accounts.models import Role
from vintry.sites.schemas import RequestModel, SiteCode

Username = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]


class UserCreate(RequestModel):
    """A new user. ``site`` defaults to the site the request is addressed to."""

    username: Username
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    role: Role
    site: SiteCode | None = None
    dealer: Annotated[str, StringConstraints(max_length=32)] | None = Field(
        default=None, description="Dealer code; required for the dealer role, refused otherwise."
    )


class UserOut(BaseModel):
    """A user as the API shows it."""

    username: str
    display_name: str
    role: Role
    site: str
    dealer: str | None
    active: bool
    created_at: datetime
    permissions: list[str]


class TokenCreate(RequestModel):
    """A new token for yourself, or for a user you manage."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    username: Username | None = Field(default=None, description="Defaults to the caller.")
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class TokenOut(BaseModel):
    """A token's metadata; its secret is never shown again after creation."""

    id: str
    name: str
    username: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenOut):
    """The one response that carries the secret."""

    token: str = Field(description="Send as 'Authorization: Bearer <token>'. Shown once.")
