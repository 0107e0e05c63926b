"""Sites: HQ at the root, regional centers below it, dealers' private stores below those."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from vintry.db.base import HQBase, JSONValue


class SiteKind(enum.StrEnum):
    """Where a site stands in the tree."""

    HQ = "hq"
    REGION = "region"
    STORE = "store"


class Site(HQBase):
    """One mall of the tree, with its own domains and database."""

    __tablename__ = "sites"
    __table_args__ = (
        CheckConstraint(
            "(kind = 'hq' AND parent_id IS NULL) OR (kind <> 'hq' AND parent_id IS NOT NULL)",
            name="root_is_hq",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[SiteKind] = mapped_column(
        Enum(SiteKind, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    database_url: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]

    domains: Mapped[list[SiteDomain]] = relationship(
        back_populates="site", cascade="all, delete-orphan", order_by="SiteDomain.domain"
    )


class SiteDomain(HQBase):
    """A host name that resolves to a site; each name belongs to one site only."""

    __tablename__ = "site_domains"

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)

    site: Mapped[Site] = relationship(back_populates="domains")


class SiteSettingOverride(HQBase):
    """The fields one site sets for one namespace of inherited configuration.

    Only the fields present are overrides; everything else is inherited from the parent.
    The namespace ``site`` holds the kernel's own site settings; plugins use
    ``plugin:<name>``.
    """

    __tablename__ = "site_setting_overrides"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    namespace: Mapped[str] = mapped_column(String(100), primary_key=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    updated_at: Mapped[datetime]


class PluginEnablement(HQBase):
    """What one site says about one plugin: ``inherit``, ``on`` or ``off``, and ``required``.

    No row means ``inherit``. ``required`` (set by HQ) keeps the plugin on in the subtree.
    """

    __tablename__ = "plugin_enablements"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    plugin: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="inherit")
    required: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime]
