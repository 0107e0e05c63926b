"""Campaigns, their budgets' consumption, and HQ's campaign templates (site databases).

A campaign belongs to the site whose database holds it; HQ's templates live in the root
site's database, which is HQ's own mall. Nothing here holds a key into HQ or into a
plugin's tables: dealers and orders are named by their codes.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vintry.db.base import JSONValue, SiteBase


class CampaignStatus(enum.StrEnum):
    """What an operator decided: the stored half of a campaign's state."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    ENDED = "ended"


class CampaignState(enum.StrEnum):
    """Where a campaign stands now: its status read against the clock.

    A ``scheduled`` campaign is ``live`` inside its window and ``ended`` after it, so no
    sweeper has to move it; ``ended`` is also stored when an operator ends it early.
    """

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


class Campaign(SiteBase):
    """One campaign of this site: a type's configuration, a window, targeting, budgets."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="window_not_empty"),
        CheckConstraint("used_units >= 0 AND used_amount_fen >= 0", name="used_not_negative"),
        CheckConstraint(
            "budget_units IS NULL OR used_units <= budget_units", name="units_within_budget"
        ),
        CheckConstraint(
            "budget_amount_fen IS NULL OR used_amount_fen <= budget_amount_fen",
            name="amount_within_budget",
        ),
        Index("ix_campaigns_status_ends_at", "status", "ends_at"),
        Index("ix_campaigns_type", "type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    plugin: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.DRAFT.value)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    priority: Mapped[int] = mapped_column(default=0)
    stacking_group: Mapped[str | None] = mapped_column(String(64))
    target_tiers: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    target_tags: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    target_dealers: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    budget_units: Mapped[int | None]
    budget_amount_fen: Mapped[int | None]
    uses_per_dealer: Mapped[int | None]
    used_units: Mapped[int] = mapped_column(default=0)
    used_amount_fen: Mapped[int] = mapped_column(default=0)
    template: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CampaignDealerUse(SiteBase):
    """How many placed orders of one dealer used one campaign (its per-dealer limit)."""

    __tablename__ = "campaign_dealer_uses"
    __table_args__ = (CheckConstraint("uses >= 0", name="uses_not_negative"),)

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    dealer_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    uses: Mapped[int] = mapped_column(default=0)


class CampaignRedemption(SiteBase):
    """What one order drew from one campaign's budgets; ``released_at`` once given back.

    The row is the idempotency record of the draw: releasing twice gives back once.
    """

    __tablename__ = "campaign_redemptions"
    __table_args__ = (Index("ix_campaign_redemptions_order", "order_number"),)

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    order_number: Mapped[str] = mapped_column(String(32), primary_key=True)
    dealer_code: Mapped[str] = mapped_column(String(32))
    units: Mapped[int]
    amount_fen: Mapped[int]
    redeemed_at: Mapped[datetime]
    released_at: Mapped[datetime | None]


class CampaignTemplate(SiteBase):
    """A campaign HQ publishes for sites to copy (kept in the root site's database)."""

    __tablename__ = "campaign_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    priority: Mapped[int] = mapped_column(default=0)
    stacking_group: Mapped[str | None] = mapped_column(String(64))
    target_tiers: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    target_tags: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    budget_units: Mapped[int | None]
    budget_amount_fen: Mapped[int | None]
    uses_per_dealer: Mapped[int | None]
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
