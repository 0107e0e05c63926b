"""Stock that never oversells: receipts, holds, releases, shipments, adjustments, returns.

Every function works inside the caller's HQ transaction, so an order's holds, its rows and
its outbox event commit or roll back together. Reservation is one conditional update per
(warehouse, SKU) — ``reserved = reserved + q WHERE on_hand - reserved >= q`` — never a
read-then-write in Python; the table's check constraints are the backstop. Holds whose time
ran out on the rows being reserved are released by that same update, so an expired hold
never refuses a sale. Rows are touched in (warehouse, SKU) order so two transactions never
wait on each other in a cycle.

Every change appends to the movement ledger: per warehouse and SKU, the sum of
``on_hand_delta`` is ``on_hand`` and the sum of ``reserved_delta`` is ``reserved``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    Select,
    String,
    TextClause,
    and_,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from vintry.db.base import table
from vintry.db.bulk import BulkInsert
from vintry.db.databases import Database
from vintry.db.prepared import PreparedRead
from vintry.errors import Conflict, InvalidInput
from vintry.inventory.models import (
    MovementKind,
    Reservation,
    ReservationStatus,
    Stock,
    StockMovement,
    Warehouse,
)


@dataclass(frozen=True, order=True)
class Hold:
    """Units of one SKU to hold in one warehouse."""

    warehouse_id: int
    sku_id: int
    quantity: int


class OutOfStock(Conflict):
    """A hold asked for more than a warehouse has available; nothing was held."""

    code = "out_of_stock"


@dataclass(frozen=True)
class LedgerDiscrepancy:
    """A (warehouse, SKU) whose stock row and ledger disagree (never expected)."""

    warehouse_id: int
    sku_id: int
    on_hand: int
    ledger_on_hand: int
    reserved: int
    ledger_reserved: int


def _upsert(session: Session):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _movement(
    at: datetime,
    warehouse_id: int,
    sku_id: int,
    kind: MovementKind,
    *,
    on_hand: int = 0,
    reserved: int = 0,
    reservation_id: int | None = None,
    reference: str | None = None,
    note: str | None = None,
) -> dict[str, object]:
    return {
        "at": at,
        "warehouse_id": warehouse_id,
        "sku_id": sku_id,
        "kind": kind.value,
        "on_hand_delta": on_hand,
        "reserved_delta": reserved,
        "reservation_id": reservation_id,
        "reference": reference,
        "note": note,
    }


def receive(
    session: Session,
    *,
    warehouse_id: int,
    sku_id: int,
    quantity: int,
    now: datetime,
    reference: str | None = None,
    note: str | None = None,
) -> None:
    """Add *quantity* units on hand (a goods receipt)."""
    _add_on_hand(
        session,
        warehouse_id,
        sku_id,
        quantity,
        now,
        MovementKind.RECEIPT,
        reference=reference,
        note=note,
        what="a receipt adds",
    )


def adjust(
    session: Session,
    *,
    warehouse_id: int,
    sku_id: int,
    delta: int,
    now: datetime,
    note: str,
) -> None:
    """Correct on-hand by *delta* (a count, breakage); never below what is held."""
    if delta == 0:
        raise InvalidInput(
            "an adjustment changes something", code="invalid_quantity", field="delta"
        )
    result = session.execute(
        update(Stock)
        .where(
            Stock.warehouse_id == warehouse_id,
            Stock.sku_id == sku_id,
            Stock.on_hand + delta >= Stock.reserved,
        )
        .values(on_hand=Stock.on_hand + delta)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise Conflict(
            "the adjustment would leave less on hand than is held (or no stock row exists)",
            code="adjustment_below_reserved",
            field="delta",
        )
    session.execute(
        insert(StockMovement),
        [_movement(now, warehouse_id, sku_id, MovementKind.ADJUST, on_hand=delta, note=note)],
    )


def release_expired(session: Session, keys: Iterable[tuple[int, int]], now: datetime) -> int:
    """Expire held reservations past their time on the given (warehouse, SKU) rows.

    Returns the units released. Called before reserving on those rows, and by the sweeper
    for all rows.
    """
    return _unhold(session, _expire_holds(session, keys, now), now, MovementKind.EXPIRE)


def _expire_holds(session: Session, keys: Iterable[tuple[int, int]], now: datetime) -> list[Any]:
    """Mark the held reservations past their time on *keys* expired; returns them as
    :data:`HeldRow` rows. The stock rows are the caller's to update."""
    keys = sorted(set(keys))
    if not keys:
        return []
    rows = session.execute(
        update(Reservation)
        .where(
            tuple_(Reservation.warehouse_id, Reservation.sku_id).in_(keys),
            # Plain IN lists beside the row-value IN let SQLite's planner use
            # ix_reservations_hold instead of scanning every reservation ever made.
            Reservation.warehouse_id.in_({w for w, _ in keys}),
            Reservation.sku_id.in_({s for _, s in keys}),
            Reservation.status == ReservationStatus.HELD.value,
            Reservation.expires_at <= now,
        )
        .values(status=ReservationStatus.EXPIRED.value, closed_at=now)
        .returning(
            Reservation.id,
            Reservation.warehouse_id,
            Reservation.sku_id,
            Reservation.quantity,
            Reservation.reference,
        )
    ).all()
    return list(rows)


