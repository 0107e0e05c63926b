"""The order state machine after placement: payment, cancellation, expiry, shipments and
tracking to the dealer's door.

::

    placed ─pay─▶ paid ─ship part─▶ partially_shipped ─ship rest─▶ shipped ─signed─▶ delivered
      │            │  └──────────────ship everything──────────────────▲
      └─cancel─────┴─▶ cancelled     (an unpaid order past pay_by: cancelled, "expired")

Every change of an order first *locks its row* with a conditional update on (id, the
statuses the change may start from) — ``UPDATE orders SET updated_at = :now WHERE id = :id
AND status IN (...) RETURNING status`` — so concurrent changes of one order queue on the row
and each sees what the one before it did; a change the current status does not allow is
refused with 409 ``illegal_transition`` naming from and to. The status itself then moves
with a second conditional update on (id, the status locked), and the
``order.status_changed`` outbox event is written in the same transaction. Changes made by
HQ staff are also recorded in the audit log; a dealer's own payments and cancellations are
not (the outbox and the payments table record them).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from vintry.accounts.principal import Actor
from vintry.audit.service import record_change
from vintry.builtin.sourcing import distance_km
from vintry.contracts import (
    Carrier,
    DealerView,
    OrderLineView,
    OrderView,
    PaymentResult,
    ServiceLevel,
    ShipmentProgress,
    TrackingNodeView,
)
from vintry.dealers.models import Dealer
from vintry.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable, VintryError
from vintry.events.outbox import EventType, record_event
from vintry.inventory import stock
from vintry.inventory.models import Reservation, ReservationStatus, Warehouse
from vintry.money import from_fen
from vintry.orders.models import (
    Order,
    OrderAllocation,
    OrderLine,
    OrderStatus,
    Payment,
    Shipment,
    ShipmentLine,
    TrackingEvent,
)
from vintry.orders.placement import new_order_number
from vintry.platform import Platform, SiteContext
from vintry.sites.directory import SiteDirectory

log = logging.getLogger("vintry.orders")

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PLACED: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED}),
    OrderStatus.PAID: frozenset(
        {OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED, OrderStatus.CANCELLED}
    ),
    OrderStatus.PARTIALLY_SHIPPED: frozenset({OrderStatus.SHIPPED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.DELIVERED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}
"""Every legal move of an order's status; anything else is 409 ``illegal_transition``."""

DEALER_CANCELS_FROM = frozenset({OrderStatus.PLACED})
"""A dealer cancels only what it has not paid; a paid order is cancelled (and refunded) by HQ."""
HQ_CANCELS_FROM = frozenset({OrderStatus.PLACED, OrderStatus.PAID})

TRACKING_NODES = ("left_warehouse", "in_transfer", "out_for_delivery", "signed_for")
"""Logistics nodes in the order a shipment passes them; ``left_warehouse`` is recorded when
the shipment is created, the others are reported. A node may repeat (several transfer hubs,
a second delivery attempt) but never go back, and nothing follows ``signed_for``."""
SIGNED_FOR = "signed_for"
KM_PER_DAY = 500
MIN_TRANSIT_DAYS = 1
"""The arrival rule when a shipment's carrier is gone or fails: distance at ``KM_PER_DAY``,
rounded up to whole days, at least ``MIN_TRANSIT_DAYS``."""
DEFAULT_CARRIER = "simulated"
"""The built-in carrier (``vintry.builtin.carrier``), used when a shipment names none."""


# --- errors ----------------------------------------------------------------------------


class IllegalTransition(Conflict):
    """The order's current status does not allow the change asked for."""

    code = "illegal_transition"

    def __init__(self, number: str, current: str, target: str, note: str = "") -> None:
        super().__init__(
            f"order {number} is {current}; it cannot become {target}{note}",
            field="status",
            details={"from": current, "to": target},
        )


class OrderExpired(Conflict):
    """The order was not paid before its ``pay_by``; its stock is no longer held for it."""

    code = "order_expired"


class PaymentDeclined(VintryError):
    """A payment provider refused the payment; ``code`` is the provider's reason."""

    status_code = 402
    code = "payment_declined"


# --- the payment in progress ------------------------------------------------------------


@dataclass(frozen=True)
class PaymentContext:
    """The payment being authorised: its HQ transaction and time."""

    session: Session
    now: datetime
    order_number: str


_current_payment: ContextVar[PaymentContext | None] = ContextVar(
    "vintry_current_payment", default=None
)


def current_payment() -> PaymentContext:
    """The payment ``vintry_authorize_payment`` is being called for.

    A provider whose books live in HQ (the built-in dealer credit) writes them through
    ``current_payment().session``, so they commit — or roll back — with the order's payment.
    """
    context = _current_payment.get()
    if context is None:
        raise RuntimeError("current_payment() is only available inside vintry_authorize_payment")
    return context


# --- the state machine ---------------------------------------------------------------------


def find_order(session: Session, number: str) -> Order:
    """The order numbered *number*; 404 ``order_not_found`` if there is none."""
    order = session.scalar(select(Order).where(Order.number == number))
    if order is None:
        raise NotFound(f"order {number!r} does not exist", code="order_not_found", field="number")
    return order


