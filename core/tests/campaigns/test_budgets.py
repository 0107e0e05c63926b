"""Budgets drawn atomically by the orders that use a campaign, given back exactly once.

The draw is the saga's claim step (``vintry_claim_resources`` of the built-in
``vintry-campaigns``), called here with the adjustments the pricing pipeline applied.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from vintry.contracts import OrderDraft, ResourceClaim
from vintry.errors import Conflict
from vintry.orders.placement import unrecorded_claims
from vintry.orders.pricing import LineInput, PricedCart, price_lines
from vintry.platform import Platform

from .conftest import EAST, SKU_A, Shop

BUILTIN = "vintry-campaigns"


def _priced(platform: Platform, dealer_code: str, quantity: int = 1) -> PricedCart:
    from sqlalchemy import select
    from vintry.contracts import DealerView
    from vintry.dealers.models import Dealer

    directory, state = platform.refresh()
    site = platform.site(EAST, directory, state)
    with platform.hq.reading() as session:
        dealer = session.scalar(select(Dealer).where(Dealer.code == dealer_code))
        assert dealer is not None
        view = DealerView(
            code=dealer.code,
            name=dealer.name,
            tier=dealer.tier.value,
            tags=tuple(dealer.tags),
            site=EAST,
        )
        return price_lines(
            session,
            site,
            view,
            [LineInput(SKU_A, quantity)],
            platform.clock.now(),
            directory=directory,
        )


def _draft(priced: PricedCart, number: str) -> OrderDraft:
    return OrderDraft(
        number=number,
        site=EAST,
        dealer=priced.draft.dealer,
        lines=priced.draft.lines,
        adjustments=priced.adjustments,
        total=Decimal(priced.total_fen) / 100,
    )


def _claim(platform: Platform, draft: OrderDraft) -> list[ResourceClaim]:
    site = platform.site(EAST)
    impl = next(
        i for i in site.hooks.implementations("vintry_claim_resources") if i.plugin_name == BUILTIN
    )
    return list(impl.function(draft=draft, site=site))


def _release(platform: Platform, claims: list[ResourceClaim]) -> None:
    site = platform.site(EAST)
    impl = next(
        i
        for i in site.hooks.implementations("vintry_release_resources")
        if i.plugin_name == BUILTIN
    )
    impl.function(claims=claims, site=site)


def _budget(shop: Shop, code: str = "C1") -> dict[str, object]:
    return dict(shop.operator[EAST].get(f"/api/v1/campaigns/{code}").json()["budget"])


def test_orders_draw_the_budget_and_a_release_gives_it_back_once(shop: Shop) -> None:
    shop.campaign(budget={"amount": "250.00", "units": 3})
    priced = _priced(shop.platform, shop.dealer_codes["east-gold"], 2)
    assert [a.campaign for a in priced.adjustments] == ["C1"]
    claims = _claim(shop.platform, _draft(priced, "VO-1"))
    assert claims[0].resource == "campaign:C1" and claims[0].quantity == 2
    assert _budget(shop)["used_amount"] == "200.00" and _budget(shop)["used_units"] == 2
    # 50.00 and 1 unit are left: the next cart of one unit is priced, and drawn, in full.
    second = _priced(shop.platform, shop.dealer_codes["east-silver"], 1)
    assert second.discount_fen == 0
    assert {e.campaign: e.code for e in second.rejected}["C1"] == "budget_exhausted"
    _release(shop.platform, claims)
    _release(shop.platform, claims)  # the sweeper may repeat it: given back once
    assert _budget(shop)["used_amount"] == "0.00" and _budget(shop)["used_units"] == 0


def test_draws_the_placement_never_recorded_are_given_back_by_order_number(
    shop: Shop,
) -> None:
    # The process died right after the claim hook: the sweeper knows only the order number.
    shop.campaign(budget={"amount": "250.00", "units": 3})
    _claim(shop.platform, _draft(_priced(shop.platform, shop.dealer_codes["east-gold"], 2), "VO-9"))
    assert _budget(shop)["used_units"] == 2
    unrecorded = unrecorded_claims("VO-9")
    assert unrecorded.payload == {"order": "VO-9", "unrecorded": True}
    _release(shop.platform, [unrecorded])
    _release(shop.platform, [unrecorded])  # idempotent
    assert _budget(shop)["used_amount"] == "0.00" and _budget(shop)["used_units"] == 0


def test_a_draw_that_does_not_fit_refuses_the_order_and_draws_nothing(shop: Shop) -> None:
    shop.campaign(budget={"amount": "150.00"})
    priced = _priced(shop.platform, shop.dealer_codes["east-gold"], 1)
    _claim(shop.platform, _draft(priced, "VO-1"))
    with pytest.raises(Conflict) as refused:
        _claim(shop.platform, _draft(priced, "VO-2"))  # priced before the first drew
    assert refused.value.code == "campaign_budget_exhausted"
    assert _budget(shop)["used_amount"] == "100.00"


def test_uses_per_dealer_hold_across_orders(shop: Shop) -> None:
    shop.campaign(budget={"uses_per_dealer": 1})
    dealer = shop.dealer_codes["east-gold"]
    first = _priced(shop.platform, dealer)
    _claim(shop.platform, _draft(first, "VO-1"))
    again = _priced(shop.platform, dealer)
    assert {e.campaign: e.why for e in again.rejected}["C1"] == (
        "this dealer used it 1 of 1 times allowed"
    )
    with pytest.raises(Conflict) as refused:
        _claim(shop.platform, _draft(first, "VO-2"))
    assert refused.value.code == "campaign_limit_reached"
    other = _priced(shop.platform, shop.dealer_codes["east-silver"])
    assert other.discount_fen == 10_000


def test_concurrent_orders_never_overdraw_a_budget(shop: Shop) -> None:
    shop.campaign(budget={"units": 5})
    priced = _priced(shop.platform, shop.dealer_codes["east-gold"], 1)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(number: int) -> None:
        try:
            _claim(shop.platform, _draft(priced, f"VO-{number}"))
            result = "drawn"
        except Conflict as error:
            result = error.code
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes.count("drawn") == 5
    assert outcomes.count("campaign_budget_exhausted") == 11
    assert _budget(shop)["used_units"] == 5


def test_a_cancelled_order_gives_its_draws_back(shop: Shop) -> None:
    shop.campaign(budget={"amount": "1000.00"})
    priced = _priced(shop.platform, shop.dealer_codes["east-gold"], 1)
    _claim(shop.platform, _draft(priced, "VO-9"))
    assert _budget(shop)["used_amount"] == "100.00"
    shop.platform.emit("order.status_changed", EAST, {"number": "VO-9", "to": "cancelled"})
    shop.platform.emit("order.status_changed", EAST, {"number": "VO-9", "to": "cancelled"})
    assert _budget(shop)["used_amount"] == "0.00"
