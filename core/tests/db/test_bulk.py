"""Bulk inserts store exactly what SQLAlchemy's own insert stores, and return the new ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import event, insert, text
from sqlalchemy.exc import IntegrityError
from vintry.db import bulk
from vintry.db.base import table
from vintry.db.bulk import BulkInsert
from vintry.orders.models import OutboxEvent
from vintry.platform import Platform


def _raw(platform: Platform, sql: str) -> list[tuple[object, ...]]:
    with platform.hq.reading() as session:
        return [tuple(row) for row in session.execute(text(sql))]


def test_rows_are_stored_as_sqlalchemys_insert_stores_them(vintry_platform: Platform) -> None:
    shanghai = timezone(timedelta(hours=8))
    rows = [
        {
            "type": "order.placed",
            "site": "hq",
            "payload": {"number": "VO1", "total": "12.50", "note": None, "name": "茅台"},
            "created_at": datetime(2026, 1, 2, 3, 4, 5, 6789, tzinfo=shanghai),
        },
        {
            "type": "order.placed",
            "site": "hq",
            "payload": {"number": "VO2"},
            "created_at": datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC),
        },
    ]
    with vintry_platform.hq.transaction() as session:
        session.connection().execute(insert(table(OutboxEvent)), rows)
    with vintry_platform.hq.transaction() as session:
        assert BulkInsert(table(OutboxEvent)).execute(session.connection(), rows) == []
    stored = _raw(vintry_platform, "SELECT type, site, payload, created_at FROM outbox ORDER BY id")
    assert stored[2:] == stored[:2]
    with vintry_platform.hq.reading() as session:
        events = session.query(OutboxEvent).order_by(OutboxEvent.id).all()
    assert [e.created_at for e in events[2:]] == [r["created_at"] for r in rows]
    assert events[2].payload == rows[0]["payload"]


def test_returning_gives_every_new_row_across_chunks(
    vintry_platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "MAX_BOUND_PARAMETERS", 8)  # 2 rows of 4 columns per chunk
    now = datetime.now(UTC)
    rows = [
        {"type": "order.placed", "site": "hq", "payload": {"number": f"VO{n}"}, "created_at": now}
        for n in range(5)
    ]
    inserter = BulkInsert(table(OutboxEvent), returning=("id", "payload"))
    with vintry_platform.hq.transaction() as session:
        returned = inserter.execute(session.connection(), rows)
    assert len(returned) == 5
    stored = dict(_raw(vintry_platform, "SELECT id, payload FROM outbox"))
    assert {row_id for row_id, _payload in returned} == set(stored)


def test_a_row_missing_a_column_is_refused_before_anything_is_sent(
    vintry_platform: Platform,
) -> None:
    inserter = BulkInsert(table(OutboxEvent))
    with pytest.raises(KeyError), vintry_platform.hq.transaction() as session:
        inserter.execute(session.connection(), [{"type": "order.placed", "site": "hq"}])
    assert _raw(vintry_platform, "SELECT count(*) FROM outbox") == [(0,)]


def test_an_unknown_column_is_refused_when_the_insert_is_built() -> None:
    with pytest.raises(ValueError, match="no column"):
        BulkInsert(table(OutboxEvent), returning=("nope",))


@pytest.mark.parametrize("observed", [False, True], ids=["driver", "observed"])
def test_rows_join_the_callers_transaction_and_errors_are_sqlalchemys(
    vintry_platform: Platform, observed: bool
) -> None:
    """On the driver's cursor (nothing listening) or through ``exec_driver_sql`` (a
    statement counter listening), the rows are part of the caller's transaction, and a
    constraint violation is SQLAlchemy's ``IntegrityError`` either way."""
    seen: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    engine = vintry_platform.hq.engine
    if observed:
        event.listen(engine, "before_cursor_execute", count)
    try:
        now = datetime.now(UTC)
        row = {"type": "order.placed", "site": "hq", "payload": {}, "created_at": now}
        inserter = BulkInsert(table(OutboxEvent), returning=("id",))
        with pytest.raises(RuntimeError), vintry_platform.hq.transaction() as session:
            assert len(inserter.execute(session.connection(), [row, row])) == 2
            BulkInsert(table(OutboxEvent)).execute(session.connection(), [row])
            raise RuntimeError("roll back")
        assert _raw(vintry_platform, "SELECT count(*) FROM outbox") == [(0,)]
        with pytest.raises(IntegrityError), vintry_platform.hq.transaction() as session:
            inserter.execute(session.connection(), [{**row, "type": None}])
        with pytest.raises(IntegrityError), vintry_platform.hq.transaction() as session:
            BulkInsert(table(OutboxEvent)).execute(session.connection(), [{**row, "type": None}])
        assert _raw(vintry_platform, "SELECT count(*) FROM outbox") == [(0,)]
    finally:
        if observed:
            event.remove(engine, "before_cursor_execute", count)
    inserts = [s for s in seen if s.startswith("INSERT INTO outbox")]
    assert len(inserts) == (4 if observed else 0)
