"""Routes for what happens to an order after placement: payment, cancellation, shipments
and tracking (HQ), the dealer's timeline, returns, and dealers' credit lines.

Every route that names an order, a return or a dealer finds it through a dependency that
runs after the caller is authorised and before the body is read: outside the caller's
tenant (another dealer's order, a site beyond an operator's subtree) the answer is 404
whatever the body, inside it without the permission 403.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field, StringConstraints, model_validator
from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from vintry.accounts.models import Role
from vintry.accounts.permissions import Permission
from vintry.accounts.principal import Actor
from vintry.api.security import RequestScope, authorize
from vintry.audit.service import record_change
from vintry.builtin import dealer_credit
from vintry.dealers import service as dealers
from vintry.dealers.models import Dealer
from vintry.errors import NotFound
from vintry.inventory.models import Warehouse
from vintry.money import from_fen, to_fen
from vintry.orders import lifecycle, returns
from vintry.orders.api import orders_out, visible_orders
from vintry.orders.models import (
    Order,
    OrderLine,
    ReturnLine,
    ReturnRequest,
)
from vintry.orders.schemas import OrderOut, SkuCode
from vintry.sites.schemas import RequestModel

router = APIRouter(prefix="/api/v1", tags=["order lifecycle"])
OrderNumber = Annotated[str, Path(max_length=32)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]


# --- request and response bodies -----------------------------------------------------------


class PayOrder(RequestModel):
    """How the dealer pays: a method some enabled provider handles (built in: ``credit``)."""

    method: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]


class PaymentOut(BaseModel):
    """A payment taken (or, negative, a refund)."""

    order: str
    method: str
    provider: str
    amount: Decimal
    reference: str | None
    at: datetime


class CancelOrder(RequestModel):
    """Why the order is cancelled (kept with the order)."""

    reason: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ShipmentLineIn(RequestModel):
    """Units of one SKU in a shipment."""

    sku: SkuCode
    quantity: int = Field(ge=1, le=100_000)


CarrierName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,63}$")]
ServiceLevelName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,31}$")]


class CreateShipment(RequestModel):
    """Units of the order leaving one warehouse, with the carrier that takes them."""

    warehouse: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    lines: list[ShipmentLineIn] = Field(min_length=1, max_length=200)
    carrier: CarrierName | None = Field(default=None, description="Default: simulated.")
    service_level: ServiceLevelName | None = Field(
        default=None, description="Default: the carrier's first service level."
    )


class DispatchOrder(RequestModel):
    """Ship everything left, one shipment per warehouse, with this carrier (named: a
    dispatch is a commitment to a carrier, e.g. the built-in ``simulated``)."""

    carrier: CarrierName
    service_level: ServiceLevelName | None = Field(
        default=None, description="Default: the carrier's first service level."
    )


class AdvancedOut(BaseModel):
    """Nodes the simulated carriers reached by now, recorded."""

    recorded: list[dict[str, str]]


class TrackingIn(RequestModel):
    """A logistics node the shipment passed (``left_warehouse`` is recorded at creation)."""

    node: Literal["in_transfer", "out_for_delivery", "signed_for"]
    location: Annotated[str, StringConstraints(max_length=200)] | None = None
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class TrackingOut(BaseModel):
    """One node of a shipment's journey."""

    at: datetime
    node: str
    location: str | None
    note: str | None
    estimated_arrival: datetime | None = Field(
        default=None, description="The arrival estimate as recomputed after this node."
    )


class ShipmentLineOut(BaseModel):
    """Units of one SKU in a shipment."""

    sku: str
    quantity: int


class ShipmentOut(BaseModel):
    """A shipment, where it is and when it should arrive."""

    number: str
    order: str
    warehouse: str
    status: str = Field(description="The latest tracking node.")
    state: Literal["in_transit", "delivered"]
    carrier: str | None
    service_level: str | None
    distance_km: float | None
    shipped_at: datetime
    estimated_arrival: datetime | None
    delivered_at: datetime | None
    lines: list[ShipmentLineOut]
    tracking: list[TrackingOut]


class AwaitingShipmentOut(BaseModel):
    """Units of a paid order still waiting in one warehouse: a shipment to come."""

    warehouse: str
    state: Literal["awaiting_shipment"] = "awaiting_shipment"
    lines: list[ShipmentLineOut]


