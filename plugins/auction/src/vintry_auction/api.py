"""The auction routes, under ``/api/v1/x/auction/`` on every site where the plugin is on.

Operators create, publish, end and cancel auctions through the kernel's campaign routes
(``/api/v1/campaigns``, types ``english-auction`` and ``dutch-auction``); here they read
the lots with every bid and sale (``campaigns:read``) and run the sweep
(``campaigns:write``). Dealers (``orders:place``) see the auctions aimed at them, bid and
buy. The router is thin: :mod:`vintry_auction.service` decides.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from vintry_sdk import (
    DealerView,
    InvalidInput,
    Permission,
    RequestScope,
    authorize,
    to_fen,
)

from vintry_auction import service
from vintry_auction.schemas import AuctionOut, BidIn, BidOut, PurchaseIn, SaleOut, SweepOut

router = APIRouter(tags=["auction"])
Code = Annotated[str, Path(max_length=64, description="The auction campaign's code.")]
Dealer = Annotated[RequestScope, Depends(authorize(Permission.ORDERS_PLACE))]
Reader = Annotated[RequestScope, Depends(authorize(Permission.CAMPAIGNS_READ))]
Writer = Annotated[RequestScope, Depends(authorize(Permission.CAMPAIGNS_WRITE))]


def _dealer(scope: RequestScope) -> tuple[DealerView, int]:
    principal = scope.principal
    if principal.dealer is None or principal.dealer_id is None or not principal.dealer_active:
        raise InvalidInput(
            "only an active dealer takes part in auctions", code="dealer_required", field="dealer"
        )
    return principal.dealer, principal.dealer_id


@router.get("/auctions", response_model=list[AuctionOut], summary="Auctions open to me")
def dealer_auctions(scope: Dealer) -> list[AuctionOut]:
    """The site's published auctions aimed at the calling dealer (ended ones for a day)."""
    dealer, _ = _dealer(scope)
    return service.list_auctions(scope.site, viewer=dealer)


@router.get("/auctions/{code}", response_model=AuctionOut, summary="One auction, as I see it")
def dealer_auction(code: Code, scope: Dealer) -> AuctionOut:
    """An auction aimed at the caller: price, end in force, recent bids, my purchases."""
    dealer, _ = _dealer(scope)
    campaign = service.find_campaign(scope.site, code, dealer)
    return service.auction_out(scope.site, campaign, viewer=dealer)


@router.post(
    "/auctions/{code}/bids",
    status_code=201,
    response_model=BidOut,
    summary="Bid on an English auction",
)
def bid(code: Code, body: BidIn, scope: Dealer) -> BidOut:
    """Bid a unit price for the whole lot: accepted only above the leader by the increment,
    before the end in force (a bid in the final window extends it)."""
    dealer, dealer_id = _dealer(scope)
    return service.place_bid(
        scope.site, code, dealer=dealer, dealer_id=dealer_id, amount_fen=to_fen(body.amount)
    )


@router.post(
    "/auctions/{code}/purchases",
    status_code=201,
    response_model=SaleOut,
    summary="Take units of a Dutch auction at the price in force",
)
def purchase(code: Code, body: PurchaseIn, scope: Dealer) -> SaleOut:
    """Take units at the step price in force; the order follows at that price."""
    dealer, dealer_id = _dealer(scope)
    expected = None if body.expected_price is None else to_fen(body.expected_price)
    return service.buy(
        scope.site,
        code,
        dealer=dealer,
        dealer_id=dealer_id,
        quantity=body.quantity,
        expected_fen=expected,
    )


@router.get("/lots", response_model=list[AuctionOut], summary="Every auction of the site")
def operator_lots(scope: Reader) -> list[AuctionOut]:
    """Every auction of the addressed site with its lot (no bids listed)."""
    return service.list_auctions(scope.site, viewer=None)


@router.get("/lots/{code}", response_model=AuctionOut, summary="An auction with every bid")
def operator_lot(code: Code, scope: Reader) -> AuctionOut:
    """An auction of the addressed site with its lot, every bid (bidders named) and sale."""
    campaign = service.find_campaign(scope.site, code)
    return service.auction_out(scope.site, campaign, viewer=None)


@router.post("/sweep", response_model=SweepOut, summary="Open, close and settle what is due")
def sweep(scope: Writer) -> SweepOut:
    """Hold the stock of lots not yet held, close lots past their end (winners get their
    orders, unsold stock goes back), retry sales left pending. Idempotent; for schedulers."""
    return service.close_due(scope.site)
