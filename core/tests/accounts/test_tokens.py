"""API tokens: hashed at rest, expiring, revocable at once, and managed only within the tenant.

Time moves with the platform's manual clock (never a sleep). Every refusal is checked for
its status, its stable ``code`` and, where one input is at fault, its ``field``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient
from vintry.accounts.models import ApiToken, Role, User
from vintry.accounts.principal import Actor
from vintry.accounts.service import parse_token, revoke_token
from vintry.audit.models import AuditEntry
from vintry.clock import ManualClock
from vintry.platform import Platform
from vintry.sites.models import SiteKind
from vintry_sdk.testing import VintryFactory

if TYPE_CHECKING:
    from httpx2 import Response  # what starlette's TestClient returns


@dataclass(frozen=True)
class Tenants:
    """HQ → east (→ east-s1) and west, with an operator and a dealer user in east."""

    operator: str
    operator_token: str
    dealer: str
    dealer_token: str
    store_user: str
    west_user: str


@pytest.fixture
def tenants(vintry_factory: VintryFactory) -> Tenants:
    """The tree and users the token tests act on."""
    factory = vintry_factory
    factory.site("east")
    factory.site("west")
    factory.site("east-s1", parent="east", kind=SiteKind.STORE)
    operator = factory.user(Role.SITE_OPERATOR, "east", username="op-east")
    dealer = factory.user(Role.DEALER, "east", username="dealer-east")
    return Tenants(
        operator=operator,
        operator_token=factory.token(operator),
        dealer=dealer,
        dealer_token=factory.token(dealer),
        store_user=factory.user(Role.SITE_OPERATOR, "east-s1", username="op-store"),
        west_user=factory.user(Role.DEALER, "west", username="dealer-west"),
    )


def _error(response: Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def _token_row(platform: Platform, token_id: str) -> ApiToken:
    with platform.hq.reading() as session:
        token = session.get(ApiToken, token_id)
        assert token is not None
        return token


def _me(factory: VintryFactory, token: str, site: str = "east") -> Response:
    """``GET /me`` addressed to *site* (the east users' own site by default)."""
    return factory.client(token, site=site).get("/api/v1/me")


# --- at rest -------------------------------------------------------------------------------


def test_token_secret_is_stored_only_as_its_sha256(
    vintry_admin: TestClient, vintry_platform: Platform
) -> None:
    created = vintry_admin.post("/api/v1/tokens", json={"name": "ci", "expires_in_days": 7})
    assert created.status_code == 201, created.text
    raw = created.json()["token"]
    token_id, secret = parse_token(raw)
    assert created.json()["id"] == token_id
    row = _token_row(vintry_platform, token_id)
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    with vintry_platform.hq.reading() as session:
        stored = [
            str(value)
            for table in ("api_tokens", "audit_log")
            for record in session.execute(select(ApiToken.metadata.tables[table])).all()
            for value in record
        ]
    assert stored and not any(secret in value for value in stored)
    listed = vintry_admin.get("/api/v1/tokens")
    assert secret not in listed.text and all("token" not in t for t in listed.json())


def test_new_token_expires_after_the_configured_lifetime(
    vintry_admin: TestClient, vintry_platform: Platform
) -> None:
    created = vintry_admin.post("/api/v1/tokens", json={"name": "default-ttl"}).json()
    row = _token_row(vintry_platform, created["id"])
    ttl = timedelta(days=vintry_platform.settings.token_ttl_days)
    assert row.expires_at - row.created_at == ttl
    assert row.created_at == vintry_platform.clock.now()


# --- refused tokens -----------------------------------------------------------------------


def test_token_is_refused_once_it_expires(
    vintry_factory: VintryFactory, vintry_clock: ManualClock, tenants: Tenants
) -> None:
    token = vintry_factory.token(tenants.dealer, expires_in_days=1)
    vintry_clock.advance(days=1, seconds=-1)
    assert _me(vintry_factory, token).status_code == 200
    vintry_clock.advance(seconds=1)
    error = _error(_me(vintry_factory, token), 401, "token_expired")
    assert error["request_id"]


def test_token_revoked_through_the_api_is_refused_at_once(
    vintry_factory: VintryFactory, vintry_platform: Platform, tenants: Tenants
) -> None:
    dealer = vintry_factory.client(tenants.dealer_token, site="east")
    spare = dealer.post("/api/v1/tokens", json={"name": "spare"}).json()
    assert _me(vintry_factory, spare["token"]).status_code == 200

    revoked = dealer.delete(f"/api/v1/tokens/{spare['id']}")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] == vintry_platform.clock.now().isoformat().replace(
        "+00:00", "Z"
    )
    _error(_me(vintry_factory, spare["token"]), 401, "token_revoked")
    assert _me(vintry_factory, tenants.dealer_token).status_code == 200


