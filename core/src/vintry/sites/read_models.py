"""Read models of HQ data kept in each site's own database, and the relay's inbox there.

The relay (:mod:`vintry.events.relay`) keeps these tables in step with HQ: the catalog as
the site sees it (effective price, offered or not), the site's dealers and the site's
orders. Each row is rebuilt from HQ's current state, never from an event's payload, so a
replay or an out-of-order delivery converges on the same rows that
:func:`vintry.events.read_models.rebuild_site` writes wholesale.

Nothing here holds a key into HQ: rows are keyed by HQ's codes (SKU code, dealer code,
order number), which never change.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column
from vintry.db.base import JSONValue, SiteBase

READ_MODELS_STATE = "read_models"
"""Key of the one :class:`ReadModelState` row of a site database."""


class SiteCatalogItem(SiteBase):
    """A SKU of the HQ library as this site sees it: its price in force and whether it is
    offered here (active, and hidden nowhere on the path from the root)."""

    __tablename__ = "read_catalog"
    __table_args__ = (Index("ix_read_catalog_product", "product"),)

    sku: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    product: Mapped[str] = mapped_column(String(32))
    product_name: Mapped[str] = mapped_column(String(200))
    brand: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))
    base_price_fen: Mapped[int]
    price_fen: Mapped[int]
    active: Mapped[bool]
    offered: Mapped[bool]


class SiteDealer(SiteBase):
    """A dealer of this site."""

    __tablename__ = "read_dealers"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(16))
    tags: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    active: Mapped[bool]


class SiteOrder(SiteBase):
    """An order placed at this site, with its current status."""

    __tablename__ = "read_orders"
    __table_args__ = (Index("ix_read_orders_dealer", "dealer", "placed_at"),)

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    dealer: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(24))
    total_fen: Mapped[int]
    placed_at: Mapped[datetime]


class InboxRecord(SiteBase):
    """An outbox event a relay consumer applied to this site's read models.

    Written in the same site transaction as the rows the event changed, so an event is
    applied at most once per consumer whatever the relay's crashes; ``delivered_at`` is set
    once the event reached the plugins (on the event's own site only).
    """

    __tablename__ = "relay_inbox"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    applied_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class ReadModelState(SiteBase):
    """How fresh this site's read models are; also the row every change of them locks.

    ``last_event_id`` is the highest outbox event applied here, ``rebuilt_at`` the time of
    the last wholesale rebuild (``None``: never built, the relay builds it) and
    ``rebuilt_through`` the outbox's highest id when that rebuild read HQ.
    """

    __tablename__ = "read_model_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(default=0)
    applied_at: Mapped[datetime | None]
    rebuilt_at: Mapped[datetime | None]
    rebuilt_through: Mapped[int | None]
