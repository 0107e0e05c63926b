"""Change counters in HQ: how every worker process learns that shared state moved.

A counter is bumped in the same transaction as the change it announces (the site tree,
plugin enablement). Workers compare the number with the one they cached and reload when it
differs, so a change takes effect everywhere without a restart and without a broker.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, String, event, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from vintry.db.base import HQBase

CATALOG_COUNTER = "catalog"
"""Bumped by every change to what a site's price book holds: SKUs, products, base and site
prices, floors, assortment (``record_event`` bumps it for catalog events)."""
WAREHOUSES_COUNTER = "warehouses"
"""Bumped when a warehouse is created or changed."""


class ChangeCounter(HQBase):
    """A named, monotonically increasing version number."""

    __tablename__ = "change_counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(default=0)


def bump(session: Session, name: str) -> None:
    """Increase counter *name* by one inside the caller's transaction."""
    result = session.execute(
        update(ChangeCounter)
        .where(ChangeCounter.name == name)
        .values(version=ChangeCounter.version + 1)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.add(ChangeCounter(name=name, version=1))
        session.flush()


def read_all(session: Session) -> dict[str, int]:
    """Every counter's current value."""
    rows = session.execute(select(ChangeCounter.name, ChangeCounter.version))
    return {name: version for name, version in rows}


def count_changes(model: type[HQBase], counter: str) -> None:
    """Bump *counter* in the transaction of every ORM insert, update or delete of *model*,
    once per transaction: whatever code writes the rows, caches keyed on the counter
    (:mod:`vintry.cache`) go stale at its commit."""

    def bump_once(_mapper: Any, connection: Connection, _target: Any) -> None:
        transaction = connection.get_transaction()
        bumped = connection.info.setdefault(_BUMPED, {})
        if transaction is not None and bumped.get(counter) is transaction:
            return
        result = connection.execute(
            update(ChangeCounter)
            .where(ChangeCounter.name == counter)
            .values(version=ChangeCounter.version + 1)
        )
        if result.rowcount == 0:
            connection.execute(
                _upsert(connection)(ChangeCounter)
                .values(name=counter, version=1)
                .on_conflict_do_update(
                    index_elements=[ChangeCounter.name],
                    set_={"version": ChangeCounter.version + 1},
                )
            )
        bumped[counter] = transaction

    for name in ("after_insert", "after_update", "after_delete"):
        event.listen(model, name, bump_once)


_BUMPED = "vintry.counters_bumped"


def _upsert(connection: Connection):  # type: ignore[no-untyped-def]
    return pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