class ReturnLineIn(RequestModel):
    """Units of one SKU to return."""

    sku: SkuCode
    quantity: int = Field(ge=1, le=100_000)


class CreateReturn(RequestModel):
    """Delivered units to send back, and why."""

    reason_code: Literal["damaged_packaging", "quality", "wrong_item", "other"]
    reason_text: Text | None = None
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _other_needs_text(self) -> Self:
        if self.reason_code == "other" and not self.reason_text:
            raise ValueError("reason_text is required when reason_code is 'other'")
        return self


class ReturnDecision(RequestModel):
    """HQ's decision; an approval names ``restock`` or ``write_off`` for each SKU."""

    decision: Literal["approve", "reject"]
    dispositions: dict[SkuCode, Literal["restock", "write_off"]] = Field(
        default_factory=dict, max_length=200
    )
    note: Text | None = None


class ReturnLineOut(BaseModel):
    """Units of one SKU returned to one warehouse, and what became of them."""

    sku: str
    quantity: int
    warehouse: str | None
    disposition: str | None
    refund: Decimal


class ReturnOut(BaseModel):
    """A return request and its outcome."""

    number: str
    order: str
    dealer: str
    site: str
    status: str
    reason_code: str
    reason_text: str | None
    requested_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    refund: Decimal
    lines: list[ReturnLineOut]


class TimelineEvent(BaseModel):
    """A status the order reached, or a node one of its shipments passed."""

    at: datetime
    kind: Literal["status", "tracking"]
    status: str | None = None
    reason: str | None = None
    shipment: str | None = None
    node: str | None = None
    location: str | None = None


class TimelineOut(BaseModel):
    """Everything that happened to an order, oldest first, and when the rest arrives."""

    number: str
    status: str
    placed_at: datetime
    pay_by: datetime | None
    estimated_arrival: datetime | None = Field(
        description="When the last shipment still on its way should arrive."
    )
    events: list[TimelineEvent]
    shipments: list[ShipmentOut]
    awaiting: list[AwaitingShipmentOut] = Field(
        description="Units not shipped yet, by the warehouse allocated to ship them."
    )
    returns: list[ReturnOut]


class CreditLimit(RequestModel):
    """A dealer's credit limit in yuan."""

    limit: Decimal = Field(ge=0, le=Decimal("100000000"), decimal_places=2)


class CreditOut(BaseModel):
    """A dealer's credit line."""

    dealer: str
    limit: Decimal
    used: Decimal
    available: Decimal
    updated_at: datetime | None


class ExpiredOut(BaseModel):
    """Orders the sweep cancelled because they were not paid in time."""

    cancelled: list[str]


# --- finding what a route names, inside the caller's tenant ----------------------------------


def _staff(scope: RequestScope) -> Actor | None:
    """The actor to audit: HQ staff's changes are recorded, a dealer's own are not."""
    return None if scope.principal.role is Role.DEALER else scope.actor


def _site_ids(scope: RequestScope) -> list[int]:
    return [scope.directory.get(code).id for code in scope.visible_site_codes()]


def visible_returns(scope: RequestScope) -> Select[ReturnRequest]:
    """Returns the caller may see, by the same rule as orders."""
    if scope.principal.role is Role.DEALER:
        return select(ReturnRequest).where(ReturnRequest.dealer_id == scope.principal.dealer_id)
    return select(ReturnRequest).where(ReturnRequest.site_id.in_(_site_ids(scope)))


@dataclass(frozen=True)
class Scoped:
    """An object a route names, found inside the caller's tenant."""

    scope: RequestScope
    key: str


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: a cache key below
class _NumberedKind:
    """What a route may name by ``{number}``: an order or a return, and who sees which."""

    noun: str
    visible: Callable[[RequestScope], Select[Any]]
    number: InstrumentedAttribute[str]


ORDERS = _NumberedKind("order", visible_orders, Order.number)
RETURNS = _NumberedKind("return", visible_returns, ReturnRequest.number)


@cache
def scoped(kind: _NumberedKind, permission: Permission) -> Callable[..., Scoped]:
    """A dependency: *permission*, then the order or return (*kind*) named by ``{number}``,
    looked up among those the caller may see — 404 ``<noun>_not_found`` for any other,
    exactly like one that does not exist. It runs before the body is read."""

    def dependency(
        number: OrderNumber, scope: RequestScope = Depends(authorize(permission))
    ) -> Scoped:
        query = kind.visible(scope).where(kind.number == number).with_only_columns(kind.number)
        with scope.platform.hq.reading() as session:
            found = session.scalar(query)
        if found is None:
            raise NotFound(
                f"{kind.noun} {number!r} does not exist",
                code=f"{kind.noun}_not_found",
                field="number",
            )
        return Scoped(scope, found)

    dependency.__name__ = f"{kind.noun}_with_{permission.name.lower()}"
    return dependency


