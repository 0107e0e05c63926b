"""A small tree and library for the catalog tests, and a SQL statement counter.

The tree::

    hq
    ├── east (region)
    │   └── east-s1 (store)
    └── west (region)

The library: brand ``MT``; categories ``BAIJIU`` → ``SAUCE-AROMA`` and ``LIGHT-AROMA``;
product ``FEITIAN`` (sauce aroma) with SKUs ``FT-500`` (1499.00) and ``FT-375`` (1199.00).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from starlette.testclient import TestClient
from vintry.accounts.models import Role
from vintry.accounts.principal import Actor
from vintry.audit.models import AuditEntry
from vintry.catalog import service
from vintry.catalog.schemas import BrandCreate, CategoryCreate, ProductCreate, SkuCreate
from vintry.platform import Platform
from vintry.sites.models import SiteKind
from vintry_sdk.testing import VintryFactory

ACTOR = Actor(name="catalog-test")
EAST, WEST, STORE = "east", "west", "east-s1"


@dataclass
class Tree:
    """The sites, and clients per role addressing them."""

    factory: VintryFactory

    def admin(self, site: str = "hq") -> TestClient:
        """HQ's administrator, addressing *site*."""
        return self.factory.admin_client(site)

    def operator(self, site: str) -> TestClient:
        """A new operator of *site*, addressing it."""
        return self.factory.client_for(Role.SITE_OPERATOR, site)

    def dealer(self, site: str) -> TestClient:
        """A new dealer user of *site*, addressing it."""
        return self.factory.client_for(Role.DEALER, site)


@pytest.fixture
def tree(vintry_factory: VintryFactory) -> Tree:
    """The tree of the module docstring."""
    vintry_factory.site(EAST, kind=SiteKind.REGION)
    vintry_factory.site(WEST, kind=SiteKind.REGION)
    vintry_factory.site(STORE, parent=EAST, kind=SiteKind.STORE)
    return Tree(vintry_factory)


def make_sku(
    platform: Platform, code: str, price: str, *, product: str = "FEITIAN", **extra: Any
) -> None:
    """A SKU of *product* with base price *price* yuan."""
    fields: dict[str, Any] = {
        "name": f"SKU {code}",
        "volume_ml": 500,
        "abv": Decimal("53.0"),
        **extra,
    }
    service.create_sku(
        platform,
        SkuCreate(code=code, product=product, base_price=Decimal(price), **fields),
        actor=ACTOR,
    )


@pytest.fixture
def library(vintry_platform: Platform) -> Platform:
    """The library of the module docstring."""
    platform = vintry_platform
    service.create_brand(platform, BrandCreate(code="MT", name="Maotai"), actor=ACTOR)
    service.create_category(platform, CategoryCreate(code="BAIJIU", name="Baijiu"), actor=ACTOR)
    for code, name in (("SAUCE-AROMA", "Sauce aroma"), ("LIGHT-AROMA", "Light aroma")):
        service.create_category(
            platform, CategoryCreate(code=code, name=name, parent="BAIJIU"), actor=ACTOR
        )
    service.create_product(
        platform,
        ProductCreate(code="FEITIAN", name="Feitian", brand="MT", category="SAUCE-AROMA"),
        actor=ACTOR,
    )
    make_sku(platform, "FT-500", "1499.00", barcode="6901234567892")
    make_sku(platform, "FT-375", "1199.00", volume_ml=375)
    return platform


def audit_entries(platform: Platform, action: str | None = None) -> list[AuditEntry]:
    """Audit entries, oldest first, optionally of one action."""
    with platform.hq.reading() as session:
        query = select(AuditEntry).order_by(AuditEntry.id)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        return list(session.scalars(query))


def row_count(platform: Platform, model: Any) -> int:
    """Rows of *model*'s table."""
    with platform.hq.reading() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    """The error body of *response*, checked for *status* and *code*."""
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


@dataclass
class StatementLog:
    """SQL statements an engine ran while the log was open."""

    statements: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.statements)


_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@contextmanager
def counting_statements(engine: Engine) -> Iterator[StatementLog]:
    """Record the statements *engine* runs inside the block (not transaction control,
    which SQLite's ``BEGIN`` listener sends through the same cursor)."""
    log = StatementLog()

    def before_cursor_execute(*args: Any) -> None:
        statement: str = args[2]
        if not statement.lstrip().upper().startswith(_TRANSACTION_CONTROL):
            log.statements.append(statement)

    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", before_cursor_execute)