def expire_all(session: Session, now: datetime) -> int:
    """The sweeper: release every hold whose time ran out; returns the units released."""
    keys = session.execute(
        select(Reservation.warehouse_id, Reservation.sku_id)
        .where(Reservation.status == ReservationStatus.HELD.value, Reservation.expires_at <= now)
        .distinct()
    ).all()
    return release_expired(session, [(w, s) for w, s in keys], now)


HeldRow = tuple[int, int, int, int, str]
"""(reservation id, warehouse id, SKU id, quantity, reference) as RETURNING gives them."""


def _unhold(session: Session, rows: Sequence[Any], now: datetime, kind: MovementKind) -> int:
    per_key: dict[tuple[int, int], int] = defaultdict(int)
    movements = []
    for row in rows:
        reservation_id, warehouse_id, sku_id, quantity, reference = cast(HeldRow, tuple(row))
        per_key[(warehouse_id, sku_id)] += quantity
        movements.append(
            _movement(
                now,
                warehouse_id,
                sku_id,
                kind,
                reserved=-quantity,
                reservation_id=reservation_id,
                reference=reference,
            )
        )
    for (warehouse_id, sku_id), quantity in sorted(per_key.items()):
        session.execute(
            update(Stock)
            .where(Stock.warehouse_id == warehouse_id, Stock.sku_id == sku_id)
            .values(reserved=Stock.reserved - quantity)
        )
    if movements:
        session.execute(insert(StockMovement), movements)
    return sum(per_key.values())


