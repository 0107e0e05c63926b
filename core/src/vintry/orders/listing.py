"""Orders as HQ's tools read them (``vintry orders``): filtered pages, and one order in full.

No tenancy here: these readers act for HQ, which sees every order. The HTTP routes start
from the one tenant-scoped query, :func:`vintry.orders.api.visible_orders`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vintry.dealers.models import Dealer
from vintry.errors import NotFound
from vintry.inventory.models import Warehouse
from vintry.orders.lifecycle import Timeline, find_order, timeline
from vintry.orders.models import (
    Order,
    OrderAllocation,
    OrderLine,
    OrderStatus,
    Payment,
    ReturnRequest,
)
from vintry.sites.directory import SiteDirectory

MAX_PAGE = 500


@dataclass(frozen=True)
class OrderSummary:
    """One row of an order list."""

    number: str
    site: str
    dealer: str
    status: str
    lines: int
    units: int
    total_fen: int
    placed_at: datetime
    pay_by: datetime | None


@dataclass(frozen=True)
class OrderPage:
    """A page of orders, newest first; ``next_before`` is the ``before`` of the next page
    (``None`` on the last)."""

    items: list[OrderSummary]
    next_before: str | None


def list_orders(
    session: Session,
    directory: SiteDirectory,
    *,
    site: str | None = None,
    dealer: str | None = None,
    status: OrderStatus | None = None,
    before: str | None = None,
    limit: int = 50,
) -> OrderPage:
    """Orders by number, newest first, a page at a time (``before`` the last number seen).

    :param site: only orders of this site and the sites below it (404 ``site_not_found``).
    :param dealer: only this dealer's orders (404 ``dealer_not_found``).
    :param status: only orders in this status.
    :param limit: the page size, 1 to :data:`MAX_PAGE`.
    """
    limit = max(1, min(limit, MAX_PAGE))
    query = select(Order, Dealer.code).join(Dealer, Dealer.id == Order.dealer_id)
    if site is not None:
        query = query.where(Order.site_id.in_([node.id for node in directory.subtree(site)]))
    if dealer is not None:
        dealer_id = session.scalar(select(Dealer.id).where(Dealer.code == dealer))
        if dealer_id is None:
            raise NotFound(
                f"dealer {dealer!r} does not exist", code="dealer_not_found", field="dealer"
            )
        query = query.where(Order.dealer_id == dealer_id)
    if status is not None:
        query = query.where(Order.status == status.value)
    if before is not None:
        query = query.where(Order.number < before)
    rows = session.execute(query.order_by(Order.number.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    sizes: dict[int, tuple[int, int]] = {}
    if rows:
        counted = (
            select(OrderLine.order_id, func.count(), func.sum(OrderLine.quantity))
            .where(OrderLine.order_id.in_([order.id for order, _code in rows]))
            .group_by(OrderLine.order_id)
        )
        for order_id, lines, units in session.execute(counted):
            sizes[order_id] = (lines, int(units))
    items = [
        OrderSummary(
            number=order.number,
            site=directory.by_id(order.site_id).code,
            dealer=code,
            status=order.status,
            lines=sizes.get(order.id, (0, 0))[0],
            units=sizes.get(order.id, (0, 0))[1],
            total_fen=order.total_fen,
            placed_at=order.placed_at,
            pay_by=order.pay_by,
        )
        for order, code in rows
    ]
    return OrderPage(items=items, next_before=items[-1].number if more else None)


@dataclass(frozen=True)
class LineRecord:
    """An order line and the warehouses its units were allocated to (code, units)."""

    line: OrderLine
    allocations: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class OrderRecord:
    """Everything about one order: its lines and allocations, what happened to it (status
    changes, shipments, tracking), its payments and refunds, and its returns."""

    order: Order
    site: str
    dealer: str
    dealer_name: str
    lines: list[LineRecord]
    timeline: Timeline
    payments: list[Payment]
    returns: list[ReturnRequest]


def order_record(session: Session, directory: SiteDirectory, number: str) -> OrderRecord:
    """Order *number* in full (404 ``order_not_found``); a handful of queries whatever its
    size. The objects stay readable after *session* closes."""
    order = find_order(session, number)
    dealer = session.get(Dealer, order.dealer_id)
    assert dealer is not None
    lines = list(
        session.scalars(
            select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.line_no)
        )
    )
    allocations: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for line_id, warehouse, quantity in session.execute(
        select(OrderAllocation.line_id, Warehouse.code, OrderAllocation.quantity)
        .join(Warehouse, Warehouse.id == OrderAllocation.warehouse_id)
        .where(OrderAllocation.order_id == order.id)
        .order_by(OrderAllocation.id)
    ):
        allocations[line_id].append((warehouse, quantity))
    payments = list(
        session.scalars(select(Payment).where(Payment.order_id == order.id).order_by(Payment.id))
    )
    returns = list(
        session.scalars(
            select(ReturnRequest)
            .where(ReturnRequest.order_id == order.id)
            .order_by(ReturnRequest.id)
        )
    )
    return OrderRecord(
        order=order,
        site=directory.by_id(order.site_id).code,
        dealer=dealer.code,
        dealer_name=dealer.name,
        lines=[LineRecord(line, allocations[line.id]) for line in lines],
        timeline=timeline(session, order),
        payments=payments,
        returns=returns,
    )
