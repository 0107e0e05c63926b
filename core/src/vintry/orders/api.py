"""Routes for orders: placement (idempotent) and reading."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from vintry.accounts.models import Role
from vintry.accounts.permissions import Permission
from vintry.api.security import RequestScope, authorize
from vintry.dealers.models import Dealer
from vintry.errors import InvalidInput, NotFound
from vintry.inventory.models import Warehouse
from vintry.money import from_fen
from vintry.orders import idempotency
from vintry.orders.models import Order, OrderAllocation, OrderLine
from vintry.orders.placement import place_order_async
from vintry.orders.schemas import AllocationOut, OrderLineOut, OrderOut, PlaceOrder

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])
OrderNumber = Annotated[str, Path(max_length=32)]


@router.post(
    "",
    status_code=201,
    response_model=OrderOut,
    summary="Place an order (Idempotency-Key required)",
    responses={409: {"description": "out_of_stock or idempotency_in_progress"}},
)
async def create_order(
    request: PlaceOrder,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    scope: RequestScope = Depends(authorize(Permission.ORDERS_PLACE)),
) -> Response:
    """Place an order for the calling dealer at the addressed site.

    Stock is held at once (it never oversells). A retry with the same ``Idempotency-Key``
    returns the first response byte for byte (header ``Idempotent-Replayed: true``); the
    same key with another body is refused with 422; a concurrent duplicate waits for the
    first or gets 409 ``idempotency_in_progress``.

    A coroutine: no thread waits for the order's batch (:func:`place_order_async`).
    """
    key = idempotency.check_key(idempotency_key)
    principal = scope.principal
    if principal.dealer_id is None:
        raise InvalidInput("only a dealer places orders", code="dealer_required", field="dealer")
    result = await place_order_async(
        scope.platform,
        site=scope.site,
        directory=scope.directory,
        dealer_id=principal.dealer_id,
        dealer=principal.dealer if principal.dealer_active else None,
        request=request,
        idempotency_key=key,
        raw_body=request.model_dump_json().encode(),
    )
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return Response(
        result.body, status_code=result.status, media_type="application/json", headers=headers
    )


def visible_orders(scope: RequestScope) -> Select[Order]:
    """Orders the caller may see: its own (dealer), or those of the addressed subtree as far
    as its tenant reaches. Every route that lists or names orders starts from this query,
    so an order outside the tenant answers 404 exactly like one that does not exist."""
    if scope.principal.role is Role.DEALER:
        return select(Order).where(Order.dealer_id == scope.principal.dealer_id)
    ids = [scope.directory.get(code).id for code in scope.visible_site_codes()]
    return select(Order).where(Order.site_id.in_(ids))


@router.get("", response_model=list[OrderOut], summary="Orders (a dealer sees its own)")
def list_orders(
    before: str | None = Query(default=None, max_length=32, description="Last number seen."),
    limit: int = Query(default=50, ge=1, le=500),
    scope: RequestScope = Depends(authorize(Permission.ORDERS_READ)),
) -> list[OrderOut]:
    """Newest first: the caller's own orders (dealer) or those of the addressed subtree."""
    query = visible_orders(scope)
    if before is not None:
        query = query.where(Order.number < before)
    with scope.platform.hq.reading() as session:
        orders = list(session.scalars(query.order_by(Order.number.desc()).limit(limit)))
        return orders_out(session, scope, orders)


@router.get("/{number}", response_model=OrderOut, summary="One order")
def get_order(
    number: OrderNumber, scope: RequestScope = Depends(authorize(Permission.ORDERS_READ))
) -> OrderOut:
    """An order the caller may see; any other answers 404."""
    with scope.platform.hq.reading() as session:
        order = session.scalar(visible_orders(scope).where(Order.number == number))
        if order is None:
            raise NotFound(
                f"order {number!r} does not exist", code="order_not_found", field="number"
            )
        return orders_out(session, scope, [order])[0]


def orders_out(session: Session, scope: RequestScope, orders: list[Order]) -> list[OrderOut]:
    """API views of *orders*, with lines and allocations, in three queries."""
    if not orders:
        return []
    ids = [o.id for o in orders]
    lines: dict[int, list[OrderLine]] = defaultdict(list)
    for line in session.scalars(
        select(OrderLine).where(OrderLine.order_id.in_(ids)).order_by(OrderLine.line_no)
    ):
        lines[line.order_id].append(line)
    allocations: dict[int, list[AllocationOut]] = defaultdict(list)
    rows = session.execute(
        select(OrderAllocation.line_id, Warehouse.code, OrderAllocation.quantity)
        .join(Warehouse, Warehouse.id == OrderAllocation.warehouse_id)
        .where(OrderAllocation.order_id.in_(ids))
        .order_by(OrderAllocation.id)
    )
    for line_id, warehouse, quantity in rows:
        allocations[line_id].append(AllocationOut(warehouse=warehouse, quantity=quantity))
    dealers = dict(
        session.execute(
            select(Dealer.id, Dealer.code).where(Dealer.id.in_({o.dealer_id for o in orders}))
        ).all()
    )
    return [
        OrderOut(
            number=o.number,
            site=scope.directory.by_id(o.site_id).code,
            dealer=dealers[o.dealer_id],
            status=o.status,
            subtotal=from_fen(o.subtotal_fen),
            discount=from_fen(o.discount_fen),
            total=from_fen(o.total_fen),
            placed_at=o.placed_at,
            pay_by=o.pay_by,
            lines=[
                OrderLineOut(
                    line_no=line.line_no,
                    sku=line.sku_code,
                    name=line.name,
                    quantity=line.quantity,
                    base_unit_price=from_fen(line.base_unit_fen),
                    unit_price=from_fen(line.unit_fen),
                    discount=from_fen(line.discount_fen),
                    total=from_fen(line.total_fen),
                    allocations=allocations[line.id],
                )
                for line in lines[o.id]
            ],
            pricing=o.pricing,
            sourcing=o.sourcing,
        )
        for o in orders
    ]
