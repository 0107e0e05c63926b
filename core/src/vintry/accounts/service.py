"""Users, tokens and authentication. No HTTP here."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vintry.accounts.models import ApiToken, Role, User
from vintry.accounts.permissions import permissions_of
from vintry.accounts.principal import Actor, Principal
from vintry.accounts.schemas import TokenCreate, TokenCreated, TokenOut, UserCreate, UserOut
from vintry.audit.service import record_change
from vintry.clock import ensure_utc
from vintry.contracts import DealerView
from vintry.dealers.models import Dealer
from vintry.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from vintry.platform import Platform
from vintry.sites.directory import SiteDirectory
from vintry.sites.models import SiteKind

TOKEN_PREFIX = "vt"
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_secret(secret: str) -> str:
    """SHA-256 of a token secret (secrets are random and long, so no slow hash is needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_user(
    platform: Platform, request: UserCreate, *, default_site: str, actor: Actor
) -> UserOut:
    """Create a user; the role decides which site and dealer it may belong to."""
    directory = platform.directory()
    site = directory.get(request.site or default_site)
    with platform.hq.transaction() as session:
        dealer_id: int | None = None
        if request.role is Role.DEALER:
            if not request.dealer:
                raise InvalidInput(
                    "a dealer user names its dealer", code="dealer_required", field="dealer"
                )
            dealer = session.scalar(select(Dealer).where(Dealer.code == request.dealer))
            if dealer is None or dealer.site_id != site.id:
                raise NotFound(
                    f"dealer {request.dealer!r} does not exist at site {site.code!r}",
                    code="dealer_not_found",
                    field="dealer",
                )
            dealer_id = dealer.id
        elif request.dealer is not None:
            raise InvalidInput(
                "only dealer users name a dealer", code="dealer_not_allowed", field="dealer"
            )
        if request.role is Role.HQ_ADMIN and site.kind is not SiteKind.HQ:
            raise InvalidInput(
                "an hq_admin belongs to the HQ site", code="invalid_site_for_role", field="site"
            )
        user = User(
            username=request.username,
            display_name=request.display_name,
            role=request.role,
            site_id=site.id,
            dealer_id=dealer_id,
            active=True,
            created_at=platform.clock.now(),
        )
        session.add(user)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(
                f"user {request.username!r} exists", code="user_exists", field="username"
            ) from None
        record_change(
            session,
            at=user.created_at,
            site_id=site.id,
            actor=actor,
            action="user.create",
            object_type="user",
            object_id=user.username,
            before=None,
            after={"role": user.role.value, "site": site.code, "dealer": request.dealer},
        )
        return user_out(session, directory, user)


def user_out(session: Session, directory: SiteDirectory, user: User) -> UserOut:
    """The API view of *user*."""
    dealer_code = session.get(Dealer, user.dealer_id).code if user.dealer_id else None  # type: ignore[union-attr]
    return UserOut(
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        site=directory.by_id(user.site_id).code,
        dealer=dealer_code,
        active=user.active,
        created_at=user.created_at,
        permissions=sorted(permissions_of(user.role)),
    )


def find_user(session: Session, username: str) -> User:
    """The user *username*, or NotFound."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"user {username!r} does not exist", code="user_not_found", field="username")
    return user


def issue_token(
    platform: Platform, user: User, request: TokenCreate, *, session: Session, actor: Actor
) -> TokenCreated:
    """Create a token for *user* in the caller's transaction and return its secret once."""
    now = platform.clock.now()
    days = request.expires_in_days or platform.settings.token_ttl_days
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = ApiToken(
        id=token_id,
        user_id=user.id,
        name=request.name,
        secret_hash=hash_secret(secret),
        created_at=now,
        expires_at=now + timedelta(days=days),
        revoked_at=None,
        last_used_at=None,
    )
    session.add(token)
    session.flush()
    record_change(
        session,
        at=now,
        site_id=user.site_id,
        actor=actor,
        action="token.create",
        object_type="token",
        object_id=token_id,
        before=None,
        after={
            "user": user.username,
            "name": request.name,
            "expires_at": token.expires_at.isoformat(),
        },
    )
    return TokenCreated(
        **token_out(token, user.username).model_dump(),
        token=f"{TOKEN_PREFIX}_{token_id}_{secret}",
    )


def revoke_token(
    platform: Platform, token: ApiToken, *, session: Session, actor: Actor
) -> TokenOut:
    """Revoke *token* (idempotent: a revoked token stays revoked at its first time)."""
    if token.revoked_at is None:
        token.revoked_at = platform.clock.now()
        record_change(
            session,
            at=token.revoked_at,
            site_id=token.user.site_id,
            actor=actor,
            action="token.revoke",
            object_type="token",
            object_id=token.id,
            before={"revoked_at": None},
            after={"revoked_at": token.revoked_at.isoformat()},
        )
    return token_out(token, token.user.username)


def token_out(token: ApiToken, username: str) -> TokenOut:
    """The API view of *token*, without its secret."""
    return TokenOut(
        id=token.id,
        name=token.name,
        username=username,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
    )


def parse_token(raw: str) -> tuple[str, str]:
    """Split ``vt_<id>_<secret>``; Unauthenticated if it is not that shape."""
    prefix, _, rest = raw.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != TOKEN_PREFIX or len(token_id) != 12 or not secret:
        raise Unauthenticated("the token is malformed", code="invalid_token")
    return token_id, secret


def authenticate(platform: Platform, raw: str, directory: SiteDirectory) -> Principal:
    """The principal behind bearer token *raw*; refuses unknown, expired and revoked tokens."""
    with platform.hq.reading() as session:
        principal, stale = authenticate_with(platform, raw, directory, session)
    if stale:
        touch_token(platform, principal.token_id)
    return principal


def touch_token(platform: Platform, token_id: str) -> None:
    """Record that token *token_id* was used now (recorded at one-minute resolution, so
    reads do not all become writes)."""
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        fresh = session.get(ApiToken, token_id)
        if fresh is not None:
            fresh.last_used_at = now


def authenticate_with(
    platform: Platform, raw: str, directory: SiteDirectory, session: Session
) -> tuple[Principal, bool]:
    """:func:`authenticate` on the caller's read *session* (a request reads the change
    counters on it first). Also says whether the token's ``last_used_at`` is stale: the
    caller then calls :func:`touch_token` once *session* is closed — never a second
    connection while one is held."""
    token_id, secret = parse_token(raw)
    now = platform.clock.now()
    row = session.execute(
        select(ApiToken, User, Dealer)
        .join(User, ApiToken.user_id == User.id)
        .outerjoin(Dealer, Dealer.id == User.dealer_id)
        .where(ApiToken.id == token_id)
    ).first()
    if row is None:
        raise Unauthenticated("the token is not known", code="invalid_token")
    token, user, dealer = row
    if not hmac.compare_digest(token.secret_hash, hash_secret(secret)):
        raise Unauthenticated("the token is not known", code="invalid_token")
    if token.revoked_at is not None:
        raise Unauthenticated("the token was revoked", code="token_revoked")
    if ensure_utc(token.expires_at) <= now:
        raise Unauthenticated("the token has expired", code="token_expired")
    if not user.active:
        raise Unauthenticated("the user is deactivated", code="user_inactive")
    stale = token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION
    principal = Principal(
        user_id=user.id,
        username=user.username,
        role=user.role,
        site=directory.by_id(user.site_id).code,
        dealer_id=user.dealer_id,
        token_id=token.id,
        dealer=None
        if dealer is None
        else DealerView(
            code=dealer.code,
            name=dealer.name,
            tier=dealer.tier.value,
            tags=tuple(dealer.tags),
            site=directory.by_id(dealer.site_id).code,
        ),
        dealer_active=dealer is not None and dealer.active,
    )
    return principal, stale
