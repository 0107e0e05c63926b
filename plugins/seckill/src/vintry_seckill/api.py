"""The plugin's routes, under ``/api/v1/x/seckill/`` of the addressed site.

Operators create, publish, edit and end flash sales through the kernel's campaign routes
(``/api/v1/campaigns`` with ``"type": "seckill"``); the routes here are what is specific to
a flash sale: dealers' attempts and holds, the counters, the sweeper and the Redis rebuild.

The attempt route is served by :class:`~vintry_seckill.board.SoldOutShortcut`: a sale this
worker saw sold out is answered 409 before authentication and body parsing (for callers it
recently authorised there), so the sold-out rush costs no database work at all. Any other
attempt is announced to its site's committer (:class:`AttemptRoute`) and served on the event
loop; its write is awaited from the committer's writer thread.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from vintry.api.middleware import site_hint
from vintry_sdk import InvalidInput, Permission, RequestScope, authorize

from vintry_seckill.admission import attempt, committer, load_into_redis, redis_counter
from vintry_seckill.board import SoldOutShortcut, board_for
from vintry_seckill.holds import expire_due, list_holds, sale_status
from vintry_seckill.models import HoldStatus
from vintry_seckill.sales import sale_cache
from vintry_seckill.schemas import AttemptRequest, ExpiryReport, HoldOut, SaleStatus

ARRIVAL_KEY = "vintry.seckill.arrival"


class AttemptRoute(SoldOutShortcut):
    """The attempt route: answered from the sold-out board when it can be; otherwise the
    attempt is announced to its site's committer before authentication and parsing, so the
    batch being gathered meanwhile may wait for it (a lone attempt never waits)."""

    async def serve(
        self, request: Request, handler: Callable[[Request], Coroutine[Any, Any, Response]]
    ) -> Response:
        """Announce the attempt while the handler runs; withdraw it if it never submits."""
        platform = request.app.state.platform
        site = board_for(platform).site_of(request)
        if site is None:
            return await handler(request)
        writer = committer(platform, site)
        arrival = writer.announce()
        request.scope[ARRIVAL_KEY] = (site, arrival)
        try:
            return await handler(request)
        finally:
            writer.withdraw(arrival)


router = APIRouter(tags=["seckill"])
attempts_router = APIRouter(tags=["seckill"], route_class=AttemptRoute)


@attempts_router.post(
    "/sales/{campaign}/attempts",
    response_model=HoldOut,
    status_code=201,
    summary="Grab units of a flash sale",
)
async def create_attempt(
    campaign: str,
    request: Request,
    scope: Annotated[RequestScope, Depends(authorize(Permission.ORDERS_PLACE))],
    body: Annotated[AttemptRequest | None, Body()] = None,
) -> HoldOut:
    """Hold units of the sale for the calling dealer, to be ordered within the hold time.

    409 ``seckill_sold_out`` / ``seckill_not_enough_left`` when the quota cannot cover it,
    ``seckill_limit_reached`` past the dealer's limit, ``campaign_not_live`` outside the
    window; 403 ``campaign_not_targeted``; 404 ``seckill_not_found``.
    """
    principal = scope.principal
    if principal.dealer is None or not principal.dealer_active:
        raise InvalidInput(
            "only an active dealer of this site can take part in a flash sale",
            code="dealer_inactive",
            field="dealer",
        )
    authorization = request.headers.get("authorization")
    if authorization:
        board_for(scope.platform).remember_caller(
            authorization, scope.site.code, site_hint(request.scope)[1], scope.platform.clock.now()
        )
    quantity = body.quantity if body is not None else 1
    return await attempt(
        scope.site, principal.dealer, campaign, quantity, request.scope.get(ARRIVAL_KEY)
    )


@router.get("/holds", response_model=list[HoldOut], summary="The calling dealer's holds")
def my_holds(
    scope: Annotated[RequestScope, Depends(authorize(Permission.ORDERS_PLACE))],
    campaign: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[HoldStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[HoldOut]:
    """The calling dealer's holds at this site, newest first."""
    dealer = scope.principal.dealer
    if dealer is None:
        return []
    return list_holds(scope.site, dealer=dealer.code, campaign=campaign, status=status,
                      limit=limit)


@router.get("/sales/{campaign}", response_model=SaleStatus, summary="A flash sale's counter")
def read_sale(
    campaign: str,
    scope: Annotated[RequestScope, Depends(authorize(Permission.CATALOG_READ))],
) -> SaleStatus:
    """How many units are left, held, ordered and paid (operators also see the Redis hash)."""
    sale = sale_cache(scope.platform).get(scope.site, campaign)
    operator = scope.principal.can(Permission.CAMPAIGNS_READ)
    return sale_status(scope.site, sale, with_redis=operator)


@router.get(
    "/sales/{campaign}/holds", response_model=list[HoldOut], summary="A flash sale's holds"
)
def sale_holds(
    campaign: str,
    scope: Annotated[RequestScope, Depends(authorize(Permission.CAMPAIGNS_READ))],
    dealer: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[HoldStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[HoldOut]:
    """Every dealer's holds of the sale, newest first (operators and HQ)."""
    sale_cache(scope.platform).get(scope.site, campaign)  # 404 for a code of no sale
    return list_holds(scope.site, dealer=dealer, campaign=campaign, status=status, limit=limit)


@router.post(
    "/sales/{campaign}/counter/rebuild",
    response_model=SaleStatus,
    summary="Reload the sale's Redis counter from the database",
)
def rebuild_counter(
    campaign: str,
    scope: Annotated[RequestScope, Depends(authorize(Permission.CAMPAIGNS_WRITE))],
) -> SaleStatus:
    """Replace the sale's Redis hash with the database's counter (a no-op on the SQL path)."""
    sale = sale_cache(scope.platform).get(scope.site, campaign)
    counter = redis_counter(scope.site)
    if counter is not None:
        load_into_redis(counter, scope.site, sale)
    board_for(scope.platform).clear(scope.site.code, campaign)
    return sale_status(scope.site, sale, with_redis=True)


@router.post(
    "/holds/expire", response_model=ExpiryReport, summary="Expire the holds whose time ran out"
)
def expire_holds_now(
    scope: Annotated[RequestScope, Depends(authorize(Permission.CAMPAIGNS_WRITE))],
) -> ExpiryReport:
    """The sweeper, for a scheduler: holds past their time give their units back."""
    return expire_due(scope.site)


__all__ = ["attempts_router", "router"]