def reserve(
    session: Session,
    *,
    reference: str,
    holds: Sequence[Hold],
    now: datetime,
    expires_at: datetime | None,
) -> list[int]:
    """Hold every line of *holds* or none: raises :class:`OutOfStock` on the first line
    that cannot be held (the caller's transaction then rolls back the others).

    Returns the reservation ids, in the order of *holds* merged per (warehouse, SKU).
    """
    merged: dict[tuple[int, int], int] = defaultdict(int)
    for hold in holds:
        if hold.quantity <= 0:
            raise InvalidInput(
                "a hold is for at least one unit", code="invalid_quantity", field="quantity"
            )
        merged[(hold.warehouse_id, hold.sku_id)] += hold.quantity
    if not merged:
        raise InvalidInput(
            "a reservation holds at least one line", code="invalid_quantity", field="holds"
        )
    keys = sorted(merged)
    # The expired holds' release is folded into each row's conditional update, so every
    # stock row is locked once and in key order: releasing them first, row by row, locked
    # their rows ahead of lower keys and could deadlock with a cancel or a shipment.
    expired = _expire_holds(session, keys, now)
    freed: dict[tuple[int, int], int] = defaultdict(int)
    movements = []
    for reservation_id, warehouse_id, sku_id, quantity, held_for in expired:
        freed[(warehouse_id, sku_id)] += quantity
        movements.append(
            _movement(
                now,
                warehouse_id,
                sku_id,
                MovementKind.EXPIRE,
                reserved=-quantity,
                reservation_id=reservation_id,
                reference=held_for,
            )
        )
    for warehouse_id, sku_id in keys:
        quantity, released = merged[(warehouse_id, sku_id)], freed[(warehouse_id, sku_id)]
        result = session.execute(
            update(Stock)
            .where(
                Stock.warehouse_id == warehouse_id,
                Stock.sku_id == sku_id,
                Stock.on_hand - Stock.reserved + released >= quantity,
            )
            .values(reserved=Stock.reserved - released + quantity)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            available = session.scalar(
                select(Stock.on_hand - Stock.reserved + released).where(
                    Stock.warehouse_id == warehouse_id, Stock.sku_id == sku_id
                )
            )
            raise OutOfStock(
                f"only {available or 0} unit(s) available, {quantity} requested",
                field="quantity",
                details={
                    "warehouse_id": warehouse_id,
                    "sku_id": sku_id,
                    "requested": quantity,
                    "available": available or 0,
                },
            )
    # One multi-row INSERT: ids are matched back by (warehouse, SKU), which is unique per
    # call, instead of asking for parameter order (SQLite would send one row at a time).
    returned = session.execute(
        insert(Reservation).returning(Reservation.id, Reservation.warehouse_id, Reservation.sku_id),
        [
            {
                "reference": reference,
                "warehouse_id": w,
                "sku_id": s,
                "quantity": merged[(w, s)],
                "status": ReservationStatus.HELD.value,
                "expires_at": expires_at,
                "created_at": now,
                "closed_at": None,
            }
            for w, s in keys
        ],
    ).all()
    id_of = {(w, s): rid for rid, w, s in returned}
    ids = [id_of[key] for key in keys]
    movements.extend(
        _movement(
            now,
            w,
            s,
            MovementKind.RESERVE,
            reserved=merged[(w, s)],
            reservation_id=rid,
            reference=reference,
        )
        for (w, s), rid in zip(keys, ids, strict=True)
    )
    session.execute(insert(StockMovement), movements)
    return list(ids)


@dataclass(frozen=True)
class RowState:
    """One stock row as a batch of holds finds it, under lock."""

    available: int
    """``on_hand - reserved``, counting holds whose time ran out as available."""
    expired: int
    """Units of those holds, released by :func:`hold_many` before it holds."""


def lock_rows(
    session: Session, *, sku_ids: Iterable[int], warehouse_ids: Iterable[int], now: datetime
) -> dict[tuple[int, int], RowState]:
    """The stock rows of *sku_ids* × *warehouse_ids*, keyed (warehouse, SKU), in one query.

    On PostgreSQL the rows are locked (``FOR UPDATE``, in key order, the order every writer
    takes them in), so what this returns stays true until the transaction ends. On SQLite
    the caller's write transaction already holds the database's write lock.
    """
    skus, warehouses = sorted(set(sku_ids)), sorted(set(warehouse_ids))
    if not skus or not warehouses:
        return {}
    connection = session.connection()
    rows: Iterable[Any]
    if connection.dialect.name == "sqlite":
        # The lists bound as JSON arrays: one statement text, run on the driver's cursor.
        listed = {"skus": json.dumps(skus), "warehouses": json.dumps(warehouses), "now": now}
        rows = _LOCK_ROWS_SQLITE.all_on(connection, listed)
    else:
        query = _LOCK_ROWS_FOR_UPDATE if connection.dialect.name == "postgresql" else _LOCK_ROWS
        rows = connection.execute(query, {"skus": skus, "warehouses": warehouses, "now": now})
    return {
        (w, s): RowState(available=int(free) + int(gone), expired=int(gone))
        for w, s, free, gone in rows
    }


def _id_lists(*, listed_as_json: bool) -> tuple[Any, Any]:
    """The ``skus`` and ``warehouses`` lists of a stock statement: expanding parameters, or
    (SQLite, *listed_as_json*) one JSON array parameter each, read with ``json_each`` —
    one statement text however long the lists, so it runs as a prepared statement."""
    if not listed_as_json:
        return bindparam("skus", expanding=True), bindparam("warehouses", expanding=True)
    skus: Any
    warehouses: Any
    skus, warehouses = (
        select(literal_column("value")).select_from(func.json_each(bindparam(name, type_=String)))
        for name in ("skus", "warehouses")
    )
    return skus, warehouses


def _lock_rows_query(*, for_update: bool, listed_as_json: bool = False) -> Select[Any]:
    """:func:`lock_rows`'s statement, built once: a statement object that is reused keeps
    its cache key, so each batch skips building it and keying SQLAlchemy's compiled cache.
    *listed_as_json* (SQLite): the lists are JSON arrays read with ``json_each``."""
    stock, held = table(Stock).c, table(Reservation).c
    skus, warehouses = _id_lists(listed_as_json=listed_as_json)
    expired = (
        select(func.coalesce(func.sum(held.quantity), 0))
        .where(
            held.warehouse_id == stock.warehouse_id,
            held.sku_id == stock.sku_id,
            held.status == ReservationStatus.HELD.value,
            held.expires_at <= bindparam("now"),
        )
        .scalar_subquery()
    )
    query = (
        select(stock.warehouse_id, stock.sku_id, stock.on_hand - stock.reserved, expired)
        .where(stock.sku_id.in_(skus), stock.warehouse_id.in_(warehouses))
        .order_by(stock.warehouse_id, stock.sku_id)
    )
    return query.with_for_update(of=table(Stock)) if for_update else query


_LOCK_ROWS = _lock_rows_query(for_update=False)
_LOCK_ROWS_FOR_UPDATE = _lock_rows_query(for_update=True)
_LOCK_ROWS_SQLITE = PreparedRead(_lock_rows_query(for_update=False, listed_as_json=True))


@lru_cache(maxsize=64)
def _hold_statement(rows: int) -> TextClause:
    """The holding ``UPDATE … FROM (VALUES …)`` for *rows* stock rows, built once per size.

    Plain SQL: a VALUES list built by SQLAlchemy is compiled afresh on every call (its rows
    are literal structure). RETURNING counts the rows (sqlite3 reports no rowcount for a
    statement led by WITH).
    """
    values = ", ".join(f"(:w{n}, :s{n}, :q{n}, :r{n})" for n in range(rows))
    return text(
        f"WITH wanted(w, s, q, r) AS (VALUES {values}) "
        "UPDATE stock SET reserved = stock.reserved - wanted.r + wanted.q FROM wanted "
        "WHERE stock.warehouse_id = wanted.w AND stock.sku_id = wanted.s "
        "AND stock.on_hand - stock.reserved + wanted.r >= wanted.q "
        "RETURNING stock.warehouse_id"
    )


_INSERT_HOLDS = BulkInsert(
    table(Reservation), returning=("id", "reference", "warehouse_id", "sku_id")
)
_INSERT_MOVEMENTS = BulkInsert(table(StockMovement))


def hold_many(
    session: Session,
    *,
    holds: Sequence[tuple[str, Sequence[Hold], datetime | None]],
    rows: Mapping[tuple[int, int], RowState],
    now: datetime,
) -> dict[tuple[str, int, int], int]:
    """Hold, for several references at once, what :func:`lock_rows` showed available.

    *holds* is ``(reference, holds, expires_at)`` per reference (an order). Expired holds
    on the rows touched are released first, in the same statements; then one
    ``UPDATE … FROM (VALUES …)`` holds every row's total, guarded by ``>=`` as the
    backstop; one INSERT writes the reservations and one the ledger. Returns reservation
    ids keyed (reference, warehouse, SKU). A row that no longer has the units (the caller's
    lock makes that a bug, not a race) raises ``RuntimeError``: roll back.
    """
    merged: dict[tuple[str, int, int], int] = defaultdict(int)
    expiry: dict[str, datetime | None] = {}
    per_row: dict[tuple[int, int], int] = defaultdict(int)
    for reference, lines, expires_at in holds:
        expiry[reference] = expires_at
        for hold in lines:
            if hold.quantity <= 0:
                raise InvalidInput(
                    "a hold is for at least one unit", code="invalid_quantity", field="quantity"
                )
            merged[(reference, hold.warehouse_id, hold.sku_id)] += hold.quantity
            per_row[(hold.warehouse_id, hold.sku_id)] += hold.quantity
    if not merged:
        return {}
    keys = sorted(per_row)
    movements: list[dict[str, object]] = []
    freed: dict[tuple[int, int], int] = defaultdict(int)
    stale = [key for key in keys if key in rows and rows[key].expired]
    if stale:
        for reservation_id, w, s, quantity, held_for in _expire_holds(session, stale, now):
            freed[(w, s)] += quantity
            movements.append(
                _movement(
                    now,
                    w,
                    s,
                    MovementKind.EXPIRE,
                    reserved=-quantity,
                    reservation_id=reservation_id,
                    reference=held_for,
                )
            )
    parameters: dict[str, int] = {}
    for n, (w, s) in enumerate(keys):
        parameters.update(
            {f"w{n}": w, f"s{n}": s, f"q{n}": per_row[(w, s)], f"r{n}": freed[(w, s)]}
        )
    connection = session.connection()  # Core statements built once: no ORM on this path
    updated = connection.execute(_hold_statement(len(keys)), parameters).all()
    if len(updated) != len(keys):
        raise RuntimeError(
            f"{len(keys) - len(updated)} locked stock row(s) lacked the units sourcing saw"
        )
    ordered = sorted(merged)
    returned = _INSERT_HOLDS.execute(
        connection,
        [
            {
                "reference": reference,
                "warehouse_id": w,
                "sku_id": s,
                "quantity": merged[(reference, w, s)],
                "status": ReservationStatus.HELD.value,
                "expires_at": expiry[reference],
                "created_at": now,
                "closed_at": None,
            }
            for reference, w, s in ordered
        ],
    )
    ids = {(reference, w, s): rid for rid, reference, w, s in returned}
    movements.extend(
        _movement(
            now,
            w,
            s,
            MovementKind.RESERVE,
            reserved=merged[(reference, w, s)],
            reservation_id=ids[(reference, w, s)],
            reference=reference,
        )
        for reference, w, s in ordered
    )
    _INSERT_MOVEMENTS.execute(connection, movements)
    return ids


def release(session: Session, *, reference: str, now: datetime) -> int:
    """Release every hold of *reference* still held (a cancelled order); returns units."""
    rows = session.execute(
        update(Reservation)
        .where(
            Reservation.reference == reference, Reservation.status == ReservationStatus.HELD.value
        )
        .values(status=ReservationStatus.RELEASED.value, closed_at=now)
        .returning(
            Reservation.id,
            Reservation.warehouse_id,
            Reservation.sku_id,
            Reservation.quantity,
            Reservation.reference,
        )
    ).all()
    return _unhold(session, rows, now, MovementKind.RELEASE)


def ship(session: Session, *, reservation_ids: Sequence[int], now: datetime) -> int:
    """Ship held reservations: the units leave on-hand and stop being held. Returns units.

    A reservation that is no longer held (expired, released, shipped) is refused with
    409 ``reservation_not_held`` and nothing ships.
    """
    ids = sorted(set(reservation_ids))
    if not ids:
        raise InvalidInput(
            "a shipment ships at least one reservation",
            code="invalid_quantity",
            field="reservation_ids",
        )
    rows = session.execute(
        update(Reservation)
        .where(Reservation.id.in_(ids), Reservation.status == ReservationStatus.HELD.value)
        .values(status=ReservationStatus.SHIPPED.value, closed_at=now)
        .returning(
            Reservation.id,
            Reservation.warehouse_id,
            Reservation.sku_id,
            Reservation.quantity,
            Reservation.reference,
        )
    ).all()
    if len(rows) != len(ids):
        raise Conflict(
            "a reservation to ship is no longer held",
            code="reservation_not_held",
            field="reservation_ids",
        )
    per_key: dict[tuple[int, int], int] = defaultdict(int)
    for _id, warehouse_id, sku_id, quantity, _reference in rows:
        per_key[(warehouse_id, sku_id)] += quantity
    for (warehouse_id, sku_id), quantity in sorted(per_key.items()):
        session.execute(
            update(Stock)
            .where(Stock.warehouse_id == warehouse_id, Stock.sku_id == sku_id)
            .values(on_hand=Stock.on_hand - quantity, reserved=Stock.reserved - quantity)
        )
    session.execute(
        insert(StockMovement),
        [
            _movement(
                now,
                w,
                s,
                MovementKind.SHIP,
                on_hand=-q,
                reserved=-q,
                reservation_id=rid,
                reference=ref,
            )
            for rid, w, s, q, ref in rows
        ],
    )
    return sum(per_key.values())


def restock_return(
    session: Session,
    *,
    warehouse_id: int,
    sku_id: int,
    quantity: int,
    now: datetime,
    reference: str,
) -> None:
    """Put returned units back on hand."""
    _add_on_hand(
        session,
        warehouse_id,
        sku_id,
        quantity,
        now,
        MovementKind.RETURN,
        reference=reference,
        note=None,
        what="a return restocks",
    )


def _add_on_hand(
    session: Session,
    warehouse_id: int,
    sku_id: int,
    quantity: int,
    now: datetime,
    kind: MovementKind,
    *,
    reference: str | None,
    note: str | None,
    what: str,
) -> None:
    """Units arriving on hand (receipt or return): upsert the stock row, append the ledger."""
    if quantity <= 0:
        raise InvalidInput(f"{what} at least one unit", code="invalid_quantity", field="quantity")
    statement = _upsert(session)(Stock).values(
        warehouse_id=warehouse_id, sku_id=sku_id, on_hand=quantity, reserved=0
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[Stock.warehouse_id, Stock.sku_id],
            set_={"on_hand": Stock.on_hand + quantity},
        )
    )
    session.execute(
        insert(StockMovement),
        [
            _movement(
                now, warehouse_id, sku_id, kind, on_hand=quantity, reference=reference, note=note
            )
        ],
    )


