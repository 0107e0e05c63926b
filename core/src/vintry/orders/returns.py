"""Returns: a dealer asks to send back delivered units, with a reason; HQ decides.

``requested`` → ``approved`` or ``rejected``, each a conditional update on (id,
``requested``) with a ``return.status_changed`` outbox event in the same transaction.

- **Request**: only a ``delivered`` order; per SKU at most the units shipped minus those
  already returned *or awaiting a decision*. The units are attributed to the warehouses
  they shipped from (earliest shipment first), one return line per (SKU, warehouse), so a
  restock goes back where the units came from.
- **Approval** names a disposition per SKU: ``restock`` puts the units back on hand in
  their warehouse through the ledger (``stock.restock_return``), ``write_off`` restocks
  nothing and leaves stock and ledger untouched. The refund is the line's charged amount
  split per unit to the fen with :func:`vintry.money.prorate` (largest remainder), and a
  return refunds the *next* units of that split, so returning every unit of a line — in
  one return or many — refunds exactly the line's total. It is paid back as a negative
  payment through the provider that took the order's payment, and restores the dealer's
  credit when the order was paid on credit.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from vintry.accounts.principal import Actor
from vintry.audit.service import record_change
from vintry.dealers.models import Dealer
from vintry.errors import Conflict, InvalidInput, NotFound
from vintry.events.outbox import EventType, record_event
from vintry.inventory import stock
from vintry.money import from_fen, prorate
from vintry.orders.lifecycle import find_order, refund
from vintry.orders.models import (
    Order,
    OrderLine,
    OrderStatus,
    ReturnLine,
    ReturnRequest,
    Shipment,
    ShipmentLine,
)
from vintry.orders.placement import new_order_number
from vintry.platform import Platform
from vintry.sites.directory import SiteDirectory

REASON_CODES = ("damaged_packaging", "quality", "wrong_item", "other")
"""Why a dealer returns units; ``other`` needs a text."""
DISPOSITIONS = ("restock", "write_off")


class ReturnStatus(enum.StrEnum):
    """Where a return stands."""

    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"


OPEN_OR_APPROVED = (ReturnStatus.REQUESTED.value, ReturnStatus.APPROVED.value)


def unit_refunds(line_total_fen: int, quantity: int) -> list[int]:
    """What each unit of a line refunds: its total split over its units, summing exactly."""
    return prorate(line_total_fen, [1] * quantity)


def refund_for(line_total_fen: int, quantity: int, already_returned: int, units: int) -> int:
    """The refund for returning *units* more units of a line of which *already_returned*
    were refunded before: the next units of :func:`unit_refunds`."""
    if already_returned < 0 or units < 0 or already_returned + units > quantity:
        raise ValueError("cannot return more units than the line has")
    return sum(unit_refunds(line_total_fen, quantity)[already_returned : already_returned + units])


def find_return(session: Session, number: str) -> ReturnRequest:
    """The return numbered *number*; 404 ``return_not_found`` if there is none."""
    found = session.scalar(select(ReturnRequest).where(ReturnRequest.number == number))
    if found is None:
        raise NotFound(f"return {number!r} does not exist", code="return_not_found", field="number")
    return found


def request_return(
    platform: Platform,
    number: str,
    *,
    reason_code: str,
    reason_text: str | None,
    lines: Sequence[tuple[str, int]],
) -> ReturnRequest:
    """Ask to return *lines* (SKU, units) of delivered order *number*."""
    if reason_code not in REASON_CODES:
        raise InvalidInput(
            f"reason_code must be one of {', '.join(REASON_CODES)}",
            code="invalid_reason",
            field="reason_code",
        )
    if reason_code == "other" and not (reason_text or "").strip():
        raise InvalidInput(
            "a return for another reason says what it is",
            code="reason_text_required",
            field="reason_text",
        )
    wanted = _wanted(lines)
    directory = platform.directory()
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        order = find_order(session, number)
        # Lock the order's row so that two requests cannot both count the same units.
        locked = session.execute(
            update(Order)
            .where(Order.id == order.id, Order.status == OrderStatus.DELIVERED.value)
            .values(updated_at=now)
            .returning(Order.id)
            .execution_options(synchronize_session=False)
        ).first()
        if locked is None:
            current = session.scalar(select(Order.status).where(Order.id == order.id))
            raise Conflict(
                f"order {number} is {current}; only a delivered order can be returned",
                code="order_not_delivered",
                field="number",
                details={"status": current},
            )
        by_sku = {
            line.sku_code: line
            for line in session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))
        }
        unknown = sorted(set(wanted) - set(by_sku))
        if unknown:
            raise InvalidInput(
                f"order {number} has no line of {', '.join(unknown)}",
                code="sku_not_in_order",
                field="lines",
                details={"skus": unknown},
            )
        returnable = _returnable(session, order)
        split: list[tuple[OrderLine, int, int]] = []
        for sku, units in wanted.items():
            line = by_sku[sku]
            sources = returnable.get(line.id, [])
            left = sum(free for _warehouse, free in sources)
            if units > left:
                raise Conflict(
                    f"{left} unit(s) of {sku} can still be returned, not {units}",
                    code="return_exceeds_shipped",
                    field="lines",
                    details={"sku": sku, "requested": units, "returnable": left},
                )
            for warehouse_id, free in sources:
                take = min(free, units)
                if take:
                    split.append((line, warehouse_id, take))
                    units -= take
        request = ReturnRequest(
            number="VR" + new_order_number(int(now.timestamp() * 1000))[2:],
            order_id=order.id,
            dealer_id=order.dealer_id,
            site_id=order.site_id,
            status=ReturnStatus.REQUESTED.value,
            reason_code=reason_code,
            reason_text=reason_text,
            requested_at=now,
            decided_at=None,
            decided_by=None,
            refund_fen=0,
        )
        session.add(request)
        session.flush()
        session.add_all(
            ReturnLine(
                return_id=request.id,
                order_line_id=line.id,
                quantity=units,
                disposition=None,
                warehouse_id=warehouse_id,
                refund_fen=0,
            )
            for line, warehouse_id, units in split
        )
        _event(session, directory, order, request, None, now)
    return request


def _wanted(lines: Sequence[tuple[str, int]]) -> dict[str, int]:
    wanted: dict[str, int] = {}
    for sku, units in lines:
        if sku in wanted:
            raise InvalidInput(f"{sku} appears twice", code="duplicate_sku", field="lines")
        if units <= 0:
            raise InvalidInput(
                "a return line returns at least one unit", code="invalid_quantity", field="lines"
            )
        wanted[sku] = units
    if not wanted:
        raise InvalidInput(
            "a return returns at least one line", code="invalid_quantity", field="lines"
        )
    return wanted


def _returnable(session: Session, order: Order) -> dict[int, list[tuple[int, int]]]:
    """Per order line: (warehouse id, units shipped from it not yet returned or claimed),
    warehouses in the order of their first shipment."""
    shipped = session.execute(
        select(
            ShipmentLine.order_line_id,
            Shipment.warehouse_id,
            func.sum(ShipmentLine.quantity),
            func.min(Shipment.id),
        )
        .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
        .where(Shipment.order_id == order.id)
        .group_by(ShipmentLine.order_line_id, Shipment.warehouse_id)
        .order_by(func.min(Shipment.id))
    ).all()
    claimed: dict[tuple[int, int | None], int] = {
        (line_id, warehouse_id): int(units)
        for line_id, warehouse_id, units in session.execute(
            select(ReturnLine.order_line_id, ReturnLine.warehouse_id, func.sum(ReturnLine.quantity))
            .join(ReturnRequest, ReturnRequest.id == ReturnLine.return_id)
            .where(ReturnRequest.order_id == order.id, ReturnRequest.status.in_(OPEN_OR_APPROVED))
            .group_by(ReturnLine.order_line_id, ReturnLine.warehouse_id)
        )
    }
    returnable: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for line_id, warehouse_id, units, _first in shipped:
        free = int(units) - claimed.get((line_id, warehouse_id), 0)
        if free > 0:
            returnable[line_id].append((warehouse_id, free))
    return returnable


def decide_return(
    platform: Platform,
    number: str,
    *,
    approve: bool,
    dispositions: Mapping[str, str] | None = None,
    note: str | None = None,
    actor: Actor,
) -> ReturnRequest:
    """Approve (with a disposition per SKU) or reject return *number*.

    Approval restocks or writes off each line, refunds the units and records who decided;
    all in one HQ transaction with the ``return.status_changed`` event.
    """
    target = ReturnStatus.APPROVED if approve else ReturnStatus.REJECTED
    directory = platform.directory()
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        request = find_return(session, number)
        decided = session.execute(
            update(ReturnRequest)
            .where(
                ReturnRequest.id == request.id,
                ReturnRequest.status == ReturnStatus.REQUESTED.value,
            )
            .values(status=target.value, decided_at=now, decided_by=actor.name)
            .returning(ReturnRequest.id)
            .execution_options(synchronize_session=False)
        ).first()
        if decided is None:
            current = session.scalar(
                select(ReturnRequest.status).where(ReturnRequest.id == request.id)
            )
            raise Conflict(
                f"return {number} is {current}; it cannot become {target.value}",
                code="illegal_transition",
                field="status",
                details={"from": current, "to": target.value},
            )
        session.refresh(request)
        order = session.get(Order, request.order_id)
        assert order is not None
        if approve:
            _approve(session, order, request, dispositions or {}, now)
        _event(session, directory, order, request, ReturnStatus.REQUESTED.value, now)
        record_change(
            session,
            at=now,
            site_id=request.site_id,
            actor=actor,
            action=f"return.{'approve' if approve else 'reject'}",
            object_type="return",
            object_id=request.number,
            before={"status": ReturnStatus.REQUESTED.value},
            after={
                "status": target.value,
                "refund": str(from_fen(request.refund_fen)),
                "dispositions": dict(dispositions or {}) if approve else None,
                "note": note,
            },
        )
    return request


def _approve(
    session: Session,
    order: Order,
    request: ReturnRequest,
    dispositions: Mapping[str, str],
    now: datetime,
) -> None:
    rows = session.execute(
        select(ReturnLine, OrderLine)
        .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)
        .where(ReturnLine.return_id == request.id)
        .order_by(ReturnLine.id)
    ).all()
    skus = sorted({line.sku_code for _, line in rows})
    if sorted(dispositions) != skus or any(d not in DISPOSITIONS for d in dispositions.values()):
        raise InvalidInput(
            f"name a disposition ({' or '.join(DISPOSITIONS)}) for each SKU of the return: "
            f"{', '.join(skus)}",
            code="dispositions_mismatch",
            field="dispositions",
            details={"skus": skus},
        )
    # Refunds count the units returned before: lock the order so approvals queue.
    session.execute(
        update(Order)
        .where(Order.id == order.id)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    total = 0
    for return_line, line in rows:
        returned = session.execute(
            update(OrderLine)
            .where(
                OrderLine.id == line.id,
                OrderLine.returned_quantity + return_line.quantity <= OrderLine.shipped_quantity,
            )
            .values(returned_quantity=OrderLine.returned_quantity + return_line.quantity)
            .returning(OrderLine.returned_quantity)
            .execution_options(synchronize_session=False)
        ).scalar()
        if returned is None:
            raise Conflict(
                f"{line.sku_code}: more units would be returned than were shipped",
                code="return_exceeds_shipped",
                field="lines",
                details={"sku": line.sku_code},
            )
        amount = refund_for(
            line.total_fen, line.quantity, returned - return_line.quantity, return_line.quantity
        )
        disposition = dispositions[line.sku_code]
        return_line.disposition = disposition
        return_line.refund_fen = amount
        if disposition == "restock":
            assert return_line.warehouse_id is not None
            stock.restock_return(
                session,
                warehouse_id=return_line.warehouse_id,
                sku_id=line.sku_id,
                quantity=return_line.quantity,
                now=now,
                reference=request.number,
            )
        total += amount
    request.refund_fen = total
    refund(session, order, total, reference=request.number, now=now)


def _event(
    session: Session,
    directory: SiteDirectory,
    order: Order,
    request: ReturnRequest,
    previous: str | None,
    now: datetime,
) -> None:
    dealer = session.scalar(select(Dealer.code).where(Dealer.id == order.dealer_id))
    payload: dict[str, Any] = {
        "number": request.number,
        "order": order.number,
        "dealer": dealer,
        "from": previous,
        "to": request.status,
        "refund": str(from_fen(request.refund_fen)),
        "at": now.isoformat(),
    }
    record_event(
        session,
        type=EventType.RETURN_STATUS_CHANGED,
        site=directory.by_id(order.site_id).code,
        payload=payload,
        now=now,
    )