def scoped_order(permission: Permission) -> Callable[..., Scoped]:
    """:func:`scoped` for the order named by ``{number}``."""
    return scoped(ORDERS, permission)


def scoped_return(permission: Permission) -> Callable[..., Scoped]:
    """:func:`scoped` for the return named by ``{number}``."""
    return scoped(RETURNS, permission)


@cache
def scoped_dealer(permission: Permission) -> Callable[..., Scoped]:
    """A dependency: *permission*, and dealer ``{code}`` of the addressed site (a dealer
    caller: only itself)."""

    def dependency(
        code: Annotated[str, Path(max_length=32)],
        scope: RequestScope = Depends(authorize(permission)),
    ) -> Scoped:
        with scope.platform.hq.reading() as session:
            dealer = dealers.get_dealer(session, scope.directory, scope.site.code, code)
        if scope.principal.role is Role.DEALER and dealer.id != scope.principal.dealer_id:
            raise NotFound(
                f"dealer {code!r} does not exist at site {scope.site.code!r}",
                code="dealer_not_found",
                field="dealer",
            )
        return Scoped(scope, dealer.code)

    dependency.__name__ = f"dealer_with_{permission.name.lower()}"
    return dependency


# --- payment and cancellation ------------------------------------------------------------


@router.post(
    "/orders/{number}/payment",
    status_code=201,
    response_model=PaymentOut,
    summary="Pay an order",
    responses={
        402: {"description": "the provider refused, e.g. credit_exceeded"},
        409: {"description": "illegal_transition or order_expired"},
        422: {"description": "payment_method_unsupported"},
    },
)
def pay_order(
    request: PayOrder, found: Scoped = Depends(scoped_order(Permission.ORDERS_PAY))
) -> PaymentOut:
    """Pay a ``placed`` order before its ``pay_by`` through the site's payment providers.

    With ``credit`` the dealer's credit line pays (402 ``credit_exceeded``, with what is
    available in ``details``, when it does not cover the total).
    """
    payment = lifecycle.pay(
        found.scope.platform, found.key, method=request.method, actor=_staff(found.scope)
    )
    return PaymentOut(
        order=found.key,
        method=payment.method,
        provider=payment.provider,
        amount=from_fen(payment.amount_fen),
        reference=payment.reference,
        at=payment.created_at,
    )


@router.post(
    "/orders/{number}/cancel",
    response_model=OrderOut,
    summary="Cancel an order",
    responses={409: {"description": "illegal_transition"}},
)
def cancel_order(
    request: CancelOrder, found: Scoped = Depends(scoped_order(Permission.ORDERS_CANCEL))
) -> OrderOut:
    """Cancel an order that has not shipped: its stock is released, a paid order refunded.

    A dealer cancels only unpaid (``placed``) orders; HQ also cancels ``paid`` ones.
    """
    scope = found.scope
    dealer = scope.principal.role is Role.DEALER
    lifecycle.cancel(
        scope.platform,
        found.key,
        reason=request.reason,
        allowed_from=lifecycle.DEALER_CANCELS_FROM if dealer else lifecycle.HQ_CANCELS_FROM,
        actor=_staff(scope),
    )
    with scope.platform.hq.reading() as session:
        return orders_out(session, scope, [lifecycle.find_order(session, found.key)])[0]


@router.post(
    "/orders/expire-unpaid",
    response_model=ExpiredOut,
    summary="Cancel unpaid orders past their pay-by time (the sweep)",
)
def expire_unpaid_orders(
    scope: RequestScope = Depends(authorize(Permission.ORDERS_FULFIL)),
) -> ExpiredOut:
    """Run the expiry sweep over the addressed site's subtree now (a scheduler calls it)."""
    return ExpiredOut(cancelled=lifecycle.expire_unpaid(scope.platform, site_ids=_site_ids(scope)))


# --- fulfilment (HQ) ---------------------------------------------------------------------------


