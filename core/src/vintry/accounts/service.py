"""Users, tokens and authentication. No HTTP here."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vintry.accounts.models import ApiToken, Role, User
from vintry.accounts.permissions import permissions_of
from vintry.accounts.principal import Actor, Principal
from vintry.accounts.schemas import TokenCreate, TokenCreated, TokenOut, UserCreate, UserOut
from vintry.audit.service import record_change
from vintry.clock import ensure_utc
from vintry.contracts import DealerView
from vintry.db.base import table
from vintry.db.counters import ChangeCounter
from vintry.db.databases import Database
from vintry.db.prepared import PreparedRead
from vintry.dealers.models import Dealer, DealerTier
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


@dataclass(frozen=True)
class TokenRow:
    """What one query read for a bearer token: the token, its user, the user's dealer and
    (with :func:`read_token`) every change counter, as HQ had them at that instant."""

    token_id: str
    secret_hash: str
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    user_id: int
    username: str
    role: Role
    user_site_id: int
    user_active: bool
    dealer_id: int | None
    dealer_code: str | None
    dealer_name: str | None
    dealer_tier: DealerTier | None
    dealer_tags: list[str] | None
    dealer_site_id: int | None
    dealer_active: bool | None
    counters: dict[str, int] | None = None


def _token_query(counters: Any | None) -> Select[Any]:
    """The token, user and dealer columns (Core columns: no ORM objects to build and
    discard), and optionally an aggregate of every change counter."""
    tokens, users, dealers = table(ApiToken).c, table(User).c, table(Dealer).c
    columns: list[Any] = [
        tokens.id,
        tokens.secret_hash,
        tokens.expires_at,
        tokens.revoked_at,
        tokens.last_used_at,
        users.id,
        users.username,
        users.role,
        users.site_id,
        users.active,
        users.dealer_id,
        dealers.code,
        dealers.name,
        dealers.tier,
        dealers.tags,
        dealers.site_id,
        dealers.active,
    ]
    if counters is not None:
        columns.append(counters)
    return (
        select(*columns)
        .select_from(
            table(ApiToken)
            .join(table(User), users.id == tokens.user_id)
            .outerjoin(table(Dealer), dealers.id == users.dealer_id)
        )
        .where(tokens.id == bindparam("token_id"))
    )


def _counters_aggregate(dialect: str) -> Any:
    """Every change counter as one JSON object: ``json_object_agg`` on PostgreSQL,
    ``json_group_object`` on SQLite."""
    counters = table(ChangeCounter).c
    aggregate = func.json_object_agg if dialect == "postgresql" else func.json_group_object
    return select(aggregate(counters.name, counters.version)).scalar_subquery()


# Built once: a statement object reused keeps its cache key, so each request skips
# building the query and computing the key for SQLAlchemy's compiled cache.
_TOKEN_ONLY = _token_query(None)
_TOKEN_AND_COUNTERS = {
    dialect: _token_query(_counters_aggregate(dialect)) for dialect in ("sqlite", "postgresql")
}


def read_token(session: Session, raw: str, *, with_counters: bool = False) -> TokenRow:
    """The row of bearer token *raw* in one statement on *session* (401 when the token is
    malformed or unknown). With *with_counters* the change counters come in the same
    statement, so a request reads the token and the versions of everything cached in one
    round trip, from one snapshot."""
    token_id, _secret = parse_token(raw)
    connection = session.connection()
    query = _TOKEN_AND_COUNTERS[connection.dialect.name] if with_counters else _TOKEN_ONLY
    row = connection.execute(query, {"token_id": token_id}).first()
    return _token_row(None if row is None else tuple(row), with_counters=with_counters)


_PREPARED_TOKEN_AND_COUNTERS = {
    dialect: PreparedRead(query) for dialect, query in _TOKEN_AND_COUNTERS.items()
}


def read_token_and_counters(database: Database, raw: str) -> TokenRow:
    """:func:`read_token` with the counters, as a prepared read on a pooled connection of
    *database* (HQ) without a Session: what every authorised request runs first."""
    token_id, _secret = parse_token(raw)
    engine = database.engine
    row = _PREPARED_TOKEN_AND_COUNTERS[engine.dialect.name].first(engine, {"token_id": token_id})
    return _token_row(row, with_counters=True)


def _token_row(row: tuple[Any, ...] | None, *, with_counters: bool) -> TokenRow:
    if row is None:
        raise Unauthenticated("the token is not known", code="invalid_token")
    counters: dict[str, int] | None = None
    if with_counters:
        value = row[17]
        if isinstance(value, str | bytes):
            value = json.loads(value)
        counters = {str(name): int(version) for name, version in (value or {}).items()}
    (
        token_id,
        secret_hash,
        expires_at,
        revoked_at,
        last_used_at,
        user_id,
        username,
        role,
        user_site_id,
        user_active,
        dealer_id,
        dealer_code,
        dealer_name,
        dealer_tier,
        dealer_tags,
        dealer_site_id,
        dealer_active,
    ) = row[:17]
    return TokenRow(
        token_id=token_id,
        secret_hash=secret_hash,
        expires_at=expires_at,
        revoked_at=revoked_at,
        last_used_at=last_used_at,
        user_id=user_id,
        username=username,
        role=role,
        user_site_id=user_site_id,
        user_active=user_active,
        dealer_id=dealer_id,
        dealer_code=dealer_code,
        dealer_name=dealer_name,
        dealer_tier=dealer_tier,
        dealer_tags=dealer_tags,
        dealer_site_id=dealer_site_id,
        dealer_active=dealer_active,
        counters=counters,
    )


def authenticate_with(
    platform: Platform,
    raw: str,
    directory: SiteDirectory,
    session: Session | None,
    *,
    found: TokenRow | None = None,
) -> tuple[Principal, bool]:
    """:func:`authenticate` on the caller's read *session* (a request reads the change
    counters on it first), or of the token row the caller *found* already (with
    :func:`read_token_and_counters`; *session* may then be None). Also says whether the
    token's ``last_used_at`` is stale: the caller then calls :func:`touch_token` once
    *session* is closed — never a second connection while one is held."""
    _token_id, secret = parse_token(raw)
    if found is None:
        if session is None:
            raise TypeError("authenticate_with needs a session or the token row found")
        found = read_token(session, raw)
    now = platform.clock.now()
    if not hmac.compare_digest(found.secret_hash, hash_secret(secret)):
        raise Unauthenticated("the token is not known", code="invalid_token")
    if found.revoked_at is not None:
        raise Unauthenticated("the token was revoked", code="token_revoked")
    if ensure_utc(found.expires_at) <= now:
        raise Unauthenticated("the token has expired", code="token_expired")
    if not found.user_active:
        raise Unauthenticated("the user is deactivated", code="user_inactive")
    last_used = found.last_used_at
    stale = last_used is None or now - last_used >= LAST_USED_RESOLUTION
    dealer = None
    if found.dealer_code is not None:
        assert found.dealer_name is not None and found.dealer_tier is not None
        assert found.dealer_site_id is not None
        dealer = DealerView(
            code=found.dealer_code,
            name=found.dealer_name,
            tier=found.dealer_tier.value,
            tags=tuple(found.dealer_tags or ()),
            site=directory.by_id(found.dealer_site_id).code,
        )
    principal = Principal(
        user_id=found.user_id,
        username=found.username,
        role=found.role,
        site=directory.by_id(found.user_site_id).code,
        dealer_id=found.dealer_id,
        token_id=found.token_id,
        dealer=dealer,
        dealer_active=bool(found.dealer_active),
    )
    return principal, stale