def _available_statement(*, listed_as_json: bool = False) -> Any:
    """The availability query, built once: its lists and time are bound parameters, so
    every call reuses one compiled statement (building it cost more than running it).

    *listed_as_json* (SQLite): each list is one JSON array parameter read with
    ``json_each`` — one value to bind however long the page, so the statement runs as a
    :class:`~vintry.db.prepared.PreparedRead`.
    """
    skus, warehouses = _id_lists(listed_as_json=listed_as_json)
    expired = (
        select(
            Reservation.warehouse_id,
            Reservation.sku_id,
            func.sum(Reservation.quantity).label("quantity"),
        )
        .where(
            Reservation.status == ReservationStatus.HELD.value,
            Reservation.expires_at <= bindparam("now"),
            Reservation.sku_id.in_(skus),
            Reservation.warehouse_id.in_(warehouses),
        )
        .group_by(Reservation.warehouse_id, Reservation.sku_id)
        .subquery()
    )
    return (
        select(
            Stock.warehouse_id,
            Stock.sku_id,
            Stock.on_hand - Stock.reserved + func.coalesce(expired.c.quantity, 0),
        )
        .outerjoin(
            expired,
            and_(expired.c.warehouse_id == Stock.warehouse_id, expired.c.sku_id == Stock.sku_id),
        )
        .where(Stock.sku_id.in_(skus), Stock.warehouse_id.in_(warehouses))
    )