@router.post(
    "/orders/{number}/shipments",
    status_code=201,
    response_model=ShipmentOut,
    summary="Ship all or part of an order from one warehouse",
    responses={409: {"description": "illegal_transition or nothing_to_ship"}},
)
def create_shipment(
    request: CreateShipment, found: Scoped = Depends(scoped_order(Permission.ORDERS_FULFIL))
) -> ShipmentOut:
    """Ship units of a paid order from one of the warehouses it was allocated to."""
    shipment = lifecycle.ship(
        found.scope.platform,
        found.key,
        warehouse=request.warehouse,
        lines=[(line.sku, line.quantity) for line in request.lines],
        carrier=request.carrier,
        service_level=request.service_level,
        actor=_staff(found.scope),
    )
    return _shipment_out(found.scope, found.key, shipment.number)


@router.post(
    "/orders/{number}/dispatch",
    status_code=201,
    response_model=list[ShipmentOut],
    summary="Ship everything left: one shipment per allocated warehouse",
    responses={
        409: {"description": "illegal_transition or nothing_to_ship"},
        422: {"description": "unknown_carrier or unknown_service_level"},
    },
)
def dispatch_order(
    request: DispatchOrder, found: Scoped = Depends(scoped_order(Permission.ORDERS_FULFIL))
) -> list[ShipmentOut]:
    """Ship every unit the order still holds, one shipment per warehouse its sourcing
    allocated, each with the carrier's arrival estimate."""
    shipments = lifecycle.dispatch(
        found.scope.platform,
        found.key,
        carrier=request.carrier,
        service_level=request.service_level,
        actor=_staff(found.scope),
    )
    wanted = {shipment.number for shipment in shipments}
    with found.scope.platform.hq.reading() as session:
        order = lifecycle.find_order(session, found.key)
        records = lifecycle.timeline(session, order).shipments
    return [_record_out(found.key, r) for r in records if r.shipment.number in wanted]


@router.post(
    "/shipments/advance",
    response_model=AdvancedOut,
    summary="Record the nodes simulated carriers reached by now (a scheduler calls it)",
)
def advance_shipments(
    scope: RequestScope = Depends(authorize(Permission.ORDERS_FULFIL)),
) -> AdvancedOut:
    """Move every simulated shipment on to the nodes its timetable reached by now."""
    recorded = lifecycle.advance_shipments(scope.platform)
    return AdvancedOut(
        recorded=[{"shipment": shipment, "node": node} for shipment, node in recorded]
    )


@router.post(
    "/orders/{number}/shipments/{shipment}/tracking",
    status_code=201,
    response_model=ShipmentOut,
    summary="Record a tracking node of a shipment",
    responses={409: {"description": "illegal_tracking_node"}},
)
def add_tracking(
    request: TrackingIn,
    shipment: Annotated[str, Path(max_length=32)],
    found: Scoped = Depends(scoped_order(Permission.ORDERS_FULFIL)),
) -> ShipmentOut:
    """Nodes go forward only; ``signed_for`` on every shipment makes the order delivered."""
    lifecycle.track(
        found.scope.platform,
        found.key,
        shipment,
        node=request.node,
        location=request.location,
        note=request.note,
        actor=_staff(found.scope),
    )
    return _shipment_out(found.scope, found.key, shipment)


def _shipment_out(scope: RequestScope, number: str, shipment_number: str) -> ShipmentOut:
    with scope.platform.hq.reading() as session:
        order = lifecycle.find_order(session, number)
        record = next(
            r
            for r in lifecycle.timeline(session, order).shipments
            if r.shipment.number == shipment_number
        )
    return _record_out(number, record)


def _record_out(number: str, record: lifecycle.ShipmentRecord) -> ShipmentOut:
    shipment = record.shipment
    return ShipmentOut(
        number=shipment.number,
        order=number,
        warehouse=record.warehouse,
        status=shipment.status,
        state="delivered" if lifecycle.shipment_state(shipment) == "delivered" else "in_transit",
        carrier=shipment.carrier,
        service_level=shipment.service_level,
        distance_km=shipment.distance_km,
        shipped_at=shipment.shipped_at,
        estimated_arrival=shipment.estimated_arrival,
        delivered_at=shipment.delivered_at,
        lines=[ShipmentLineOut(sku=sku, quantity=units) for sku, units in record.lines],
        tracking=[
            TrackingOut(
                at=e.at,
                node=e.node,
                location=e.location,
                note=e.note,
                estimated_arrival=e.estimated_arrival,
            )
            for e in record.tracking
        ],
    )


