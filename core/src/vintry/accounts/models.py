"""Users and their API tokens (hashed at rest)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vintry.db.base import HQBase


class Role(enum.StrEnum):
    """A bundle of permissions; see :mod:`vintry.accounts.permissions`."""

    HQ_ADMIN = "hq_admin"
    SITE_OPERATOR = "site_operator"
    DEALER = "dealer"


class User(HQBase):
    """A person or system that calls the API.

    ``site_id`` is the root of the user's tenant: the HQ site for ``hq_admin``, the operated
    site (and its subtree) for ``site_operator``, the dealer's site for ``dealer``.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])
    )
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealers.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")


class ApiToken(HQBase):
    """A bearer token. Only a SHA-256 digest of its secret is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="tokens")
