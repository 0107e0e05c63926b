"""Change counters in HQ: how every worker process learns that shared state moved.

A counter is bumped in the same transaction as the change it announces (the site tree,
plugin enablement). Workers compare the number with the one they cached and reload when it
differs, so a change takes effect everywhere without a restart and without a broker.
"""

from __future__ import annotations

from sqlalchemy import String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from vintry.db.base import HQBase


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
