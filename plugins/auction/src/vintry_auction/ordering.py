"""A buyer's order at the price the auction decided, through the kernel's normal order path.

:func:`place_at_price` calls ``vintry.orders.placement.place_order`` — idempotent, priced by
the pipeline, sourced and held like any order — while a context variable names the sale
being settled. The pipeline runs on the calling thread, so this plugin's
``vintry_price_cart`` sees the variable and proposes the discount that brings the line to
the auction's price (:func:`settlement_candidates`); in any other cart it proposes nothing.
The discount is an ordinary candidate, so HQ's floors still cap it at checkout.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass

from vintry.orders.placement import place_order
from vintry.orders.schemas import OrderLineIn, PlaceOrder
from vintry_sdk import AdjustmentCandidate, CartDraft, SiteContext, from_fen, to_fen


@dataclass(frozen=True)
class PricedSale:
    """Units of one SKU that an auction sold to a dealer at *unit_fen* each."""

    campaign: str
    name: str
    sku: str
    quantity: int
    unit_fen: int


@dataclass(frozen=True)
class OrderOutcome:
    """What placing a sale's order answered: the order number, or the refusal's code."""

    status: int
    number: str | None
    code: str | None
    message: str | None


_settling: ContextVar[PricedSale | None] = ContextVar("vintry_auction_settling", default=None)


def adjustment_key(campaign: str) -> str:
    """The ``campaign`` of the adjustment: not the campaign's own code, so the kernel's
    budget draws (which need the campaign live) leave a closed auction's settlement alone."""
    return f"auction:{campaign}"


def settlement_candidates(cart: CartDraft) -> list[AdjustmentCandidate]:
    """The discount bringing the sale's line to the auction's price, if this cart is one."""
    sale = _settling.get()
    if sale is None:
        return []
    for line in cart.lines:
        if line.sku != sale.sku or line.quantity != sale.quantity:
            continue
        per_unit = to_fen(line.unit_price) - sale.unit_fen
        if per_unit <= 0:  # the site's price fell to or under the auction's: charge it
            return []
        amount = from_fen(per_unit * sale.quantity)
        return [
            AdjustmentCandidate(
                campaign=adjustment_key(sale.campaign),
                name=sale.name,
                reason=f"won at auction at {from_fen(sale.unit_fen)} yuan a unit",
                amount=amount,
                line_amounts={line.index: amount},
                priority=1000,
            )
        ]
    return []


def place_at_price(
    site: SiteContext, *, sale: PricedSale, dealer_id: int, idempotency_key: str
) -> OrderOutcome:
    """Place (or replay) the order for *sale*; a retry with the same key gets the same answer."""
    request = PlaceOrder(
        lines=[OrderLineIn(sku=sale.sku, quantity=sale.quantity)],
        note=f"auction {sale.campaign}: {sale.quantity} x {sale.sku} at "
        f"{from_fen(sale.unit_fen)} yuan",
    )
    token = _settling.set(sale)
    try:
        result = place_order(
            site.platform,
            site_code=site.code,
            dealer_id=dealer_id,
            request=request,
            idempotency_key=idempotency_key,
            raw_body=request.model_dump_json().encode(),
            kind="auction",
        )
    finally:
        _settling.reset(token)
    body = json.loads(result.body)
    if result.status == 201:
        return OrderOutcome(201, str(body["number"]), None, None)
    error = body.get("error", {})
    return OrderOutcome(result.status, None, error.get("code"), error.get("message"))
