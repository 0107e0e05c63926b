"""Server-side behaviour events, recorded from the kernel's order and return events.

``vintry_handle_event`` receives ``order.placed``, ``order.status_changed`` and
``return.status_changed`` (from the relay, at least once, only on sites where the plugin is
enabled). The payload names the order or return; its current state is read from HQ through
the kernel's models and turned into rows of ``analytics_events``, one per order line where
a SKU matters. Every row's ``uid`` is ``s:<event id>:<type>:<line>``, so a redelivered event
adds nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from vintry.dealers.models import Dealer
from vintry.orders.models import Order, OrderLine, ReturnLine, ReturnRequest
from vintry.platform import Platform
from vintry_sdk import Event, SiteContext

from vintry_analytics.insights import campaigns_of
from vintry_analytics.models import BehaviourEvent
from vintry_analytics.storage import epoch_ms, insert_ignoring_duplicates
from vintry_analytics.vocabulary import EventType

HANDLED = frozenset({"order.placed", "order.status_changed", "return.status_changed"})
_STATUS_EVENTS = {
    "paid": EventType.ORDER_PAID,
    "shipped": EventType.ORDER_SHIPPED,
    "delivered": EventType.ORDER_DELIVERED,
    "cancelled": EventType.ORDER_CANCELLED,
}
_RETURN_EVENTS = {"requested": EventType.RETURN_REQUESTED, "approved": EventType.RETURN_APPROVED}


def _row(
    event: Event,
    type_: EventType,
    index: int,
    *,
    dealer: str,
    occurred_ms: int,
    sku: str | None = None,
    quantity: int | None = None,
    amount_fen: int | None = None,
    reference: str | None = None,
    properties: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "uid": f"s:{event.id}:{type_.value}:{index}",
        "dealer": dealer,
        "session": None,
        "type": type_.value,
        "sku": sku,
        "occurred_ms": occurred_ms,
        "received_at": event.occurred_at,
        "source": "server",
        "dwell_ms": None,
        "quantity": quantity,
        "amount_fen": amount_fen,
        "reference": reference,
        "properties": properties or {},
    }


def rows_for(platform: Platform, event: Event) -> list[dict[str, Any]]:
    """The analytics rows *event* stands for, read from HQ's current state."""
    if event.type == "return.status_changed":
        return _return_rows(platform, event)
    number = event.payload.get("number")
    if not isinstance(number, str):
        return []
    with platform.hq.reading() as session:
        found = session.execute(
            select(Order, Dealer.code)
            .join(Dealer, Dealer.id == Order.dealer_id)
            .where(Order.number == number)
        ).first()
        if found is None:
            return []
        order, dealer = found
        lines = list(
            session.scalars(
                select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.line_no)
            )
        )
    if event.type == "order.placed":
        moment = epoch_ms(order.placed_at)
        rows = [
            _row(
                event,
                EventType.ORDER_PLACED,
                line.line_no,
                dealer=dealer,
                occurred_ms=moment,
                sku=line.sku_code,
                quantity=line.quantity,
                amount_fen=line.total_fen,
                reference=order.number,
            )
            for line in lines
        ]
        rows.extend(
            _row(
                event,
                EventType.CAMPAIGN_ORDER,
                index,
                dealer=dealer,
                occurred_ms=moment,
                amount_fen=order.total_fen,
                reference=campaign,
                properties={"order": order.number},
            )
            for index, campaign in enumerate(sorted(campaigns_of(order.pricing)))
        )
        return rows
    target = _STATUS_EVENTS.get(str(event.payload.get("to")))
    if target is None:
        return []
    moment = epoch_ms(event.occurred_at)
    if target is EventType.ORDER_DELIVERED:
        return [
            _row(
                event,
                target,
                line.line_no,
                dealer=dealer,
                occurred_ms=moment,
                sku=line.sku_code,
                quantity=line.shipped_quantity,
                reference=order.number,
            )
            for line in lines
            if line.shipped_quantity
        ]
    return [
        _row(
            event,
            target,
            0,
            dealer=dealer,
            occurred_ms=moment,
            amount_fen=order.total_fen,
            reference=order.number,
        )
    ]


def _return_rows(platform: Platform, event: Event) -> list[dict[str, Any]]:
    number = event.payload.get("number")
    target = _RETURN_EVENTS.get(str(event.payload.get("to")))
    if not isinstance(number, str) or target is None:
        return []
    with platform.hq.reading() as session:
        found = session.execute(
            select(ReturnRequest, Dealer.code)
            .join(Dealer, Dealer.id == ReturnRequest.dealer_id)
            .where(ReturnRequest.number == number)
        ).first()
        if found is None:
            return []
        request, dealer = found
        lines = session.execute(
            select(ReturnLine.id, ReturnLine.quantity, OrderLine.sku_code)
            .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)
            .where(ReturnLine.return_id == request.id)
            .order_by(ReturnLine.id)
        ).all()
    moment = epoch_ms(
        request.requested_at if target is EventType.RETURN_REQUESTED else event.occurred_at
    )
    return [
        _row(
            event,
            target,
            index,
            dealer=dealer,
            occurred_ms=moment,
            sku=sku,
            quantity=quantity,
            reference=request.number,
            properties={"reason": request.reason_code},
        )
        for index, (_, quantity, sku) in enumerate(lines)
    ]


def record_server_event(event: Event, site: SiteContext) -> int:
    """Store the rows of *event* in *site*'s database; return how many were new."""
    if event.type not in HANDLED:
        return 0
    rows = rows_for(site.platform, event)
    if not rows:
        return 0
    with site.database.transaction() as session:
        return insert_ignoring_duplicates(session, BehaviourEvent, rows, ["uid"])