def test_revoking_the_token_in_use_ends_the_session(
    vintry_factory: VintryFactory, tenants: Tenants
) -> None:
    dealer = vintry_factory.client(tenants.dealer_token, site="east")
    token_id = parse_token(tenants.dealer_token)[0]
    assert dealer.delete(f"/api/v1/tokens/{token_id}").status_code == 200
    _error(dealer.get("/api/v1/me"), 401, "token_revoked")


def test_revoking_twice_keeps_the_first_time_and_one_audit_entry(
    vintry_factory: VintryFactory, vintry_platform: Platform,
    vintry_clock: ManualClock, tenants: Tenants,
) -> None:
    operator = vintry_factory.client(tenants.operator_token, site="east")
    spare = operator.post("/api/v1/tokens", json={"name": "spare"}).json()
    first = operator.delete(f"/api/v1/tokens/{spare['id']}").json()
    vintry_clock.advance(minutes=5)
    second = operator.delete(f"/api/v1/tokens/{spare['id']}")
    assert second.status_code == 200
    assert second.json()["revoked_at"] == first["revoked_at"]
    with vintry_platform.hq.reading() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "token.revoke",
                                     AuditEntry.object_id == spare["id"])
        ).all()
    assert [(e.actor, e.before, e.after) for e in entries] == [
        (tenants.operator, {"revoked_at": None},
         {"revoked_at": first["revoked_at"].replace("Z", "+00:00")})
    ]


def test_token_revoked_through_the_service_is_refused_at_once(
    vintry_factory: VintryFactory, vintry_platform: Platform, tenants: Tenants
) -> None:
    assert _me(vintry_factory, tenants.operator_token).status_code == 200
    with vintry_platform.hq.transaction() as session:
        token = session.get(ApiToken, parse_token(tenants.operator_token)[0])
        assert token is not None
        revoke_token(vintry_platform, token, session=session, actor=Actor(name="security-desk"))
    _error(_me(vintry_factory, tenants.operator_token), 401, "token_revoked")


@pytest.mark.parametrize(
    "raw",
    ["not-a-token", "vt_short_secret", "vt_0123456789ab_", "xx_0123456789ab_secret", "vt__",
     "vt_0123456789ab"],
)
def test_malformed_token_is_refused_as_invalid(
    raw: str, vintry_factory: VintryFactory
) -> None:
    error = _error(_me(vintry_factory, raw), 401, "invalid_token")
    assert error["field"] is None


