"""Routes for users, the caller's profile and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status
from sqlalchemy import select

from vintry.accounts import service
from vintry.accounts.models import ApiToken, Role, User
from vintry.accounts.permissions import Permission
from vintry.accounts.schemas import TokenCreate, TokenCreated, TokenOut, UserCreate, UserOut
from vintry.api.security import RequestScope, authorize
from vintry.errors import NotFound, PermissionDenied

router = APIRouter(prefix="/api/v1", tags=["accounts"])
UsernameParam = Annotated[str, Path(max_length=64)]
TokenIdParam = Annotated[str, Path(max_length=16)]


def _manages(scope: RequestScope, user: User) -> bool:
    """Whether the caller may see and manage *user*: itself, or a user in its reach."""
    if user.id == scope.principal.user_id:
        return True
    if scope.principal.role is Role.DEALER:
        return False
    if scope.principal.role is Role.SITE_OPERATOR and user.role is Role.HQ_ADMIN:
        return False
    site_code = scope.directory.by_id(user.site_id).code
    return scope.directory.is_within(site_code, scope.site.code) and scope.principal.reaches_site(
        scope.directory, site_code
    )


def _managed_user(session, scope: RequestScope, username: str) -> User:  # type: ignore[no-untyped-def]
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not _manages(scope, user):
        raise NotFound(f"user {username!r} does not exist", code="user_not_found", field="username")
    return user  # type: ignore[no-any-return]


@router.get("/me", response_model=UserOut, summary="The caller")
def me(scope: RequestScope = Depends(authorize(Permission.PROFILE_READ))) -> UserOut:
    """The authenticated user, with its permissions."""
    with scope.platform.hq.reading() as session:
        user = session.get(User, scope.principal.user_id)
        assert user is not None
        return service.user_out(session, scope.directory, user)


@router.get("/users", response_model=list[UserOut], summary="Users of the subtree")
def list_users(scope: RequestScope = Depends(authorize(Permission.USERS_READ))) -> list[UserOut]:
    """Users belonging to the addressed site and below, as far as the caller manages."""
    ids = [scope.directory.get(code).id for code in scope.visible_site_codes()]
    with scope.platform.hq.reading() as session:
        users = session.scalars(select(User).where(User.site_id.in_(ids)).order_by(User.username))
        return [service.user_out(session, scope.directory, u) for u in users if _manages(scope, u)]


@router.post(
    "/users", response_model=UserOut, status_code=status.HTTP_201_CREATED, summary="Create a user"
)
def create_user(
    request: UserCreate, scope: RequestScope = Depends(authorize(Permission.USERS_WRITE))
) -> UserOut:
    """Create a user at the addressed site or below (only HQ admins create HQ admins)."""
    target = request.site or scope.site.code
    scope.require_site_within(target)
    if request.role is Role.HQ_ADMIN and scope.principal.role is not Role.HQ_ADMIN:
        raise PermissionDenied(
            "only an hq_admin grants hq_admin", code="role_not_grantable", field="role"
        )
    return service.create_user(
        scope.platform, request, default_site=scope.site.code, actor=scope.actor
    )


@router.get("/users/{username}", response_model=UserOut, summary="One user")
def get_user(
    username: UsernameParam, scope: RequestScope = Depends(authorize(Permission.USERS_READ))
) -> UserOut:
    """A user the caller manages."""
    with scope.platform.hq.reading() as session:
        return service.user_out(session, scope.directory, _managed_user(session, scope, username))


@router.get("/tokens", response_model=list[TokenOut], summary="Tokens the caller manages")
def list_tokens(
    scope: RequestScope = Depends(authorize(Permission.TOKENS_MANAGE)),
) -> list[TokenOut]:
    """The caller's own tokens (secrets are never shown)."""
    with scope.platform.hq.reading() as session:
        tokens = session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == scope.principal.user_id)
            .order_by(ApiToken.created_at)
        )
        return [service.token_out(t, scope.principal.username) for t in tokens]


@router.post(
    "/tokens",
    response_model=TokenCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create a token",
)
def create_token(
    request: TokenCreate, scope: RequestScope = Depends(authorize(Permission.TOKENS_MANAGE))
) -> TokenCreated:
    """A new token for the caller or a user it manages; the secret is in this response only."""
    with scope.platform.hq.transaction() as session:
        user = _managed_user(session, scope, request.username or scope.principal.username)
        return service.issue_token(
            scope.platform, user, request, session=session, actor=scope.actor
        )


@router.delete("/tokens/{token_id}", response_model=TokenOut, summary="Revoke a token")
def revoke_token(
    token_id: TokenIdParam, scope: RequestScope = Depends(authorize(Permission.TOKENS_MANAGE))
) -> TokenOut:
    """Revoke a token of the caller or of a user it manages; it stops working at once."""
    with scope.platform.hq.transaction() as session:
        token = session.get(ApiToken, token_id)
        if token is None or not _manages(scope, token.user):
            raise NotFound(
                f"token {token_id!r} does not exist", code="token_not_found", field="token_id"
            )
        return service.revoke_token(scope.platform, token, session=session, actor=scope.actor)