_AVAILABLE = _available_statement()
_AVAILABLE_SQLITE = PreparedRead(_available_statement(listed_as_json=True))


def available(
    session: Session, *, sku_ids: Iterable[int], warehouse_ids: Iterable[int], now: datetime
) -> dict[int, dict[int, int]]:
    """Units available to promise, per SKU and warehouse, in one query for a whole page.

    Holds whose time ran out count as available (the next reservation releases them).
    """
    skus, warehouses = list(set(sku_ids)), list(set(warehouse_ids))
    result: dict[int, dict[int, int]] = {sku: {} for sku in skus}
    if not skus or not warehouses:
        return result
    rows = session.execute(_AVAILABLE, {"skus": skus, "warehouses": warehouses, "now": now})
    for warehouse_id, sku_id, units in rows:
        result[sku_id][warehouse_id] = int(units)
    return result


def available_now(
    database: Database, *, sku_ids: Iterable[int], warehouse_ids: Iterable[int], now: datetime
) -> dict[int, dict[int, int]]:
    """:func:`available` as a read of its own on HQ *database*: one statement, without a
    Session or (on SQLite) a transaction — what a page of products pays per request."""
    skus, warehouses = list(set(sku_ids)), list(set(warehouse_ids))
    result: dict[int, dict[int, int]] = {sku: {} for sku in skus}
    if not skus or not warehouses:
        return result
    rows: Iterable[Any]
    if database.backend == "sqlite":
        rows = _AVAILABLE_SQLITE.all(
            database.engine,
            {"skus": json.dumps(skus), "warehouses": json.dumps(warehouses), "now": now},
        )
    else:
        params = {"skus": skus, "warehouses": warehouses, "now": now}
        rows = database.read_rows(_AVAILABLE, params)
    for warehouse_id, sku_id, units in rows:
        result[sku_id][warehouse_id] = int(units)
    return result


