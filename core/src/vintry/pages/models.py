"""A site's page layouts, the versions it published, and HQ's page templates (site databases).

An operator edits a *layout* (a draft: ordered sections of typed blocks) and publishes it;
each publication is a *version*, never changed afterwards, so rolling back is choosing
which version serves, and a published page never depends on a draft being edited. HQ's
templates live in the root site's database (HQ's own mall), like its campaign templates.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vintry.db.base import JSONValue, SiteBase


class PageLayout(SiteBase):
    """A layout an operator edits; ``revision`` grows with every save (optimistic locking)."""

    __tablename__ = "page_layouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    page: Mapped[str] = mapped_column(String(32), default="home")
    title: Mapped[str] = mapped_column(String(200))
    sections: Mapped[list[dict[str, Any]]] = mapped_column(JSONValue, default=list)
    template: Mapped[str | None] = mapped_column(String(64))
    """The HQ template it was copied from, if any."""
    revision: Mapped[int] = mapped_column(default=1)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class PageVersion(SiteBase):
    """One publication of a page: the layout's sections as they were, and when they serve.

    Open-ended versions (no ``ends_at``) replace one another, the latest started serving;
    a version with an end (a festival layout) serves over them inside its window. A
    withdrawn version (rolled back or cancelled) never serves again.
    """

    __tablename__ = "page_versions"
    __table_args__ = (
        UniqueConstraint("page", "number"),
        CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="window_not_empty"),
        Index("ix_page_versions_serving", "page", "withdrawn_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    page: Mapped[str] = mapped_column(String(32))
    number: Mapped[int]
    layout: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    sections: Mapped[list[dict[str, Any]]] = mapped_column(JSONValue, default=list)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    published_by: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]
    withdrawn_by: Mapped[str | None] = mapped_column(String(64))
    withdraw_reason: Mapped[str | None] = mapped_column(String(32))


class PageTemplate(SiteBase):
    """A layout HQ publishes for sites to copy; the ``is_default`` one of a page is what a
    site with no published layout of its own shows (kept in the root site's database)."""

    __tablename__ = "page_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    page: Mapped[str] = mapped_column(String(32), default="home")
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    sections: Mapped[list[dict[str, Any]]] = mapped_column(JSONValue, default=list)
    is_default: Mapped[bool] = mapped_column(default=False)
    revision: Mapped[int] = mapped_column(default=1)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
