"""Routes for the calling dealer's cart at the addressed site, and checkout."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from vintry.accounts.permissions import Permission
from vintry.api.security import RequestScope, authorize
from vintry.catalog.models import Sku
from vintry.contracts import DealerView
from vintry.dealers.models import Dealer
from vintry.errors import InvalidInput, NotFound
from vintry.orders import cart, idempotency
from vintry.orders.placement import place_order
from vintry.orders.pricing import price_lines
from vintry.orders.schemas import OrderLineIn, PlaceOrder
from vintry.sites.schemas import RequestModel

router = APIRouter(prefix="/api/v1/cart", tags=["cart"])
SkuParam = Annotated[str, Path(max_length=32)]


class CartQuantity(RequestModel):
    """How many units of a SKU the cart holds (0 removes the line)."""

    quantity: int = Field(ge=0, le=100_000)


class CartOut(BaseModel):
    """The cart, priced at the site for the dealer, with the full explanation."""

    site: str
    dealer: str
    lines: list[dict[str, Any]]
    applied: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    campaigns: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Every campaign considered: applied, or why not (code and why).",
    )
    subtotal: str
    discount: str
    total: str


def _dealer(scope: RequestScope) -> DealerView:
    if scope.principal.dealer_id is None:
        raise InvalidInput("only a dealer has a cart", code="dealer_required", field="dealer")
    with scope.platform.hq.reading() as session:
        dealer = session.get(Dealer, scope.principal.dealer_id)
        assert dealer is not None
        return DealerView(
            code=dealer.code,
            name=dealer.name,
            tier=dealer.tier.value,
            tags=tuple(dealer.tags),
            site=scope.site.code,
        )


def _cart_out(scope: RequestScope, dealer: DealerView) -> CartOut:
    lines = cart.cart_lines(scope.site, dealer.code)
    if not lines:
        return CartOut(
            site=scope.site.code,
            dealer=dealer.code,
            lines=[],
            applied=[],
            rejected=[],
            subtotal="0.00",
            discount="0.00",
            total="0.00",
        )
    with scope.platform.hq.reading() as session:
        priced = price_lines(
            session,
            scope.site,
            dealer,
            lines,
            scope.platform.clock.now(),
            directory=scope.directory,
        )
    return CartOut(site=scope.site.code, dealer=dealer.code, **priced.breakdown())


@router.get("", response_model=CartOut, summary="The caller's cart, priced")
def get_cart(scope: RequestScope = Depends(authorize(Permission.ORDERS_PLACE))) -> CartOut:
    """Lines at the site's prices, the campaigns applied, and why others were not."""
    return _cart_out(scope, _dealer(scope))


@router.put("/lines/{sku}", response_model=CartOut, summary="Set a line's quantity")
def put_line(
    sku: SkuParam,
    body: CartQuantity,
    scope: RequestScope = Depends(authorize(Permission.ORDERS_PLACE)),
) -> CartOut:
    """Add, change or (with 0) remove a line; the SKU must be offered at the site."""
    dealer = _dealer(scope)
    with scope.platform.hq.reading() as session:
        if session.scalar(select(Sku.id).where(Sku.code == sku)) is None:
            raise NotFound(f"SKU {sku!r} does not exist", code="sku_not_found", field="sku")
    lines = cart.cart_lines(scope.site, dealer.code)
    if body.quantity and sku not in {line.sku for line in lines} and len(lines) >= cart.MAX_LINES:
        raise InvalidInput(
            f"a cart holds at most {cart.MAX_LINES} lines", code="cart_full", field="sku"
        )
    if body.quantity:
        with scope.platform.hq.reading() as session:  # refuses SKUs the site does not offer
            from vintry.orders.pricing import LineInput

            price_lines(
                session,
                scope.site,
                dealer,
                [LineInput(sku, body.quantity)],
                scope.platform.clock.now(),
                directory=scope.directory,
            )
    cart.set_quantity(scope.site, dealer.code, sku, body.quantity, scope.platform.clock.now())
    return _cart_out(scope, dealer)


@router.delete("/lines/{sku}", response_model=CartOut, summary="Remove a line")
def delete_line(
    sku: SkuParam, scope: RequestScope = Depends(authorize(Permission.ORDERS_PLACE))
) -> CartOut:
    """Remove a line (nothing happens if it is not in the cart)."""
    dealer = _dealer(scope)
    cart.set_quantity(scope.site, dealer.code, sku, 0, scope.platform.clock.now())
    return _cart_out(scope, dealer)


@router.delete("", response_model=CartOut, summary="Empty the cart")
def clear_cart(scope: RequestScope = Depends(authorize(Permission.ORDERS_PLACE))) -> CartOut:
    """Remove every line."""
    dealer = _dealer(scope)
    cart.clear(scope.site, dealer.code)
    return _cart_out(scope, dealer)


@router.post("/checkout", status_code=201, summary="Place the cart as an order (Idempotency-Key)")
def checkout(
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    scope: RequestScope = Depends(authorize(Permission.ORDERS_PLACE)),
) -> Response:
    """Place the cart's lines as one order, exactly once per key; the cart is emptied after."""
    key = idempotency.check_key(idempotency_key)
    dealer = _dealer(scope)

    def from_cart() -> PlaceOrder:
        lines = cart.cart_lines(scope.site, dealer.code)
        if not lines:
            raise InvalidInput("the cart is empty", code="empty_order", field="lines")
        return PlaceOrder(
            lines=[OrderLineIn(sku=line.sku, quantity=line.quantity) for line in lines]
        )

    assert scope.principal.dealer_id is not None
    result = place_order(
        scope.platform,
        site_code=scope.site.code,
        dealer_id=scope.principal.dealer_id,
        request=from_cart,
        idempotency_key=key,
        raw_body=b"",
        kind="checkout",
    )
    if result.status == 201 and not result.replayed:
        cart.clear(scope.site, dealer.code)
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return Response(
        result.body, status_code=result.status, media_type="application/json", headers=headers
    )
