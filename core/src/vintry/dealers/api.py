"""Routes for the dealers of the addressed site."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from vintry.accounts.models import Role
from vintry.accounts.permissions import Permission
from vintry.api.security import RequestScope, authorize
from vintry.dealers import service
from vintry.dealers.models import DealerTier
from vintry.dealers.schemas import DealerCreate, DealerOut, DealerUpdate
from vintry.errors import NotFound

router = APIRouter(prefix="/api/v1/dealers", tags=["dealers"])
DealerCodeParam = Annotated[str, Path(max_length=32)]


def _own_dealer_only(scope: RequestScope) -> int | None:
    return scope.principal.dealer_id if scope.principal.role is Role.DEALER else None


@router.get("", response_model=list[DealerOut], summary="Dealers of the site")
def list_dealers(
    tier: DealerTier | None = None,
    tag: str | None = Query(default=None, max_length=32),
    after: str | None = Query(
        default=None, max_length=32, description="Last code of the previous page."
    ),
    limit: int = Query(default=100, ge=1, le=1000),
    scope: RequestScope = Depends(authorize(Permission.DEALERS_READ)),
) -> list[DealerOut]:
    """Dealers of the addressed site by code, a page at a time; a dealer sees only itself."""
    with scope.platform.hq.reading() as session:
        return service.list_dealers(
            session,
            scope.directory,
            scope.site.code,
            tier=tier,
            tag=tag,
            only_id=_own_dealer_only(scope),
            after=after,
            limit=limit,
        )


@router.post(
    "", response_model=DealerOut, status_code=status.HTTP_201_CREATED, summary="Create a dealer"
)
def create_dealer(
    request: DealerCreate, scope: RequestScope = Depends(authorize(Permission.DEALERS_WRITE))
) -> DealerOut:
    """Register a dealer company with the addressed site."""
    return service.create_dealer(scope.platform, scope.site.code, request, actor=scope.actor)


@router.get("/{code}", response_model=DealerOut, summary="One dealer")
def get_dealer(
    code: DealerCodeParam, scope: RequestScope = Depends(authorize(Permission.DEALERS_READ))
) -> DealerOut:
    """A dealer of the addressed site; a dealer caller can only read itself."""
    with scope.platform.hq.reading() as session:
        dealer = service.get_dealer(session, scope.directory, scope.site.code, code)
        own = _own_dealer_only(scope)
        if own is not None and dealer.id != own:
            raise NotFound(
                f"dealer {code!r} does not exist at site {scope.site.code!r}",
                code="dealer_not_found",
                field="dealer",
            )
        return service.dealer_out(scope.directory, dealer)


@router.patch("/{code}", response_model=DealerOut, summary="Change a dealer")
def update_dealer(
    code: DealerCodeParam,
    request: DealerUpdate,
    scope: RequestScope = Depends(authorize(Permission.DEALERS_WRITE)),
) -> DealerOut:
    """Change a dealer's name, tier, tags, contact or active flag."""
    return service.update_dealer(scope.platform, scope.site.code, code, request, actor=scope.actor)