def lock_order(
    session: Session,
    order: Order,
    allowed: Collection[OrderStatus],
    target: OrderStatus | str,
    now: datetime,
) -> OrderStatus:
    """Lock *order*'s row if its status is one of *allowed*; return that status.

    Refused with :class:`IllegalTransition` (from the current status to *target*) otherwise.
    On PostgreSQL a concurrent change of the same order waits here for this transaction.
    """
    row = session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status.in_([s.value for s in allowed]))
        .values(updated_at=now)
        .returning(Order.status)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        current = session.scalar(select(Order.status).where(Order.id == order.id))
        raise IllegalTransition(order.number, str(current), str(target))
    return OrderStatus(row[0])


def change_status(
    session: Session,
    directory: SiteDirectory,
    order: Order,
    current: OrderStatus,
    target: OrderStatus,
    now: datetime,
    *,
    reason: str | None = None,
    **values: Any,
) -> None:
    """Move *order* from *current* to *target* (one conditional update) and write the
    ``order.status_changed`` event in the same transaction."""
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(order.number, current.value, target.value)
    result = session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status == current.value)
        .values(status=target.value, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        actual = session.scalar(select(Order.status).where(Order.id == order.id))
        raise IllegalTransition(order.number, str(actual), target.value)
    session.refresh(order)
    dealer = session.scalar(select(Dealer.code).where(Dealer.id == order.dealer_id))
    payload: dict[str, Any] = {
        "number": order.number,
        "dealer": dealer,
        "from": current.value,
        "to": target.value,
        "at": now.isoformat(),
    }
    if reason is not None:
        payload["reason"] = reason
    record_event(
        session,
        type=EventType.ORDER_STATUS_CHANGED,
        site=directory.by_id(order.site_id).code,
        payload=payload,
        now=now,
    )


def _audit(
    session: Session,
    actor: Actor | None,
    now: datetime,
    order: Order,
    action: str,
    *,
    object_type: str = "order",
    object_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    if actor is None:
        return
    record_change(
        session,
        at=now,
        site_id=order.site_id,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id or order.number,
        before=before,
        after=after,
    )


# --- payment and refunds -------------------------------------------------------------------


def order_view(session: Session, directory: SiteDirectory, order: Order) -> OrderView:
    """*order* as payment providers see it."""
    dealer = session.get(Dealer, order.dealer_id)
    assert dealer is not None
    site = directory.by_id(order.site_id).code
    lines = session.scalars(
        select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.line_no)
    )
    return OrderView(
        number=order.number,
        site=site,
        dealer=DealerView(
            code=dealer.code,
            name=dealer.name,
            tier=dealer.tier.value,
            tags=tuple(dealer.tags),
            site=directory.by_id(dealer.site_id).code,
        ),
        status=order.status,
        total=from_fen(order.total_fen),
        placed_at=order.placed_at,
        pay_by=order.pay_by,
        lines=tuple(
            OrderLineView(
                line_no=line.line_no,
                sku=line.sku_code,
                name=line.name,
                quantity=line.quantity,
                unit_price=from_fen(line.unit_fen),
                total=from_fen(line.total_fen),
            )
            for line in lines
        ),
    )


def pay(platform: Platform, number: str, *, method: str, actor: Actor | None = None) -> Payment:
    """Pay order *number* by *method* through the payment providers of its site.

    One HQ transaction: lock the order (``placed`` only), refuse it past ``pay_by``, keep
    its holds for good (they no longer expire), ask the providers, then write the payment,
    the status and the event. A refusal rolls all of it back.
    """
    directory, state = platform.refresh()
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        order = find_order(session, number)
        lock_order(session, order, {OrderStatus.PLACED}, OrderStatus.PAID, now)
        if order.pay_by is not None and order.pay_by <= now:
            raise _expired(order)
        _keep_holds(session, order)
        site = platform.site(directory.by_id(order.site_id).code, directory, state)
        view = order_view(session, directory, order)
        result = authorize_payment(site, view, method, PaymentContext(session, now, number))
        payment = Payment(
            order_id=order.id,
            method=method,
            provider=result.provider,
            amount_fen=order.total_fen,
            reference=result.reference,
            created_at=now,
        )
        session.add(payment)
        change_status(
            session, directory, order, OrderStatus.PLACED, OrderStatus.PAID, now, paid_at=now
        )
        _audit(session, actor, now, order, "order.pay", after={"method": method})
    return payment


def _expired(order: Order) -> OrderExpired:
    return OrderExpired(
        f"order {order.number} had to be paid by {order.pay_by}; its stock is no longer held",
        field="number",
        details={"pay_by": order.pay_by.isoformat() if order.pay_by else None},
    )


def _keep_holds(session: Session, order: Order) -> None:
    """Make a paid order's holds permanent; refuse the payment if one ran out already."""
    reservation_ids = select(OrderAllocation.reservation_id).where(
        OrderAllocation.order_id == order.id
    )
    wanted = session.scalar(
        select(func.count(func.distinct(OrderAllocation.reservation_id))).where(
            OrderAllocation.order_id == order.id
        )
    )
    kept = session.execute(
        update(Reservation)
        .where(
            Reservation.id.in_(reservation_ids),
            Reservation.status == ReservationStatus.HELD.value,
        )
        .values(expires_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if kept != wanted:
        raise _expired(order)


def authorize_payment(
    site: SiteContext, order: OrderView, method: str, context: PaymentContext
) -> PaymentResult:
    """Ask the providers enabled on *site* to take the payment (first result wins).

    Raises 422 ``payment_method_unsupported`` when none handles *method*, 402 with the
    provider's reason when it refuses, 503 ``payment_provider_failed`` when one crashes.
    """
    token = _current_payment.set(context)
    try:
        result = site.hooks.vintry_authorize_payment(order=order, method=method)
    except VintryError:
        raise
    except Exception as error:
        log.exception("a payment provider failed on order %s (%s)", order.number, method)
        raise ServiceUnavailable(
            f"the payment provider failed: {type(error).__name__}: {error}",
            code="payment_provider_failed",
        ) from error
    finally:
        _current_payment.reset(token)
    if result is None:
        raise InvalidInput(
            f"no payment provider handles method {method!r} at site {site.code!r}",
            code="payment_method_unsupported",
            field="method",
        )
    if not isinstance(result, PaymentResult):
        raise ServiceUnavailable(
            f"a payment provider answered {type(result).__name__}, not a PaymentResult",
            code="payment_provider_failed",
        )
    if not result.approved:
        raise PaymentDeclined(
            result.message or f"{result.provider} declined the payment",
            code=result.reason or PaymentDeclined.code,
            field="method",
            details={"provider": result.provider, **result.details},
        )
    return result


def refund(
    session: Session, order: Order, amount_fen: int, *, reference: str, now: datetime
) -> Payment | None:
    """Pay *amount_fen* back to the dealer: a negative payment through the provider that
    took the order's payment, and the dealer's credit restored if it paid on credit."""
    if amount_fen <= 0:
        return None
    paid = session.scalar(
        select(Payment)
        .where(Payment.order_id == order.id, Payment.amount_fen > 0)
        .order_by(Payment.id)
        .limit(1)
    )
    if paid is None:
        return None
    # Imported here: the built-in plugin imports this module for current_payment().
    from vintry.builtin import dealer_credit

    payment = Payment(
        order_id=order.id,
        method=paid.method,
        provider=paid.provider,
        amount_fen=-amount_fen,
        reference=reference,
        created_at=now,
    )
    session.add(payment)
    if paid.provider == dealer_credit.PROVIDER:
        dealer_credit.restore(session, order.dealer_id, amount_fen, now)
    return payment


# --- cancellation and expiry --------------------------------------------------------------


def cancel(
    platform: Platform,
    number: str,
    *,
    reason: str,
    allowed_from: Collection[OrderStatus] = HQ_CANCELS_FROM,
    actor: Actor | None = None,
) -> Order:
    """Cancel order *number*: every hold it still has is released, a paid order refunded."""
    directory = platform.directory()
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        order = find_order(session, number)
        try:
            current = lock_order(session, order, allowed_from, OrderStatus.CANCELLED, now)
        except IllegalTransition as refused:
            if refused.details["from"] == OrderStatus.PAID.value:
                refused.message += " (a paid order is cancelled by HQ, which refunds it)"
                refused.args = (refused.message,)
            raise
        stock.release(session, reference=order.number, now=now)
        if current is OrderStatus.PAID:
            net = session.scalar(
                select(func.coalesce(func.sum(Payment.amount_fen), 0)).where(
                    Payment.order_id == order.id
                )
            )
            refund(session, order, int(net or 0), reference=f"cancel:{number}", now=now)
        change_status(
            session,
            directory,
            order,
            current,
            OrderStatus.CANCELLED,
            now,
            reason=reason,
            cancelled_at=now,
            cancel_reason=reason,
        )
        _audit(
            session,
            actor,
            now,
            order,
            "order.cancel",
            before={"status": current.value},
            after={"status": OrderStatus.CANCELLED.value, "reason": reason},
        )
    return order


def expire_unpaid(
    platform: Platform, *, site_ids: Collection[int] | None = None, limit: int = 500
) -> list[str]:
    """The sweeper: cancel (reason ``expired``) unpaid orders past their ``pay_by``,
    releasing their holds; returns their numbers. Each order is its own transaction, and
    the conditional update on (id, ``placed``, ``pay_by``) lets a payment that got there
    first win."""
    directory = platform.directory()
    now = platform.clock.now()
    query = select(Order.id).where(Order.status == OrderStatus.PLACED.value, Order.pay_by <= now)
    if site_ids is not None:
        query = query.where(Order.site_id.in_(list(site_ids)))
    with platform.hq.reading() as session:
        ids = list(session.scalars(query.order_by(Order.pay_by, Order.id).limit(limit)))
    expired: list[str] = []
    for order_id in ids:
        with platform.hq.transaction() as session:
            locked = session.execute(
                update(Order)
                .where(
                    Order.id == order_id,
                    Order.status == OrderStatus.PLACED.value,
                    Order.pay_by <= now,
                )
                .values(updated_at=now)
                .returning(Order.id)
                .execution_options(synchronize_session=False)
            ).first()
            if locked is None:
                continue  # paid or cancelled in the meantime
            order = session.get(Order, order_id)
            assert order is not None
            stock.release(session, reference=order.number, now=now)
            change_status(
                session,
                directory,
                order,
                OrderStatus.PLACED,
                OrderStatus.CANCELLED,
                now,
                reason="expired",
                cancelled_at=now,
                cancel_reason="expired",
            )
            expired.append(order.number)
    return expired


# --- fulfilment --------------------------------------------------------------------------


@dataclass
class _Pending:
    """An allocation whose units are still held (not shipped yet)."""

    allocation: OrderAllocation
    sku: str
    sku_id: int


def ship(
    platform: Platform,
    number: str,
    *,
    warehouse: str,
    lines: Sequence[tuple[str, int]],
    carrier: str | None = None,
    service_level: str | None = None,
    actor: Actor | None = None,
) -> Shipment:
    """Ship *lines* (SKU, units) of order *number* from *warehouse*, all in one HQ
    transaction: the held units leave stock, a shipment with its lines and its first
    tracking node (``left_warehouse``) is written with the carrier's arrival estimate, a
    ``shipment.status_changed`` event goes to the outbox, and the order becomes
    ``partially_shipped`` or ``shipped``.

    Units ship from the order's own allocations at that warehouse. Shipping part of an
    allocation splits it: the order's holds are released and held again — the units
    shipping now on one reservation, the rest on another — in the same transaction, so the
    units never become available to anyone else in between.
    """
    directory = platform.directory()
    service = choose_carrier(platform, carrier, service_level)
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        order = find_order(session, number)
        current = lock_order(
            session,
            order,
            {OrderStatus.PAID, OrderStatus.PARTIALLY_SHIPPED},
            OrderStatus.SHIPPED,
            now,
        )
        origin = session.scalar(select(Warehouse).where(Warehouse.code == warehouse))
        if origin is None:
            raise InvalidInput(
                f"warehouse {warehouse!r} does not exist",
                code="unknown_warehouse",
                field="warehouse",
            )
        shipment, _current = _ship_from(
            session, platform, directory, order, current, origin, lines, service, now, actor
        )
    return shipment


def dispatch(
    platform: Platform,
    number: str,
    *,
    carrier: str | None = None,
    service_level: str | None = None,
    actor: Actor | None = None,
) -> list[Shipment]:
    """Ship everything order *number* still has to ship, **one shipment per warehouse** of
    its allocations, in one HQ transaction (see :func:`ship` for each)."""
    directory = platform.directory()
    service = choose_carrier(platform, carrier, service_level)
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        order = find_order(session, number)
        current = lock_order(
            session,
            order,
            {OrderStatus.PAID, OrderStatus.PARTIALLY_SHIPPED},
            OrderStatus.SHIPPED,
            now,
        )
        by_warehouse: dict[int, dict[str, int]] = {}
        for pending in _pending_allocations(session, order):
            units = by_warehouse.setdefault(pending.allocation.warehouse_id, {})
            units[pending.sku] = units.get(pending.sku, 0) + pending.allocation.quantity
        if not by_warehouse:
            raise Conflict(
                f"order {order.number} has nothing left to ship",
                code="nothing_to_ship",
                field="number",
            )
        origins = {
            w.id: w
            for w in session.scalars(select(Warehouse).where(Warehouse.id.in_(by_warehouse)))
        }
        shipments = []
        for warehouse_id in sorted(by_warehouse, key=lambda i: origins[i].code):
            shipment, current = _ship_from(
                session,
                platform,
                directory,
                order,
                current,
                origins[warehouse_id],
                sorted(by_warehouse[warehouse_id].items()),
                service,
                now,
                actor,
            )
            shipments.append(shipment)
    return shipments


@dataclass(frozen=True)
class CarrierService:
    """The carrier and service level a shipment travels with."""

    carrier: Carrier
    level: ServiceLevel


def choose_carrier(
    platform: Platform, name: str | None, service_level: str | None
) -> CarrierService:
    """Carrier *name* (default :data:`DEFAULT_CARRIER`) with *service_level* (default: its
    first); 422 ``unknown_carrier`` / ``unknown_service_level`` otherwise."""
    carriers = platform.plugins.carriers()
    found = carriers.get(name or DEFAULT_CARRIER)
    if found is None:
        raise InvalidInput(
            f"carrier {name or DEFAULT_CARRIER!r} is not registered "
            f"(known: {', '.join(sorted(carriers)) or 'none'})",
            code="unknown_carrier",
            field="carrier",
        )
    carrier = found[1]
    level = carrier.service_level(service_level)
    if level is None:
        raise InvalidInput(
            f"carrier {carrier.name!r} has no service level {service_level!r} "
            f"(known: {', '.join(lvl.name for lvl in carrier.service_levels)})",
            code="unknown_service_level",
            field="service_level",
        )
    return CarrierService(carrier, level)


def _ship_from(
    session: Session,
    platform: Platform,
    directory: SiteDirectory,
    order: Order,
    current: OrderStatus,
    origin: Warehouse,
    lines: Sequence[tuple[str, int]],
    service: CarrierService,
    now: datetime,
    actor: Actor | None,
) -> tuple[Shipment, OrderStatus]:
    pending = _pending_allocations(session, order)
    wanted = _check_shipment(order, origin, pending, lines)
    shipped_allocations = _ship_units(session, order, origin.id, pending, wanted, now)
    km = distance_to_order(session, directory, order, origin)
    shipment = Shipment(
        number="VS" + new_order_number(int(now.timestamp() * 1000))[2:],
        order_id=order.id,
        warehouse_id=origin.id,
        status=TRACKING_NODES[0],
        shipped_at=now,
        estimated_arrival=None,
        delivered_at=None,
        carrier=service.carrier.name,
        service_level=service.level.name,
        distance_km=round(km, 1),
    )
    session.add(shipment)
    session.flush()
    session.add_all(
        ShipmentLine(
            shipment_id=shipment.id,
            order_line_id=allocation.line_id,
            allocation_id=allocation.id,
            quantity=allocation.quantity,
        )
        for allocation in shipped_allocations
    )
    first = TrackingEvent(
        shipment_id=shipment.id, at=now, node=TRACKING_NODES[0], location=origin.city, note=None
    )
    session.add(first)
    _estimate(platform, order.number, origin.code, shipment, [first])
    for allocation in shipped_allocations:
        session.execute(
            update(OrderLine)
            .where(OrderLine.id == allocation.line_id)
            .values(shipped_quantity=OrderLine.shipped_quantity + allocation.quantity)
            .execution_options(synchronize_session=False)
        )
    ordered, shipped = session.execute(
        select(func.sum(OrderLine.quantity), func.sum(OrderLine.shipped_quantity)).where(
            OrderLine.order_id == order.id
        )
    ).one()
    target = OrderStatus.SHIPPED if shipped == ordered else OrderStatus.PARTIALLY_SHIPPED
    site = directory.by_id(order.site_id).code
    _shipment_event(session, site, order.number, shipment, first, now)
    if target is not current:
        change_status(session, directory, order, current, target, now)
    _audit(
        session,
        actor,
        now,
        order,
        "order.ship",
        object_type="shipment",
        object_id=shipment.number,
        after={
            "order": order.number,
            "warehouse": origin.code,
            "carrier": service.carrier.name,
            "service_level": service.level.name,
            "lines": {sku: units for sku, units in sorted(wanted.items())},
        },
    )
    return shipment, target


def shipment_state(shipment: Shipment) -> str:
    """``in_transit`` until signed for, then ``delivered`` (units not shipped yet are
    ``awaiting_shipment`` on the timeline)."""
    return "delivered" if shipment.status == SIGNED_FOR else "in_transit"


def _shipment_event(
    session: Session,
    site: str,
    number: str,
    shipment: Shipment,
    node: TrackingEvent,
    now: datetime,
) -> None:
    record_event(
        session,
        type=EventType.SHIPMENT_STATUS_CHANGED,
        site=site,
        payload={
            "number": number,
            "shipment": shipment.number,
            "node": node.node,
            "state": shipment_state(shipment),
            "at": node.at.isoformat(),
            "location": node.location,
            "carrier": shipment.carrier,
            "estimated_arrival": (
                shipment.estimated_arrival.isoformat() if shipment.estimated_arrival else None
            ),
        },
        now=now,
    )


def _estimate(
    platform: Platform,
    order_number: str,
    origin_code: str,
    shipment: Shipment,
    nodes: Sequence[TrackingEvent],
) -> None:
    """Recompute the shipment's arrival from its carrier after its latest node (*nodes*,
    oldest first), and keep the estimate on that node too. A carrier that is gone or
    fails leaves the distance rule (:data:`KM_PER_DAY`) in charge."""
    last = nodes[-1]
    progress = ShipmentProgress(
        shipment=shipment.number,
        order=order_number,
        carrier=shipment.carrier or DEFAULT_CARRIER,
        service_level=shipment.service_level or "",
        origin=origin_code,
        distance_km=shipment.distance_km or 0.0,
        shipped_at=shipment.shipped_at,
        nodes=tuple(TrackingNodeView(node=n.node, at=n.at, location=n.location) for n in nodes),
    )
    found = platform.plugins.carriers().get(progress.carrier)
    eta: datetime | None = None
    if found is not None:
        try:
            eta = found[1].estimate_arrival(progress)
        except Exception:
            log.exception(
                "carrier %s failed to estimate shipment %s", progress.carrier, shipment.number
            )
            platform.plugin_faults[found[0]] += 1
    if eta is None or eta.tzinfo is None:
        days = max(MIN_TRANSIT_DAYS, math.ceil(progress.distance_km / KM_PER_DAY))
        eta = shipment.shipped_at + timedelta(days=days)
    if last.node == SIGNED_FOR:
        eta = last.at
    shipment.estimated_arrival = max(eta, last.at)
    last.estimated_arrival = shipment.estimated_arrival


def _pending_allocations(session: Session, order: Order) -> list[_Pending]:
    rows = session.execute(
        select(OrderAllocation, OrderLine.sku_code, OrderLine.sku_id)
        .join(OrderLine, OrderLine.id == OrderAllocation.line_id)
        .join(Reservation, Reservation.id == OrderAllocation.reservation_id)
        .where(
            OrderAllocation.order_id == order.id,
            Reservation.status == ReservationStatus.HELD.value,
        )
        .order_by(OrderAllocation.id)
    ).all()
    return [_Pending(allocation, sku, sku_id) for allocation, sku, sku_id in rows]


def _check_shipment(
    order: Order,
    origin: Warehouse,
    pending: list[_Pending],
    lines: Sequence[tuple[str, int]],
) -> dict[str, int]:
    wanted: dict[str, int] = {}
    for sku, units in lines:
        if sku in wanted:
            raise InvalidInput(
                f"{sku} appears twice in the shipment", code="duplicate_sku", field="lines"
            )
        if units <= 0:
            raise InvalidInput(
                "a shipment line ships at least one unit", code="invalid_quantity", field="lines"
            )
        wanted[sku] = units
    if not wanted:
        raise InvalidInput(
            "a shipment ships at least one line", code="invalid_quantity", field="lines"
        )
    here = {p.sku: p.allocation.quantity for p in pending if p.allocation.warehouse_id == origin.id}
    for sku, units in wanted.items():
        if units > here.get(sku, 0):
            raise Conflict(
                f"order {order.number} has {here.get(sku, 0)} unit(s) of {sku} left to ship "
                f"from {origin.code}, not {units}",
                code="nothing_to_ship",
                field="lines",
                details={
                    "sku": sku,
                    "warehouse": origin.code,
                    "requested": units,
                    "pending": here.get(sku, 0),
                },
            )
    return wanted


def _ship_units(
    session: Session,
    order: Order,
    origin_id: int,
    pending: list[_Pending],
    wanted: dict[str, int],
    now: datetime,
) -> list[OrderAllocation]:
    """Ship the wanted units; returns the allocations that shipped (split where needed)."""
    chosen = [p for p in pending if p.allocation.warehouse_id == origin_id and p.sku in wanted]
    if all(wanted[p.sku] == p.allocation.quantity for p in chosen):
        stock.ship(session, reservation_ids=[p.allocation.reservation_id for p in chosen], now=now)
        return [p.allocation for p in chosen]
    # A split: expire others' stale holds on these rows first, so that the re-hold below
    # takes its row locks in the same order as a placement would (no deadlock with one).
    keys = [(p.allocation.warehouse_id, p.sku_id) for p in pending]
    stock.release_expired(session, keys, now)
    stock.release(session, reference=order.number, now=now)
    shipping = {(p.allocation.warehouse_id, p.sku_id): wanted[p.sku] for p in chosen}
    rest = {
        (p.allocation.warehouse_id, p.sku_id): p.allocation.quantity
        - shipping.get((p.allocation.warehouse_id, p.sku_id), 0)
        for p in pending
    }
    rest = {key: units for key, units in rest.items() if units > 0}
    ship_ids = _hold(session, order.number, shipping, now)
    rest_ids = _hold(session, order.number, rest, now) if rest else {}
    stock.ship(session, reservation_ids=list(ship_ids.values()), now=now)
    shipped: list[OrderAllocation] = []
    for p in pending:
        key = (p.allocation.warehouse_id, p.sku_id)
        allocation = p.allocation
        if key in shipping:
            left = allocation.quantity - shipping[key]
            allocation.quantity = shipping[key]
            allocation.reservation_id = ship_ids[key]
            shipped.append(allocation)
            if left:
                session.add(
                    OrderAllocation(
                        order_id=order.id,
                        line_id=allocation.line_id,
                        warehouse_id=allocation.warehouse_id,
                        quantity=left,
                        reservation_id=rest_ids[key],
                    )
                )
        else:
            allocation.reservation_id = rest_ids[key]
    session.flush()
    return shipped


def _hold(
    session: Session, reference: str, units: dict[tuple[int, int], int], now: datetime
) -> dict[tuple[int, int], int]:
    holds = [stock.Hold(w, s, q) for (w, s), q in units.items()]
    ids = stock.reserve(session, reference=reference, holds=holds, now=now, expires_at=None)
    return dict(zip(sorted(units), ids, strict=True))


def distance_to_order(
    session: Session, directory: SiteDirectory, order: Order, origin: Warehouse
) -> float:
    """Great-circle kilometres from *origin* to the order's region, measured to the region's
    first warehouse by priority (where its dealers collect); 0 when the region has none."""
    region_id = next(
        (
            node.id
            for node in reversed(directory.path(directory.by_id(order.site_id).code))
            if node.kind.value == "region"
        ),
        None,
    )
    destination = None
    if region_id is not None:
        destination = session.execute(
            select(Warehouse.latitude, Warehouse.longitude)
            .where(Warehouse.region_site_id == region_id, Warehouse.active.is_(True))
            .order_by(Warehouse.priority, Warehouse.id)
            .limit(1)
        ).first()
    if destination is None:
        return 0.0
    return distance_km((origin.latitude, origin.longitude), (destination[0], destination[1]))


def track(
    platform: Platform,
    number: str,
    shipment_number: str,
    *,
    node: str,
    location: str | None = None,
    note: str | None = None,
    at: datetime | None = None,
    actor: Actor | None = None,
) -> TrackingEvent:
    """Record that a shipment of order *number* passed *node* (at *at*, default now): the
    carrier's arrival estimate is recomputed, a ``shipment.status_changed`` event written,
    and when every shipment of a fully shipped order is signed for, the order is
    ``delivered``."""
    if node not in TRACKING_NODES[1:]:
        raise InvalidInput(
            f"node must be one of {', '.join(TRACKING_NODES[1:])}",
            code="invalid_node",
            field="node",
        )
    directory = platform.directory()
    now = platform.clock.now()
    when = min(at, now) if at is not None else now
    with platform.hq.transaction() as session:
        order = find_order(session, number)
        current = lock_order(
            session,
            order,
            {OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED, OrderStatus.DELIVERED},
            OrderStatus.DELIVERED,
            now,
        )
        shipment = session.scalar(
            select(Shipment).where(
                Shipment.number == shipment_number, Shipment.order_id == order.id
            )
        )
        if shipment is None:
            raise NotFound(
                f"shipment {shipment_number!r} of order {number} does not exist",
                code="shipment_not_found",
                field="shipment",
            )
        rank = TRACKING_NODES.index(shipment.status) if shipment.status in TRACKING_NODES else 0
        if shipment.status == SIGNED_FOR or TRACKING_NODES.index(node) < rank:
            raise Conflict(
                f"shipment {shipment.number} is at {shipment.status}; it cannot go to {node}",
                code="illegal_tracking_node",
                field="node",
                details={"from": shipment.status, "to": node},
            )
        history = list(
            session.scalars(
                select(TrackingEvent)
                .where(TrackingEvent.shipment_id == shipment.id)
                .order_by(TrackingEvent.at, TrackingEvent.id)
            )
        )
        when = max(when, history[-1].at) if history else when
        event = TrackingEvent(
            shipment_id=shipment.id, at=when, node=node, location=location, note=note
        )
        session.add(event)
        shipment.status = node
        if node == SIGNED_FOR:
            shipment.delivered_at = when
        origin = session.scalar(select(Warehouse.code).where(Warehouse.id == shipment.warehouse_id))
        _estimate(platform, order.number, origin or "?", shipment, [*history, event])
        session.flush()
        site = directory.by_id(order.site_id).code
        _shipment_event(session, site, order.number, shipment, event, now)
        if node == SIGNED_FOR and current is OrderStatus.SHIPPED:
            waiting = session.scalar(
                select(func.count())
                .select_from(Shipment)
                .where(Shipment.order_id == order.id, Shipment.delivered_at.is_(None))
            )
            if not waiting:
                change_status(
                    session, directory, order, OrderStatus.SHIPPED, OrderStatus.DELIVERED, now
                )
        _audit(
            session,
            actor,
            now,
            order,
            "shipment.track",
            object_type="shipment",
            object_id=shipment.number,
            after={"node": node, "location": location},
        )
    return event


def advance_shipments(platform: Platform, *, limit: int = 500) -> list[tuple[str, str]]:
    """Record the nodes simulated carriers planned up to now, at their planned times, for
    shipments still on their way (one transaction per node); returns (shipment, node)."""
    carriers = {
        name: carrier
        for name, (_owner, carrier) in platform.plugins.carriers().items()
        if carrier.planned_nodes is not None
    }
    if not carriers:
        return []
    now = platform.clock.now()
    with platform.hq.reading() as session:
        rows = session.execute(
            select(Shipment, Order.number, Warehouse.code)
            .join(Order, Order.id == Shipment.order_id)
            .join(Warehouse, Warehouse.id == Shipment.warehouse_id)
            .where(Shipment.delivered_at.is_(None), Shipment.carrier.in_(list(carriers)))
            .order_by(Shipment.id)
            .limit(limit)
        ).all()
        due: list[tuple[str, str, TrackingNodeView]] = []
        for shipment, number, origin in rows:
            rank = TRACKING_NODES.index(shipment.status) if shipment.status in TRACKING_NODES else 0
            progress = ShipmentProgress(
                shipment=shipment.number,
                order=number,
                carrier=shipment.carrier or DEFAULT_CARRIER,
                service_level=shipment.service_level or "",
                origin=origin,
                distance_km=shipment.distance_km or 0.0,
                shipped_at=shipment.shipped_at,
                nodes=(TrackingNodeView(node=TRACKING_NODES[0], at=shipment.shipped_at),),
            )
            planned = carriers[progress.carrier].planned_nodes
            assert planned is not None
            for step in planned(progress):
                if step.node in TRACKING_NODES and TRACKING_NODES.index(step.node) > rank:
                    if step.at > now:
                        break
                    due.append((number, shipment.number, step))
    recorded: list[tuple[str, str]] = []
    for number, shipment_number, step in due:
        try:
            track(
                platform,
                number,
                shipment_number,
                node=step.node,
                location=step.location,
                at=step.at,
            )
        except VintryError as error:  # moved on meanwhile (a manual node): skip it
            log.info("shipment %s: %s not recorded: %s", shipment_number, step.node, error)
            continue
        recorded.append((shipment_number, step.node))
    return recorded


# --- reading: the timeline ---------------------------------------------------------------


@dataclass(frozen=True)
class StatusEntry:
    """When the order reached a status, and why (cancellations)."""

    at: datetime
    status: str
    reason: str | None = None


@dataclass
class ShipmentRecord:
    """A shipment with its warehouse, lines and tracking nodes."""

    shipment: Shipment
    warehouse: str
    lines: list[tuple[str, int]] = field(default_factory=list)
    tracking: list[TrackingEvent] = field(default_factory=list)

    @property
    def units(self) -> int:
        """Units in the shipment."""
        return sum(units for _sku, units in self.lines)


@dataclass(frozen=True)
class Timeline:
    """What happened to an order: status changes, shipments and their tracking."""

    statuses: list[StatusEntry]
    shipments: list[ShipmentRecord]
    awaiting: list[tuple[str, list[tuple[str, int]]]] = field(default_factory=list)
    """Units of a paid order not shipped yet, by warehouse: the shipments to come."""

    @property
    def estimated_arrival(self) -> datetime | None:
        """When the last shipment still on its way should arrive (None: nothing on its way)."""
        etas = [
            r.shipment.estimated_arrival
            for r in self.shipments
            if r.shipment.delivered_at is None and r.shipment.estimated_arrival is not None
        ]
        return max(etas) if etas else None


def timeline(session: Session, order: Order) -> Timeline:
    """The order's timeline, in at most five queries. Status changes are derived from the
    order's and its shipments' times, which the state machine sets exactly once each."""
    records: dict[int, ShipmentRecord] = {}
    for shipment, code in session.execute(
        select(Shipment, Warehouse.code)
        .join(Warehouse, Warehouse.id == Shipment.warehouse_id)
        .where(Shipment.order_id == order.id)
        .order_by(Shipment.id)
    ):
        records[shipment.id] = ShipmentRecord(shipment, code)
    if records:
        for shipment_id, sku, units in session.execute(
            select(ShipmentLine.shipment_id, OrderLine.sku_code, ShipmentLine.quantity)
            .join(OrderLine, OrderLine.id == ShipmentLine.order_line_id)
            .where(ShipmentLine.shipment_id.in_(records))
            .order_by(ShipmentLine.id)
        ):
            records[shipment_id].lines.append((sku, units))
        for event in session.scalars(
            select(TrackingEvent)
            .where(TrackingEvent.shipment_id.in_(records))
            .order_by(TrackingEvent.at, TrackingEvent.id)
        ):
            records[event.shipment_id].tracking.append(event)
    ordered = session.scalar(
        select(func.coalesce(func.sum(OrderLine.quantity), 0)).where(OrderLine.order_id == order.id)
    )
    shipments = list(records.values())
    awaiting: dict[str, dict[str, int]] = {}
    if order.status in (OrderStatus.PAID.value, OrderStatus.PARTIALLY_SHIPPED.value):
        for code, sku, units in session.execute(
            select(Warehouse.code, OrderLine.sku_code, OrderAllocation.quantity)
            .join(OrderLine, OrderLine.id == OrderAllocation.line_id)
            .join(Warehouse, Warehouse.id == OrderAllocation.warehouse_id)
            .join(Reservation, Reservation.id == OrderAllocation.reservation_id)
            .where(
                OrderAllocation.order_id == order.id,
                Reservation.status == ReservationStatus.HELD.value,
            )
            .order_by(Warehouse.code, OrderLine.line_no)
        ):
            here = awaiting.setdefault(code, {})
            here[sku] = here.get(sku, 0) + units
    return Timeline(
        status_history(order, shipments, int(ordered or 0)),
        shipments,
        [(code, sorted(units.items())) for code, units in awaiting.items()],
    )


def status_history(
    order: Order, shipments: Sequence[ShipmentRecord], ordered_units: int
) -> list[StatusEntry]:
    """Each status the order reached, with when."""
    entries = [StatusEntry(order.placed_at, OrderStatus.PLACED.value)]
    if order.paid_at is not None:
        entries.append(StatusEntry(order.paid_at, OrderStatus.PAID.value))
    shipped = 0
    for record in shipments:
        before, shipped = shipped, shipped + record.units
        if before == 0 and shipped < ordered_units:
            entries.append(
                StatusEntry(record.shipment.shipped_at, OrderStatus.PARTIALLY_SHIPPED.value)
            )
        if before < ordered_units <= shipped:
            entries.append(StatusEntry(record.shipment.shipped_at, OrderStatus.SHIPPED.value))
    if order.status == OrderStatus.DELIVERED.value:
        signed = [r.shipment.delivered_at for r in shipments if r.shipment.delivered_at]
        entries.append(StatusEntry(max(signed) if signed else order.updated_at, "delivered"))
    if order.cancelled_at is not None:
        entries.append(
            StatusEntry(order.cancelled_at, OrderStatus.CANCELLED.value, order.cancel_reason)
        )
    return entries
