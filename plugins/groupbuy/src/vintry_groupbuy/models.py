"""The plugin's own tables, in every site's database (migration track ``groupbuy-site``).

A join is one conditional update of the group's row (open, not expired, not full) in the
transaction that inserts the member; success is a second conditional update, from ``open``
to ``succeeded``, so it happens once however many joins race — and the transition row's
unique key is the backstop. Dealers, SKUs, campaigns and orders are named by their codes.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from vintry.db.base import NAMING_CONVENTION, UTCDateTime


class GroupbuyBase(DeclarativeBase):
    """Models of the group-buy plugin, stored in each site's own database."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: UTCDateTime}  # noqa: RUF012


class GroupStatus(enum.StrEnum):
    """``open`` → ``succeeded`` (minimums met; still joinable until it closes) →
    ``settling`` → ``settled``; or ``open`` → ``failed`` at expiry (holds released)."""

    OPEN = "open"
    SUCCEEDED = "succeeded"
    SETTLING = "settling"
    SETTLED = "settled"
    FAILED = "failed"


class MemberStatus(enum.StrEnum):
    """A member's units: ``held`` until the group closes, then ``ordered``, ``failed`` (the
    order was refused) or ``released`` (the group failed)."""

    HELD = "held"
    ORDERED = "ordered"
    FAILED = "failed"
    RELEASED = "released"


class Group(GroupbuyBase):
    """One group formed on a deal."""

    __tablename__ = "groupbuy_groups"
    __table_args__ = (
        CheckConstraint("participants >= 0 AND total_quantity >= 0", name="counts_not_negative"),
        CheckConstraint(
            "max_participants IS NULL OR participants <= max_participants", name="not_over_full"
        ),
        Index("ix_groupbuy_groups_status_expires_at", "status", "expires_at"),
        Index("ix_groupbuy_groups_campaign", "campaign"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    campaign: Mapped[str] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    participants: Mapped[int] = mapped_column(default=0)
    total_quantity: Mapped[int] = mapped_column(default=0)
    min_participants: Mapped[int]
    min_quantity: Mapped[int]
    max_participants: Mapped[int | None]
    opened_by: Mapped[str] = mapped_column(String(32))
    opened_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    succeeded_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    tier_unit_fen: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class Member(GroupbuyBase):
    """A dealer in a group with the units it wants, held in HQ under ``hold_reference``."""

    __tablename__ = "groupbuy_members"
    __table_args__ = (
        UniqueConstraint("group_id", "dealer"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groupbuy_groups.id", ondelete="CASCADE"))
    dealer: Mapped[str] = mapped_column(String(32))
    dealer_id: Mapped[int]
    quantity: Mapped[int]
    joined_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    hold_reference: Mapped[str] = mapped_column(String(140))
    order_number: Mapped[str | None] = mapped_column(String(32))
    failure: Mapped[str | None] = mapped_column(String(300))


class Transition(GroupbuyBase):
    """Each state a group entered, once: the record that success (or failure) fired."""

    __tablename__ = "groupbuy_transitions"
    __table_args__ = (UniqueConstraint("group_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groupbuy_groups.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    participants: Mapped[int]
    total_quantity: Mapped[int]
    by_dealer: Mapped[str | None] = mapped_column(String(32))
