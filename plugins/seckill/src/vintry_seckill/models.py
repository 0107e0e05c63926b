"""The plugin's own tables, in every site's database (migration track ``seckill-site``).

The plugin never writes the kernel's tables and the kernel holds no key into these: rows
name campaigns, dealers and orders by their codes, which never change.

- ``seckill_counters`` — one row per flash sale: its quota and the units taken (held,
  ordered or paid). ``taken <= quota`` is a check constraint behind the conditional update
  that moves it, so the quota cannot be oversold whatever the code above does.
- ``seckill_dealer_units`` — per sale and dealer, the units it holds or bought, under its
  limit (also a check constraint): the per-dealer limit holds across attempts and orders.
- ``seckill_holds`` — each won attempt: ``held`` until ordered or expired; ``ordered`` when
  an order's claim converted it, ``paid`` when that order was paid; ``expired`` and
  ``cancelled`` (its order was cancelled) gave their units back to the quota.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from vintry.db.base import NAMING_CONVENTION, UTCDateTime


class SeckillBase(DeclarativeBase):
    """Models of the seckill plugin, stored in each site's own database."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: UTCDateTime}  # noqa: RUF012


class HoldStatus(enum.StrEnum):
    """Where a won unit (or units) stands."""

    HELD = "held"
    ORDERED = "ordered"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


TAKEN_STATUSES = (HoldStatus.HELD.value, HoldStatus.ORDERED.value, HoldStatus.PAID.value)
"""Holds in these states count against the quota and the dealer's limit."""


class SeckillCounter(SeckillBase):
    """The quota of one flash sale and the units taken from it."""

    __tablename__ = "seckill_counters"
    __table_args__ = (
        CheckConstraint("taken >= 0 AND taken <= quota", name="taken_within_quota"),
        CheckConstraint("quota > 0 AND per_dealer_limit > 0", name="limits_positive"),
    )

    campaign_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku: Mapped[str] = mapped_column(String(32))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    quota: Mapped[int] = mapped_column(Integer)
    per_dealer_limit: Mapped[int] = mapped_column(Integer)
    taken: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SeckillDealerUnits(SeckillBase):
    """Units of one flash sale one dealer holds or bought."""

    __tablename__ = "seckill_dealer_units"
    __table_args__ = (
        CheckConstraint("units >= 0 AND units <= limit_units", name="units_within_limit"),
    )

    campaign_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    dealer_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    units: Mapped[int] = mapped_column(Integer, default=0)
    limit_units: Mapped[int] = mapped_column(Integer)


class SeckillHold(SeckillBase):
    """A won attempt: units held for a dealer at the special price until ordered or expired."""

    __tablename__ = "seckill_holds"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        # The expiry step of every admission batch, and the sweeper.
        Index("ix_seckill_holds_expiry", "campaign_code", "status", "expires_at"),
        Index("ix_seckill_holds_dealer", "dealer_code", "campaign_code", "status"),
        Index("ix_seckill_holds_order", "order_number"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    campaign_code: Mapped[str] = mapped_column(String(64))
    dealer_code: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=HoldStatus.HELD.value)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    order_number: Mapped[str | None] = mapped_column(String(32))
    closed_at: Mapped[datetime | None]
