"""Tables of the kernel in every site's own database."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column
from vintry.db.base import SiteBase


class SiteMeta(SiteBase):
    """Facts about the database itself; ``site_code`` guards against two sites sharing one."""

    __tablename__ = "site_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(500))