def ledger_discrepancies(session: Session) -> list[LedgerDiscrepancy]:
    """(warehouse, SKU) rows whose stock differs from the sum of their ledger; empty normally."""
    ledger = (
        select(
            StockMovement.warehouse_id,
            StockMovement.sku_id,
            func.sum(StockMovement.on_hand_delta).label("on_hand"),
            func.sum(StockMovement.reserved_delta).label("reserved"),
        )
        .group_by(StockMovement.warehouse_id, StockMovement.sku_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Stock.warehouse_id,
            Stock.sku_id,
            Stock.on_hand,
            func.coalesce(ledger.c.on_hand, 0),
            Stock.reserved,
            func.coalesce(ledger.c.reserved, 0),
        ).outerjoin(
            ledger,
            and_(ledger.c.warehouse_id == Stock.warehouse_id, ledger.c.sku_id == Stock.sku_id),
        )
    ).all()
    return [
        LedgerDiscrepancy(w, s, int(oh), int(loh), int(r), int(lr))
        for w, s, oh, loh, r, lr in rows
        if int(oh) != int(loh) or int(r) != int(lr)
    ]


# --- holds that change hands (the hand-over of held stock to an order) ------------------


@dataclass(frozen=True)
class Transferred:
    """Units of one SKU in one warehouse now held by the new reference, under
    ``reservation_id``."""

    reservation_id: int
    warehouse_id: int
    sku_id: int
    quantity: int


