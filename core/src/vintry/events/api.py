"""Routes of the relay: its status and its dead letters (HQ administrators).

Dead letters are scoped like everything else: those of the addressed site's subtree, as
far as the caller's tenant reaches; a letter of another site is 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from vintry.accounts.permissions import Permission
from vintry.api.security import RequestScope, authorize
from vintry.events.dead_letters import list_dead_letters, relay_status, retry_dead_letter
from vintry.events.schemas import DeadLetterOut, RelayStatusOut

router = APIRouter(prefix="/api/v1/relay", tags=["relay"])
LetterId = Annotated[int, Path(ge=1, le=2**62, description="The dead letter's id.")]


@router.get("/status", response_model=RelayStatusOut, summary="The relay's cursor and lag")
def get_status(scope: RequestScope = Depends(authorize(Permission.RELAY_READ))) -> RelayStatusOut:
    """The cursor of the site read-model consumer, the outbox's highest id, the lag between
    them, and the open dead letters of the addressed subtree."""
    return relay_status(scope.platform, sites=scope.visible_site_codes())


@router.get("/dead-letters", response_model=list[DeadLetterOut], summary="Events that kept failing")
def get_dead_letters(
    include_resolved: bool = Query(default=False, description="Also those retried since."),
    after: int | None = Query(default=None, ge=0, le=2**62, description="Last id seen."),
    limit: int = Query(default=100, ge=1, le=500),
    scope: RequestScope = Depends(authorize(Permission.RELAY_READ)),
) -> list[DeadLetterOut]:
    """Dead letters of the addressed subtree by id, open ones unless ``include_resolved``."""
    return list_dead_letters(
        scope.platform,
        sites=scope.visible_site_codes(),
        include_resolved=include_resolved,
        after=after,
        limit=limit,
    )


@router.post(
    "/dead-letters/{letter_id}/retry",
    response_model=DeadLetterOut,
    summary="Retry a dead letter",
    responses={404: {"description": "dead_letter_not_found"}},
)
def post_retry(
    letter_id: LetterId,
    scope: RequestScope = Depends(authorize(Permission.RELAY_MANAGE)),
) -> DeadLetterOut:
    """Re-run the failed consumer for the letter's event. The answer is the letter after
    the attempt: ``resolved_at`` set if it succeeded, else the new ``error``."""
    return retry_dead_letter(scope.platform, letter_id, sites=scope.visible_site_codes())
