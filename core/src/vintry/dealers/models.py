"""Dealer companies; each belongs to exactly one site."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from vintry.db.base import HQBase, JSONValue


class DealerTier(enum.StrEnum):
    """Commercial tier of a dealer, highest first; campaigns target by tier."""

    PLATINUM = "platinum"
    GOLD = "gold"
    SILVER = "silver"
    BRONZE = "bronze"


class Dealer(HQBase):
    """A dealer company ordering from one site."""

    __tablename__ = "dealers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    tier: Mapped[DealerTier] = mapped_column(
        Enum(
            DealerTier, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]
        )
    )
    tags: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    city: Mapped[str | None] = mapped_column(String(100))
    contact_name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
