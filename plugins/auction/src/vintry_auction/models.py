"""The plugin's own tables, in every site's database (migration track ``auction-site``).

One :class:`AuctionLot` per auction campaign holds everything a bid or a purchase is decided
on, so each is **one conditional update of that row**: the database serializes concurrent
bids, never Python. The plugin never writes the kernel's tables and the kernel holds no key
into these: campaigns, dealers, SKUs and orders are named by their codes.
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


class AuctionBase(DeclarativeBase):
    """Models of the auction plugin, stored in each site's own database."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: UTCDateTime}  # noqa: RUF012


class LotKind(enum.StrEnum):
    """English (ascending bids) or Dutch (step-down price)."""

    ENGLISH = "english"
    DUTCH = "dutch"


class LotStatus(enum.StrEnum):
    """Where a lot stands.

    ``opening`` while its stock is being held; ``open`` once held (bidding follows the
    window); ``unavailable`` when the stock could not be held (tried again later); then
    ``sold`` (English: a winner; Dutch: every unit taken), ``unsold`` (no bid met the reserve,
    or a Dutch lot ended with units left — those are released) or ``cancelled``.
    """

    OPENING = "opening"
    OPEN = "open"
    UNAVAILABLE = "unavailable"
    SOLD = "sold"
    UNSOLD = "unsold"
    CANCELLED = "cancelled"


class SaleStatus(enum.StrEnum):
    """A sale's order: ``pending`` until placed, then ``ordered`` or ``failed``."""

    PENDING = "pending"
    ORDERED = "ordered"
    FAILED = "failed"


class AuctionLot(AuctionBase):
    """The live state of one auction campaign."""

    __tablename__ = "auction_lots"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= quantity", name="remaining_in_lot"),
        CheckConstraint("bid_count >= 0", name="bid_count_not_negative"),
        CheckConstraint("closes_at <= hard_close_at", name="close_within_extension"),
        Index("ix_auction_lots_status_closes_at", "status", "closes_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    sku: Mapped[str] = mapped_column(String(32))
    sku_id: Mapped[int | None]
    warehouse: Mapped[str | None] = mapped_column(String(32))
    quantity: Mapped[int]
    remaining: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    list_unit_fen: Mapped[int | None] = mapped_column(BigInteger)
    start_fen: Mapped[int] = mapped_column(BigInteger)
    increment_fen: Mapped[int | None] = mapped_column(BigInteger)
    reserve_fen: Mapped[int | None] = mapped_column(BigInteger)
    soft_close_seconds: Mapped[int] = mapped_column(default=0)
    extension_seconds: Mapped[int] = mapped_column(default=0)
    step_fen: Mapped[int | None] = mapped_column(BigInteger)
    interval_seconds: Mapped[int | None]
    floor_fen: Mapped[int | None] = mapped_column(BigInteger)
    max_per_dealer: Mapped[int | None]
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    hard_close_at: Mapped[datetime]
    current_fen: Mapped[int | None] = mapped_column(BigInteger)
    leader: Mapped[str | None] = mapped_column(String(32))
    leader_id: Mapped[int | None]
    bid_count: Mapped[int] = mapped_column(default=0)
    extensions: Mapped[int] = mapped_column(default=0)
    hold_reference: Mapped[str] = mapped_column(String(120))
    hold_expires_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class AuctionBid(AuctionBase):
    """An accepted bid; ``seq`` is its place in the lot's strictly rising sequence."""

    __tablename__ = "auction_bids"
    __table_args__ = (UniqueConstraint("lot_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("auction_lots.id", ondelete="CASCADE"))
    seq: Mapped[int]
    dealer: Mapped[str] = mapped_column(String(32))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    placed_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    """The lot's end once this bid was accepted (later than before when it extended it)."""
    extended: Mapped[bool] = mapped_column(default=False)


class DealerTake(AuctionBase):
    """Units one dealer took from a Dutch lot, for ``max_per_dealer`` (conditional update)."""

    __tablename__ = "auction_dealer_takes"
    __table_args__ = (CheckConstraint("units >= 0", name="units_not_negative"),)

    lot_id: Mapped[int] = mapped_column(
        ForeignKey("auction_lots.id", ondelete="CASCADE"), primary_key=True
    )
    dealer: Mapped[str] = mapped_column(String(32), primary_key=True)
    units: Mapped[int] = mapped_column(default=0)


class AuctionSale(AuctionBase):
    """Units sold to one dealer at one unit price, and the order that charges for them."""

    __tablename__ = "auction_sales"
    __table_args__ = (Index("ix_auction_sales_lot", "lot_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("auction_lots.id", ondelete="CASCADE"))
    dealer: Mapped[str] = mapped_column(String(32))
    dealer_id: Mapped[int]
    quantity: Mapped[int]
    unit_fen: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[int | None]
    sold_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    order_number: Mapped[str | None] = mapped_column(String(32))
    failure: Mapped[str | None] = mapped_column(String(300))
    settled_at: Mapped[datetime | None]
