"""Prepared reads return exactly what a Session returns, and hide nothing from observers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, column, event, select
from sqlalchemy import table as sql_table
from sqlalchemy.exc import DBAPIError
from vintry.accounts.service import read_token, read_token_and_counters
from vintry.db.base import table
from vintry.db.prepared import PreparedRead
from vintry.errors import Unauthenticated
from vintry.orders.models import OutboxEvent
from vintry.platform import Platform
from vintry_sdk.testing import VintryFactory


def _outbox_row(platform: Platform) -> int:
    created = datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=UTC) + timedelta(hours=1)
    with platform.hq.transaction() as session:
        row = OutboxEvent(
            type="order.placed", site="hq", payload={"number": "VO1", "lines": [1, 2]},
            created_at=created,
        )
        session.add(row)
        session.flush()
        return row.id


def test_rows_are_processed_as_sqlalchemy_processes_them(vintry_platform: Platform) -> None:
    event_id = _outbox_row(vintry_platform)
    outbox = table(OutboxEvent).c
    statement = select(outbox.id, outbox.type, outbox.payload, outbox.created_at).where(
        outbox.id == bindparam("id")
    )
    with vintry_platform.hq.reading() as session:
        expected = tuple(session.execute(statement, {"id": event_id}).one())
    found = PreparedRead(statement).first(vintry_platform.hq.engine, {"id": event_id})
    assert found == expected
    assert found is not None and found[3].tzinfo is not None  # an aware UTC datetime
    assert PreparedRead(statement).first(vintry_platform.hq.engine, {"id": -1}) is None


def test_the_token_read_equals_the_session_read(
    vintry_platform: Platform, vintry_factory: VintryFactory
) -> None:
    region = vintry_factory.site("east").code
    vintry_factory.dealer(region, "D-1")
    token = vintry_factory.token(vintry_factory.user("dealer", region, dealer="D-1"))
    with vintry_platform.hq.reading() as session:
        expected = read_token(session, token, with_counters=True)
    assert read_token_and_counters(vintry_platform.hq, token) == expected
    assert expected.dealer_code == "D-1" and expected.counters
    token_id = token.split("_")[1]
    unknown = token.replace(token_id, "0" * len(token_id))
    with pytest.raises(Unauthenticated):
        read_token_and_counters(vintry_platform.hq, unknown)


def test_an_observed_engine_sees_the_read(vintry_platform: Platform) -> None:
    event_id = _outbox_row(vintry_platform)
    outbox = table(OutboxEvent).c
    read = PreparedRead(select(outbox.type).where(outbox.id == bindparam("id")))
    engine = vintry_platform.hq.engine
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert read.first(engine, {"id": event_id}) == ("order.placed",)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 1
    assert not engine.dispatch.before_cursor_execute
    assert read.first(engine, {"id": event_id}) == ("order.placed",)  # the raw path again


def test_parameters_are_processed_as_sqlalchemy_processes_them(
    vintry_platform: Platform,
) -> None:
    """A datetime bound through its type (stored as text on SQLite) finds the rows a
    Session finds; every row comes back with ``all``; an expanding list is refused."""
    outbox = table(OutboxEvent).c
    base = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    with vintry_platform.hq.transaction() as session:
        for minutes in range(4):
            session.add(
                OutboxEvent(
                    type="order.placed",
                    site="hq",
                    payload={"n": minutes},
                    created_at=base + timedelta(minutes=minutes),
                )
            )
    since = bindparam("since", type_=outbox.created_at.type)
    statement = select(outbox.id, outbox.created_at).where(outbox.created_at >= since)
    read = PreparedRead(statement.order_by(outbox.id).limit(10))  # LIMIT: a value of its own
    engine = vintry_platform.hq.engine
    later = base + timedelta(minutes=2)
    with vintry_platform.hq.reading() as session:
        rows = session.execute(statement.order_by(outbox.id), {"since": later})
        expected = [tuple(row) for row in rows]
    assert len(expected) == 2
    assert read.all(engine, {"since": later}) == expected
    assert read.first(engine, {"since": later}) == expected[0]
    assert read.all(engine, {"since": base + timedelta(days=1)}) == []
    listed = PreparedRead(select(outbox.id).where(outbox.id.in_(bindparam("ids", expanding=True))))
    with pytest.raises(TypeError, match="ids"):
        listed.all(engine, {"ids": [1, 2]})


def test_all_on_reads_inside_the_callers_transaction(vintry_platform: Platform) -> None:
    """``all_on`` runs on the caller's connection: it sees the transaction's own
    uncommitted rows, and a statement error is SQLAlchemy's."""
    outbox = table(OutboxEvent).c
    read = PreparedRead(select(outbox.type).where(outbox.site == bindparam("site")))
    now = datetime.now(UTC)
    with pytest.raises(RuntimeError), vintry_platform.hq.transaction() as session:
        session.add(OutboxEvent(type="order.placed", site="east", payload={}, created_at=now))
        session.flush()
        assert read.all_on(session.connection(), {"site": "east"}) == [("order.placed",)]
        raise RuntimeError("roll back")
    with vintry_platform.hq.transaction() as session:
        assert read.all_on(session.connection(), {"site": "east"}) == []
    missing = sql_table("no_such_table", column("x"))
    broken = PreparedRead(select(missing.c.x).where(missing.c.x == bindparam("site")))
    with pytest.raises(DBAPIError), vintry_platform.hq.transaction() as session:
        broken.all_on(session.connection(), {"site": "east"})