@router.get(
    "/orders/{number}/timeline", response_model=TimelineOut, summary="What happened to an order"
)
def order_timeline(found: Scoped = Depends(scoped_order(Permission.ORDERS_READ))) -> TimelineOut:
    """Status changes, shipments with their tracking nodes, returns, and the arrival
    estimate; a dealer reads only its own orders' timelines."""
    scope = found.scope
    with scope.platform.hq.reading() as session:
        order = lifecycle.find_order(session, found.key)
        history = lifecycle.timeline(session, order)
        order_returns = list(
            session.scalars(
                select(ReturnRequest)
                .where(ReturnRequest.order_id == order.id)
                .order_by(ReturnRequest.id)
            )
        )
        returns_view = returns_out(session, scope, order_returns)
    # At one instant a tracking node comes first: it is what moved the order's status.
    events = [
        (
            entry.at,
            1,
            TimelineEvent(at=entry.at, kind="status", status=entry.status, reason=entry.reason),
        )
        for entry in history.statuses
    ]
    for record in history.shipments:
        events.extend(
            (
                event.at,
                0,
                TimelineEvent(
                    at=event.at,
                    kind="tracking",
                    shipment=record.shipment.number,
                    node=event.node,
                    location=event.location,
                ),
            )
            for event in record.tracking
        )
    events.sort(key=lambda item: (item[0], item[1]))
    return TimelineOut(
        number=order.number,
        status=order.status,
        placed_at=order.placed_at,
        pay_by=order.pay_by,
        estimated_arrival=history.estimated_arrival,
        events=[event for _at, _rank, event in events],
        shipments=[_record_out(order.number, record) for record in history.shipments],
        awaiting=[
            AwaitingShipmentOut(
                warehouse=code,
                lines=[ShipmentLineOut(sku=sku, quantity=units) for sku, units in lines],
            )
            for code, lines in history.awaiting
        ],
        returns=returns_view,
    )


# --- returns ---------------------------------------------------------------------------------


@router.post(
    "/orders/{number}/returns",
    status_code=201,
    response_model=ReturnOut,
    summary="Ask to return delivered units",
    responses={409: {"description": "order_not_delivered or return_exceeds_shipped"}},
)
def create_return(
    request: CreateReturn, found: Scoped = Depends(scoped_order(Permission.RETURNS_REQUEST))
) -> ReturnOut:
    """Return units of a delivered order (no more than shipped, less those already
    returned or awaiting a decision), with a reason code; HQ decides."""
    created = returns.request_return(
        found.scope.platform,
        found.key,
        reason_code=request.reason_code,
        reason_text=request.reason_text,
        lines=[(line.sku, line.quantity) for line in request.lines],
    )
    return _return_out(found.scope, created.number)


@router.get("/returns", response_model=list[ReturnOut], summary="Returns (a dealer sees its own)")
def list_returns(
    status: Literal["requested", "approved", "rejected"] | None = None,
    before: str | None = Query(default=None, max_length=32, description="Last number seen."),
    limit: int = Query(default=50, ge=1, le=500),
    scope: RequestScope = Depends(authorize(Permission.ORDERS_READ)),
) -> list[ReturnOut]:
    """Newest first: the caller's own returns (dealer) or those of the addressed subtree."""
    query = visible_returns(scope)
    if status is not None:
        query = query.where(ReturnRequest.status == status)
    if before is not None:
        query = query.where(ReturnRequest.number < before)
    with scope.platform.hq.reading() as session:
        found = list(session.scalars(query.order_by(ReturnRequest.number.desc()).limit(limit)))
        return returns_out(session, scope, found)


@router.get("/returns/{number}", response_model=ReturnOut, summary="One return")
def get_return(found: Scoped = Depends(scoped_return(Permission.ORDERS_READ))) -> ReturnOut:
    """A return the caller may see; any other answers 404."""
    return _return_out(found.scope, found.key)


@router.post(
    "/returns/{number}/decision",
    response_model=ReturnOut,
    summary="Approve or reject a return (HQ)",
    responses={409: {"description": "illegal_transition"}},
)
def decide_return(
    request: ReturnDecision, found: Scoped = Depends(scoped_return(Permission.RETURNS_DECIDE))
) -> ReturnOut:
    """Approve — restocking or writing off each SKU, refunding the units — or reject."""
    returns.decide_return(
        found.scope.platform,
        found.key,
        approve=request.decision == "approve",
        dispositions=request.dispositions,
        note=request.note,
        actor=found.scope.actor,
    )
    return _return_out(found.scope, found.key)


