"""Small database steps every part of the plugin shares: times as epoch milliseconds,
idempotent inserts and row locks, written once for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vintry_analytics.models import AnalyticsBase

Row = TypeVar("Row", bound=AnalyticsBase)


def epoch_ms(moment: datetime) -> int:
    """*moment* (aware) as whole milliseconds since the Unix epoch, exactly."""
    if moment.tzinfo is None:
        raise ValueError("an aware datetime is needed")
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_epoch_ms(value: int) -> datetime:
    """Epoch milliseconds back to an aware UTC datetime."""
    seconds, millis = divmod(value, 1000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=millis * 1000)


def insert_ignoring_duplicates(
    session: Session,
    model: type[AnalyticsBase],
    rows: Sequence[dict[str, Any]],
    conflict_columns: Sequence[str],
) -> int:
    """Insert *rows*, skipping those whose *conflict_columns* already exist; return how
    many were inserted. A concurrent duplicate is skipped too, never an error."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    key = inspect(model).primary_key[0]
    statement = (
        insert(model).on_conflict_do_nothing(index_elements=list(conflict_columns)).returning(key)
    )
    return len(session.execute(statement, list(rows)).all())


def lock_row(session: Session, statement: Select[Row]) -> Row:
    """The one row *statement* selects, locked for the rest of the transaction.

    On PostgreSQL ``FOR UPDATE``; on SQLite the write transaction (``BEGIN IMMEDIATE``)
    already holds the database's write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    return session.scalars(statement).one()
