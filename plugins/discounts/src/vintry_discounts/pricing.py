"""What each live campaign of the plugin proposes for a cart, or why it does not apply.

Every function takes a :class:`~vintry_sdk.CampaignView` (a campaign the kernel found live,
targeted at the dealer and with budget left) and the cart, and returns an
``AdjustmentCandidate`` with its discount per line, or a ``CampaignSkip`` saying why not
(``threshold_not_met``, ``not_applicable``, ``budget_exhausted``). The kernel then chooses
among every plugin's candidates and explains the result.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from vintry_sdk import (
    AdjustmentCandidate,
    CampaignSkip,
    CampaignView,
    CartDraft,
    GiftLine,
    PricedLine,
    from_fen,
    prorate,
    to_fen,
)

from vintry_discounts.campaign_types import (
    GIFT,
    LIMITED_TIME,
    QUANTITY_TIER,
    SPEND_OFF,
    GiftConfig,
    LimitedTimeConfig,
    QuantityTierConfig,
    Scope,
    SpendOffConfig,
)

Proposal = AdjustmentCandidate | CampaignSkip


def _in_scope(scope: Scope, cart: CartDraft) -> list[PricedLine]:
    return [line for line in cart.lines if scope.covers(line.sku, line.category)]


def _offer(view: CampaignView, reason: str, per_line: dict[int, Decimal], units: int) -> Proposal:
    """A candidate with these line discounts, unless the campaign's budget cannot cover it."""
    amount = sum(per_line.values(), start=Decimal(0))
    refusal = view.budget_refusal(amount=amount, units=units)
    if refusal is not None:
        return refusal
    return view.candidate(
        reason=reason,
        amount=amount,
        line_amounts={index: value for index, value in per_line.items() if value > 0},
        units=units,
    )


def spend_off(view: CampaignView, cart: CartDraft) -> Proposal:
    """The highest tier the lines in scope reach, spread over them by amount, to the fen."""
    config: SpendOffConfig = view.config
    lines = _in_scope(config, cart)
    spent = sum((line.amount for line in lines), start=Decimal(0))
    saving, tier, times = config.saving(spent)
    if tier is None:
        first = config.tiers[0]
        where = "" if config.whole_cart else " on its products"
        return view.skip(
            "threshold_not_met",
            f"spend {first.threshold - spent} more{where} to save {first.off}",
        )
    shares = prorate(to_fen(saving), [to_fen(line.amount) for line in lines])
    per_line = {line.index: from_fen(share) for line, share in zip(lines, shares, strict=True)}
    what = (
        f"save {tier.off} for every {tier.threshold} spent (x{times})"
        if config.repeat
        else (f"spend {tier.threshold}, save {tier.off}")
    )
    if saving < tier.off * times:
        what += f", at most {config.max_off}"
    units = sum(line.quantity for line in lines)
    return _offer(view, f"{view.name}: {what}", per_line, units)


def gift(view: CampaignView, cart: CartDraft) -> Proposal:
    """Gift sets earned by the lines in scope; the kernel adds them at zero price."""
    config: GiftConfig = view.config
    lines = _in_scope(config, cart)
    spent = sum((line.amount for line in lines), start=Decimal(0))
    units = sum(line.quantity for line in lines)
    sets = config.sets(spent, units)
    if sets == 0:
        missing = []
        if config.threshold is not None and spent < config.threshold:
            missing.append(f"spend {config.threshold - spent} more")
        if config.min_quantity is not None and units < config.min_quantity:
            missing.append(f"add {config.min_quantity - units} more units")
        return view.skip(
            "threshold_not_met",
            f"{' and '.join(missing)} to get {config.gift_quantity} x {config.gift_sku} free",
        )
    quantity = config.gift_quantity * sets
    refusal = view.budget_refusal(amount=Decimal(0), units=quantity)
    if refusal is not None:
        return refusal
    return view.candidate(
        reason=f"{view.name}: {quantity} x {config.gift_sku} free",
        amount=Decimal(0),
        units=quantity,
        gifts=(GiftLine(sku=config.gift_sku, quantity=quantity),),
    )


def limited_time(view: CampaignView, cart: CartDraft) -> Proposal:
    """The offer on every unit (up to ``max_units`` per line) of the lines in scope."""
    config: LimitedTimeConfig = view.config
    lines = _in_scope(config, cart)
    if not lines:
        return view.skip("not_applicable", "none of its products are in the cart")
    per_line: dict[int, Decimal] = {}
    units = 0
    for line in lines:
        discounted = min(line.quantity, config.max_units or line.quantity)
        saving = config.unit_discount(line.unit_price) * discounted
        if saving > 0:
            per_line[line.index] = saving
            units += discounted
    if not per_line:
        return view.skip("not_applicable", "the site's price is already at or below the offer")
    offer = (
        f"{config.percent_off}% off"
        if config.percent_off is not None
        else f"at {config.fixed_price}"
    )
    return _offer(view, f"{view.name}: {offer}", per_line, units)


def quantity_tier(view: CampaignView, cart: CartDraft) -> Proposal:
    """Each line in scope at the tier its quantity reaches."""
    config: QuantityTierConfig = view.config
    lines = _in_scope(config, cart)
    if not lines:
        return view.skip("not_applicable", "none of its products are in the cart")
    per_line: dict[int, Decimal] = {}
    units = 0
    for line in lines:
        tier = config.tier_for(line.quantity)
        if tier is None:
            continue
        saving = tier.unit_discount(line.unit_price) * line.quantity
        if saving > 0:
            per_line[line.index] = saving
            units += line.quantity
    if not per_line:
        lowest = config.tiers[0].min_quantity
        return view.skip("threshold_not_met", f"buy {lowest} or more units of a product")
    breaks = ", ".join(f"{cart.lines[i].sku}" for i in sorted(per_line))
    return _offer(view, f"{view.name}: quantity price on {breaks}", per_line, units)


EVALUATORS: dict[str, Callable[[CampaignView, CartDraft], Proposal]] = {
    SPEND_OFF: spend_off,
    GIFT: gift,
    LIMITED_TIME: limited_time,
    QUANTITY_TIER: quantity_tier,
}
"""Campaign type → what a campaign of it proposes for a cart."""