def test_token_with_a_wrong_secret_is_refused_and_not_touched(
    vintry_factory: VintryFactory, vintry_platform: Platform, tenants: Tenants
) -> None:
    token_id, secret = parse_token(tenants.dealer_token)
    wrong = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    response = _me(vintry_factory, f"vt_{token_id}_{wrong}")
    _error(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == "Bearer"
    assert _token_row(vintry_platform, token_id).last_used_at is None


def test_request_without_bearer_credentials_is_unauthenticated(
    vintry_factory: VintryFactory,
) -> None:
    anonymous = vintry_factory.client()
    _error(anonymous.get("/api/v1/me"), 401, "unauthenticated")
    basic = anonymous.get("/api/v1/me", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    _error(basic, 401, "unauthenticated")


def test_deactivated_user_is_refused_with_a_valid_token(
    vintry_factory: VintryFactory, vintry_platform: Platform, tenants: Tenants
) -> None:
    assert _me(vintry_factory, tenants.dealer_token).status_code == 200
    with vintry_platform.hq.transaction() as session:
        session.execute(update(User).where(User.username == tenants.dealer).values(active=False))
    _error(_me(vintry_factory, tenants.dealer_token), 401, "user_inactive")


# --- who may manage which tokens ----------------------------------------------------------


def test_dealer_creates_and_lists_only_its_own_tokens(
    vintry_factory: VintryFactory, vintry_platform: Platform, tenants: Tenants
) -> None:
    dealer = vintry_factory.client(tenants.dealer_token, site="east")
    own = dealer.post("/api/v1/tokens", json={"name": "mine"})
    assert own.status_code == 201 and own.json()["username"] == tenants.dealer
    for victim in (tenants.operator, tenants.west_user, "admin"):
        refused = dealer.post("/api/v1/tokens", json={"name": "theirs", "username": victim})
        assert _error(refused, 404, "user_not_found")["field"] == "username"
    assert {t["username"] for t in dealer.get("/api/v1/tokens").json()} == {tenants.dealer}
    with vintry_platform.hq.reading() as session:
        names = session.scalars(select(ApiToken.name)).all()
    assert "theirs" not in names


def test_dealer_cannot_revoke_another_users_token(
    vintry_factory: VintryFactory, vintry_platform: Platform, tenants: Tenants
) -> None:
    dealer = vintry_factory.client(tenants.dealer_token, site="east")
    victim_id = parse_token(tenants.operator_token)[0]
    error = _error(dealer.delete(f"/api/v1/tokens/{victim_id}"), 404, "token_not_found")
    assert error["field"] == "token_id"
    assert _token_row(vintry_platform, victim_id).revoked_at is None
    assert _me(vintry_factory, tenants.operator_token).status_code == 200


def test_operator_issues_tokens_for_users_of_its_subtree(
    vintry_factory: VintryFactory, tenants: Tenants
) -> None:
    operator = vintry_factory.client(tenants.operator_token, site="east")
    for username, site in ((tenants.dealer, "east"), (tenants.store_user, "east-s1")):
        created = operator.post("/api/v1/tokens", json={"name": "issued", "username": username})
        assert created.status_code == 201, created.text
        assert created.json()["username"] == username
        assert _me(vintry_factory, created.json()["token"], site).json()["username"] == username


def test_operator_cannot_issue_tokens_beyond_its_subtree_or_for_hq_admins(
    vintry_factory: VintryFactory, vintry_platform: Platform, tenants: Tenants
) -> None:
    another_admin = vintry_factory.user(Role.HQ_ADMIN, username="hq-second")
    operator = vintry_factory.client(tenants.operator_token, site="east")
    with vintry_platform.hq.reading() as session:
        before = len(session.scalars(select(ApiToken.id)).all())
    for username in ("admin", another_admin, tenants.west_user, "no-such-user"):
        refused = operator.post("/api/v1/tokens", json={"name": "x", "username": username})
        _error(refused, 404, "user_not_found")
    store_operator = vintry_factory.client(vintry_factory.token(tenants.store_user),
                                           site="east-s1")
    refused = store_operator.post("/api/v1/tokens",
                                  json={"name": "up", "username": tenants.operator})
    _error(refused, 404, "user_not_found")
    admin_token_id = parse_token(vintry_factory.admin_token)[0]
    _error(operator.delete(f"/api/v1/tokens/{admin_token_id}"), 404, "token_not_found")
    with vintry_platform.hq.reading() as session:
        assert len(session.scalars(select(ApiToken.id)).all()) == before + 1  # the store's own


def test_only_an_hq_admin_creates_an_hq_admin(
    vintry_factory: VintryFactory, vintry_admin: TestClient,
    vintry_platform: Platform, tenants: Tenants,
) -> None:
    body = {"username": "new-admin", "display_name": "New admin", "role": "hq_admin"}
    operator = vintry_factory.client(tenants.operator_token, site="east")
    error = _error(operator.post("/api/v1/users", json=body), 403, "role_not_grantable")
    assert error["field"] == "role"
    _error(operator.post("/api/v1/users", json={**body, "site": "hq"}), 404, "site_not_found")
    with vintry_platform.hq.reading() as session:
        assert session.scalar(select(User).where(User.username == "new-admin")) is None

    created = vintry_admin.post("/api/v1/users", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "hq_admin" and created.json()["site"] == "hq"
    misplaced = vintry_admin.post("/api/v1/users", json={**body, "username": "x-admin",
                                                          "site": "east"})
    assert _error(misplaced, 422, "invalid_site_for_role")["field"] == "site"


def test_operator_creates_users_of_lower_roles_in_its_subtree(
    vintry_factory: VintryFactory, tenants: Tenants
) -> None:
    operator = vintry_factory.client(tenants.operator_token, site="east")
    created = operator.post("/api/v1/users", json={
        "username": "op-store-2", "display_name": "Store 2", "role": "site_operator",
        "site": "east-s1",
    })
    assert created.status_code == 201, created.text
    assert created.json()["site"] == "east-s1"
    refused = operator.post("/api/v1/users", json={
        "username": "op-west", "display_name": "West", "role": "site_operator", "site": "west",
    })
    _error(refused, 404, "site_not_found")


# --- last use -------------------------------------------------------------------------------


def test_last_used_at_is_recorded_at_most_once_a_minute(
    vintry_factory: VintryFactory, vintry_platform: Platform,
    vintry_clock: ManualClock, tenants: Tenants,
) -> None:
    token_id = parse_token(tenants.dealer_token)[0]
    assert _token_row(vintry_platform, token_id).last_used_at is None
    first_use = vintry_clock.now()
    assert _me(vintry_factory, tenants.dealer_token).status_code == 200
    assert _token_row(vintry_platform, token_id).last_used_at == first_use

    vintry_clock.advance(seconds=59)
    assert _me(vintry_factory, tenants.dealer_token).status_code == 200
    assert _token_row(vintry_platform, token_id).last_used_at == first_use

    later = vintry_clock.advance(seconds=1)
    assert _me(vintry_factory, tenants.dealer_token).status_code == 200
    assert _token_row(vintry_platform, token_id).last_used_at == later
    listed = vintry_factory.client(tenants.dealer_token, site="east").get("/api/v1/tokens").json()
    assert [t["last_used_at"] for t in listed if t["id"] == token_id] == [
        later.isoformat().replace("+00:00", "Z")
    ]
