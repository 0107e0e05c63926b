"""The group-buy routes, under ``/api/v1/x/groupbuy/`` on every site where the plugin is on.

Operators create and publish deals through the kernel's campaign routes (type
``group-buy``); here they read a deal with every group and member (``campaigns:read``) and
run the sweep (``campaigns:write``). Dealers (``orders:place``) see the deals aimed at them,
open groups and join them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from vintry_sdk import DealerView, InvalidInput, Permission, RequestScope, authorize

from vintry_groupbuy import service
from vintry_groupbuy.schemas import DealOut, GroupOut, JoinIn, SweepOut

router = APIRouter(tags=["groupbuy"])
DealCode = Annotated[str, Path(max_length=64, description="The deal's campaign code.")]
GroupCode = Annotated[str, Path(max_length=32, description="The group's code.")]
Dealer = Annotated[RequestScope, Depends(authorize(Permission.ORDERS_PLACE))]
Reader = Annotated[RequestScope, Depends(authorize(Permission.CAMPAIGNS_READ))]
Writer = Annotated[RequestScope, Depends(authorize(Permission.CAMPAIGNS_WRITE))]


def _dealer(scope: RequestScope) -> tuple[DealerView, int]:
    principal = scope.principal
    if principal.dealer is None or principal.dealer_id is None or not principal.dealer_active:
        raise InvalidInput(
            "only an active dealer joins group buys", code="dealer_required", field="dealer"
        )
    return principal.dealer, principal.dealer_id


@router.get("/deals", response_model=list[DealOut], summary="Live deals open to me")
def dealer_deals(scope: Dealer) -> list[DealOut]:
    """The live group-buy deals aimed at the caller, with their joinable groups."""
    dealer, _ = _dealer(scope)
    return service.list_deals(scope.site, viewer=dealer)


@router.get("/deals/{code}", response_model=DealOut, summary="A deal, as I see it")
def dealer_deal(code: DealCode, scope: Dealer) -> DealOut:
    """A deal aimed at the caller with its joinable groups and the caller's own."""
    dealer, _ = _dealer(scope)
    return service.deal_out(scope.site, service.find_deal(scope.site, code, dealer), viewer=dealer)


@router.post(
    "/deals/{code}/groups",
    status_code=201,
    response_model=GroupOut,
    summary="Open a group on a deal",
)
def open_group(code: DealCode, body: JoinIn, scope: Dealer) -> GroupOut:
    """Open a group; the caller is its first member, its units held until the group closes."""
    dealer, dealer_id = _dealer(scope)
    return service.open_group(
        scope.site, code, dealer=dealer, dealer_id=dealer_id, quantity=body.quantity
    )


@router.get("/groups/{group}", response_model=GroupOut, summary="A group, as I see it")
def dealer_group(group: GroupCode, scope: Dealer) -> GroupOut:
    """A group of a deal aimed at the caller: members, units, the tier reached."""
    dealer, _ = _dealer(scope)
    return service.group_out(
        scope.site, service.find_group(scope.site, group, dealer), viewer=dealer
    )


@router.post(
    "/groups/{group}/members", status_code=201, response_model=GroupOut, summary="Join a group"
)
def join(group: GroupCode, body: JoinIn, scope: Dealer) -> GroupOut:
    """Join with the units wanted (held at once); the join meeting the minimums makes the
    group succeed."""
    dealer, dealer_id = _dealer(scope)
    return service.join_group(
        scope.site, group, dealer=dealer, dealer_id=dealer_id, quantity=body.quantity
    )


@router.get(
    "/deals/{code}/groups",
    response_model=list[GroupOut],
    summary="Every group of a deal, with members",
)
def operator_groups(code: DealCode, scope: Reader) -> list[GroupOut]:
    """Every group of a deal of the addressed site, members named."""
    deal = service.find_deal(scope.site, code)
    return service.deal_out(scope.site, deal, viewer=None).groups


@router.post("/sweep", response_model=SweepOut, summary="Fail expired groups, settle closed ones")
def sweep(scope: Writer) -> SweepOut:
    """Fail expired groups that did not succeed (holds released) and place every member's
    order of closed successful ones at the tier reached. Idempotent; for schedulers."""
    return service.sweep(scope.site)
