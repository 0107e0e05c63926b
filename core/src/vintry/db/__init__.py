"""Databases: the HQ system of record and one database per site."""

from vintry.db.base import HQBase, SiteBase
from vintry.db.databases import Database, Databases

__all__ = ["Database", "Databases", "HQBase", "SiteBase"]