def _return_out(scope: RequestScope, number: str) -> ReturnOut:
    with scope.platform.hq.reading() as session:
        return returns_out(session, scope, [returns.find_return(session, number)])[0]


def returns_out(
    session: Session, scope: RequestScope, found: list[ReturnRequest]
) -> list[ReturnOut]:
    """API views of *found*, with their lines, in three queries."""
    if not found:
        return []
    ids = [r.id for r in found]
    lines: dict[int, list[ReturnLineOut]] = defaultdict(list)
    for line, sku, warehouse in session.execute(
        select(ReturnLine, OrderLine.sku_code, Warehouse.code)
        .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)
        .outerjoin(Warehouse, Warehouse.id == ReturnLine.warehouse_id)
        .where(ReturnLine.return_id.in_(ids))
        .order_by(ReturnLine.id)
    ):
        lines[line.return_id].append(
            ReturnLineOut(
                sku=sku,
                quantity=line.quantity,
                warehouse=warehouse,
                disposition=line.disposition,
                refund=from_fen(line.refund_fen),
            )
        )
    names: dict[str, dict[int, Any]] = {
        "orders": dict(
            session.execute(
                select(Order.id, Order.number).where(Order.id.in_({r.order_id for r in found}))
            ).all()
        ),
        "dealers": dict(
            session.execute(
                select(Dealer.id, Dealer.code).where(Dealer.id.in_({r.dealer_id for r in found}))
            ).all()
        ),
    }
    return [
        ReturnOut(
            number=r.number,
            order=names["orders"][r.order_id],
            dealer=names["dealers"][r.dealer_id],
            site=scope.directory.by_id(r.site_id).code,
            status=r.status,
            reason_code=r.reason_code,
            reason_text=r.reason_text,
            requested_at=r.requested_at,
            decided_at=r.decided_at,
            decided_by=r.decided_by,
            refund=from_fen(r.refund_fen),
            lines=lines[r.id],
        )
        for r in found
    ]


# --- dealer credit ------------------------------------------------------------------------


@router.get("/dealers/{code}/credit", response_model=CreditOut, summary="A dealer's credit line")
def get_credit(found: Scoped = Depends(scoped_dealer(Permission.DEALERS_READ))) -> CreditOut:
    """The dealer's limit, what its open orders use, and what is available (a dealer reads
    only its own)."""
    with found.scope.platform.hq.reading() as session:
        return _credit_out(session, found.key)


@router.put(
    "/dealers/{code}/credit",
    response_model=CreditOut,
    summary="Set a dealer's credit limit (HQ)",
    responses={409: {"description": "credit_limit_below_used"}},
)
def set_credit(
    request: CreditLimit, found: Scoped = Depends(scoped_dealer(Permission.CREDIT_MANAGE))
) -> CreditOut:
    """Set the limit; it cannot go below what open orders already use (audited)."""
    scope = found.scope
    now = scope.platform.clock.now()
    with scope.platform.hq.transaction() as session:
        dealer = session.scalar(select(Dealer).where(Dealer.code == found.key))
        assert dealer is not None
        before = _credit_out(session, dealer.code)
        dealer_credit.set_limit(session, dealer.id, to_fen(request.limit), now)
        after = _credit_out(session, dealer.code)
        record_change(
            session,
            at=now,
            site_id=dealer.site_id,
            actor=scope.actor,
            action="dealer.credit_limit",
            object_type="dealer_credit",
            object_id=dealer.code,
            before=before.model_dump(mode="json", include={"limit", "used"}),
            after=after.model_dump(mode="json", include={"limit", "used"}),
        )
    return after


def _credit_out(session: Session, code: str) -> CreditOut:
    dealer_id = session.scalar(select(Dealer.id).where(Dealer.code == code))
    assert dealer_id is not None
    line = dealer_credit.credit_line(session, dealer_id)
    return CreditOut(
        dealer=code,
        limit=from_fen(line.limit_fen),
        used=from_fen(line.used_fen),
        available=from_fen(line.available_fen),
        updated_at=line.updated_at,
    )
