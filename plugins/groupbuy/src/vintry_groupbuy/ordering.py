"""A member's order at the tier its group reached, through the kernel's normal order path.

:func:`place_at_tier` calls ``vintry.orders.placement.place_order`` (idempotent, priced by
the pipeline, sourced and held like any order) while a context variable names the member
being settled; the pipeline runs on the calling thread, so this plugin's
``vintry_price_cart`` proposes the discount bringing the line to the tier's price there, and
nothing in any other cart. HQ's floors still cap it at checkout.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass

from vintry.orders.placement import place_order
from vintry.orders.schemas import OrderLineIn, PlaceOrder
from vintry_sdk import AdjustmentCandidate, CartDraft, SiteContext, from_fen, to_fen


@dataclass(frozen=True)
class TierPurchase:
    """A member's units of a group at the group's tier price."""

    campaign: str
    name: str
    group: str
    sku: str
    quantity: int
    unit_fen: int


@dataclass(frozen=True)
class OrderOutcome:
    """The order number, or the refusal's code and message."""

    status: int
    number: str | None
    code: str | None
    message: str | None


_settling: ContextVar[TierPurchase | None] = ContextVar("vintry_groupbuy_settling", default=None)


def settlement_candidates(cart: CartDraft) -> list[AdjustmentCandidate]:
    """The tier's discount on the member's line, if this cart is a settlement's."""
    purchase = _settling.get()
    if purchase is None:
        return []
    for line in cart.lines:
        if line.sku != purchase.sku or line.quantity != purchase.quantity:
            continue
        per_unit = to_fen(line.unit_price) - purchase.unit_fen
        if per_unit <= 0:
            return []
        amount = from_fen(per_unit * purchase.quantity)
        return [
            AdjustmentCandidate(
                # Not the deal's own code: the kernel's budget draws need the campaign live,
                # and a group may close after its deal ended.
                campaign=f"groupbuy:{purchase.group}",
                name=purchase.name,
                reason=f"group {purchase.group} reached {from_fen(purchase.unit_fen)} yuan a unit",
                amount=amount,
                line_amounts={line.index: amount},
                priority=1000,
            )
        ]
    return []


def place_at_tier(
    site: SiteContext, *, purchase: TierPurchase, dealer_id: int, idempotency_key: str
) -> OrderOutcome:
    """Place (or replay) the member's order; a retry with the same key gets the same answer."""
    request = PlaceOrder(
        lines=[OrderLineIn(sku=purchase.sku, quantity=purchase.quantity)],
        note=f"group buy {purchase.group} ({purchase.campaign}) at "
        f"{from_fen(purchase.unit_fen)} yuan a unit",
    )
    token = _settling.set(purchase)
    try:
        result = place_order(
            site.platform,
            site_code=site.code,
            dealer_id=dealer_id,
            request=request,
            idempotency_key=idempotency_key,
            raw_body=request.model_dump_json().encode(),
            kind="groupbuy",
        )
    finally:
        _settling.reset(token)
    body = json.loads(result.body)
    if result.status == 201:
        return OrderOutcome(201, str(body["number"]), None, None)
    error = body.get("error", {})
    return OrderOutcome(result.status, None, error.get("code"), error.get("message"))