def _draw_held(
    session: Session,
    *,
    reference: str,
    wanted: Mapping[int, int],
    now: datetime,
    at_most: bool = False,
) -> list[HeldRow]:
    """Take *wanted* units per SKU id out of the unexpired holds of *reference*, preferred
    warehouses first (priority, then id), shrinking a hold or closing it (``released``).

    Returns what was taken as :data:`HeldRow` rows (one per hold touched, with the units
    taken). The stock rows and the ledger are the caller's to write. Raises
    :class:`OutOfStock`, having changed nothing, when the holds have fewer units than
    wanted. The holds are locked first (``FOR UPDATE`` on PostgreSQL; SQLite's write lock
    otherwise), the order ``release`` and ``ship`` take them in.
    """
    query = (
        select(Reservation.id, Reservation.warehouse_id, Reservation.sku_id, Reservation.quantity)
        .join(Warehouse, Warehouse.id == Reservation.warehouse_id)
        .where(
            Reservation.reference == reference,
            Reservation.status == ReservationStatus.HELD.value,
            Reservation.sku_id.in_(sorted(wanted)),
            (Reservation.expires_at.is_(None)) | (Reservation.expires_at > now),
        )
        .order_by(Warehouse.priority, Reservation.warehouse_id, Reservation.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Reservation)
    rows = session.execute(query).all()
    for sku_id, quantity in sorted(wanted.items()):
        held = sum(int(row.quantity) for row in rows if row.sku_id == sku_id)
        if held < quantity and not at_most:
            raise OutOfStock(
                f"only {held} unit(s) held under {reference!r}, {quantity} requested",
                field="quantity",
                details={"sku_id": sku_id, "requested": quantity, "held": held},
            )
    left = dict(wanted)
    taken: list[HeldRow] = []
    for reservation_id, warehouse_id, sku_id, quantity in rows:
        take = min(left[sku_id], int(quantity))
        if take <= 0:
            continue
        left[sku_id] -= take
        whole = take == quantity
        session.execute(
            update(Reservation)
            .where(Reservation.id == reservation_id)
            .values(
                quantity=Reservation.quantity if whole else Reservation.quantity - take,
                status=ReservationStatus.RELEASED.value if whole else Reservation.status,
                closed_at=now if whole else Reservation.closed_at,
            )
        )
        taken.append((reservation_id, warehouse_id, sku_id, take, reference))
    return taken


def transfer_held(
    session: Session,
    *,
    reference: str,
    to_reference: str,
    wanted: Mapping[int, int],
    expires_at: datetime | None,
    now: datetime,
) -> list[Transferred]:
    """Move *wanted* units per SKU id from the holds of *reference* to new holds of
    *to_reference* (expiring at *expires_at*), in the caller's transaction.

    The units never become available: ``reserved`` on the stock rows does not change, and
    the ledger records the move as a release of the old hold and a reservation of the new
    one, both at *now*. All or nothing: :class:`OutOfStock` when *reference* holds fewer
    unexpired units of a SKU than wanted (the rest of *reference*'s holds stay as they are).
    Returns the new holds, one per (warehouse, SKU), in key order.
    """
    taken = _draw_held(session, reference=reference, wanted=wanted, now=now)
    per_key: dict[tuple[int, int], int] = defaultdict(int)
    for _id, warehouse_id, sku_id, quantity, _ref in taken:
        per_key[(warehouse_id, sku_id)] += quantity
    keys = sorted(per_key)
    rows = [
        Reservation(
            reference=to_reference,
            warehouse_id=w,
            sku_id=s,
            quantity=per_key[(w, s)],
            status=ReservationStatus.HELD.value,
            expires_at=expires_at,
            created_at=now,
            closed_at=None,
        )
        for w, s in keys
    ]
    session.add_all(rows)
    session.flush()
    id_of = {(row.warehouse_id, row.sku_id): row.id for row in rows}
    movements = [
        _movement(
            now,
            w,
            s,
            MovementKind.RELEASE,
            reserved=-q,
            reservation_id=rid,
            reference=reference,
            note=f"handed over to {to_reference}",
        )
        for rid, w, s, q, _ref in taken
    ]
    movements.extend(
        _movement(
            now,
            w,
            s,
            MovementKind.RESERVE,
            reserved=per_key[(w, s)],
            reservation_id=id_of[(w, s)],
            reference=to_reference,
            note=f"handed over from {reference}",
        )
        for w, s in keys
    )
    session.execute(insert(StockMovement), movements)
    return [Transferred(id_of[(w, s)], w, s, per_key[(w, s)]) for w, s in keys]


def release_held(
    session: Session, *, reference: str, sku_id: int, quantity: int, now: datetime
) -> int:
    """Release *quantity* units of *sku_id* of *reference*'s unexpired holds (or all it
    holds, if fewer), keeping the rest held; returns the units released."""
    if quantity <= 0:
        return 0
    taken = _draw_held(
        session, reference=reference, wanted={sku_id: quantity}, now=now, at_most=True
    )
    return _unhold(session, taken, now, MovementKind.RELEASE)
