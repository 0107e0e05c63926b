"""The plugin's own tables, in every site's database (migration track ``analytics-site``).

The plugin never writes the kernel's tables and the kernel holds no key into these: rows name
dealers, SKUs and orders by their HQ codes, which never change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from vintry.db.base import NAMING_CONVENTION, JSONValue, UTCDateTime


class AnalyticsBase(DeclarativeBase):
    """Models of the analytics plugin, stored in each site's own database."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: UTCDateTime}  # noqa: RUF012


class BehaviourEvent(AnalyticsBase):
    """One tracked event of a dealer at this site.

    ``occurred_ms`` is the event's time in milliseconds since the Unix epoch (UTC): funnels
    compare and subtract it, and an integer does that exactly on every backend. ``uid`` makes
    delivery idempotent: a client's own event id (scoped to its dealer) or the server event's
    source (the kernel event id and the line); events without one are never deduplicated.
    """

    __tablename__ = "analytics_events"
    __table_args__ = (
        # The funnel's scan: per dealer, per type, in time order (covering).
        Index("ix_analytics_events_funnel", "dealer", "type", "occurred_ms", "sku"),
        # Trends and insights: one type over a period, distinct dealers (covering).
        Index("ix_analytics_events_time", "type", "occurred_ms", "dealer"),
    )

    # SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a bigint.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    uid: Mapped[str | None] = mapped_column(String(160), unique=True)
    dealer: Mapped[str] = mapped_column(String(32))
    session: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    sku: Mapped[str | None] = mapped_column(String(32))
    occurred_ms: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(8))
    dwell_ms: Mapped[int | None] = mapped_column(BigInteger)
    quantity: Mapped[int | None]
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    reference: Mapped[str | None] = mapped_column(String(100))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)


class RateWindow(AnalyticsBase):
    """Events a dealer sent in one clock minute: the ingestion rate limit's counter."""

    __tablename__ = "analytics_rate_windows"
    __table_args__ = (CheckConstraint("used >= 0", name="used_not_negative"),)

    dealer: Mapped[str] = mapped_column(String(32), primary_key=True)
    window_start_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    used: Mapped[int] = mapped_column(default=0)


class SellOut(AnalyticsBase):
    """Units of a SKU a dealer reports having sold on (to its own customers)."""

    __tablename__ = "analytics_sellout"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_analytics_sellout_dealer", "dealer", "sku"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(160), unique=True)
    dealer: Mapped[str] = mapped_column(String(32))
    sku: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int]
    sold_on: Mapped[datetime]
    reported_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(8))
    reference: Mapped[str] = mapped_column(String(64))
