"""What a flash sale gives a cart: the special price on the units the dealer holds.

A dealer first wins units (an attempt); its cart then gets, for the sale's SKU, the special
price on as many held units as the line has (whole holds, oldest first — the same choice the
claim makes when the order is placed). A live sale the dealer holds nothing of is explained:
``sold_out`` when nothing is left, ``not_applicable`` otherwise ("grab a unit first").
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from vintry_sdk import (
    AdjustmentCandidate,
    CampaignSkip,
    CampaignView,
    CartDraft,
    DealerView,
    SiteContext,
    live_campaigns,
)

from vintry_seckill.campaign_type import SECKILL, SeckillConfig
from vintry_seckill.holds import HeldUnits, choose_holds, held_units
from vintry_seckill.models import SeckillCounter

Proposal = AdjustmentCandidate | CampaignSkip


def price_cart(
    cart: CartDraft, site: SiteContext, dealer: DealerView, now: datetime
) -> list[Proposal]:
    """A candidate per live sale whose held units are in the cart; a skip per other one."""
    selection = live_campaigns(site, SECKILL, dealer, now)
    proposals: list[Proposal] = list(selection.skipped)
    if not selection.applicable:
        return proposals
    codes = [view.code for view in selection.applicable]
    with site.database.reading() as session:
        held = held_units(session, dealer.code, codes, now)
        counters = {
            row.campaign_code: row
            for row in session.scalars(
                select(SeckillCounter).where(SeckillCounter.campaign_code.in_(codes))
            )
        }
    for view in selection.applicable:
        counter = counters.get(view.code)
        left = None if counter is None else counter.quota - counter.taken
        proposals.append(_propose(view, cart, held[view.code], left))
    return proposals


def _propose(
    view: CampaignView, cart: CartDraft, holds: list[HeldUnits], left: int | None
) -> Proposal:
    config: SeckillConfig = view.config
    line = next((line for line in cart.lines if line.sku == config.sku), None)
    if not holds:
        if left is not None and left <= 0:
            return view.skip("sold_out", f"all {config.quantity} units are taken")
        return view.skip(
            "not_applicable", f"grab a unit of {config.sku} first to buy it at {config.price}"
        )
    if line is None:
        return view.skip("not_applicable", f"{config.sku}, which you hold, is not in the cart")
    chosen = choose_holds(holds, line.quantity)
    units = sum(hold.quantity for hold in chosen)
    if units == 0:
        smallest = min(hold.quantity for hold in holds)
        return view.skip(
            "not_applicable", f"your hold is for {smallest} units; the cart has {line.quantity}"
        )
    per_unit = line.unit_price - config.price
    if per_unit <= 0:
        return view.skip("not_applicable", "the site's price is already at or below the sale's")
    amount = per_unit * units
    refusal = view.budget_refusal(amount=amount, units=units)
    if refusal is not None:
        return refusal
    return view.candidate(
        reason=f"{view.name}: {units} x {config.sku} at {config.price}",
        amount=amount,
        line_amounts={line.index: amount},
        units=units,
    )


__all__ = ["price_cart"]
