"""A small site tree with one caller per role, shared by the security tests.

The tree::

    hq (hq)
    ├── east (region)
    │   └── east-s1 (store)
    └── west (region)

Every site has a *resident* dealer and a *resident* user, and every user has a spare token
besides the one it logs in with, so that a route can be called with real objects of any
site (a dealer code, a username, a token id) without revoking the caller's own token. A
probe plugin with a settings model gives the plugin routes a real plugin to name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest
from pydantic import BaseModel
from sqlalchemy import func, select
from starlette.testclient import TestClient
from vintry.accounts.models import Role
from vintry.accounts.service import parse_token
from vintry.contracts import SettingsRegistration
from vintry.db.base import HQBase
from vintry.dealers.models import DealerTier
from vintry.hookspecs import hookimpl
from vintry.platform import Platform
from vintry.sites.models import SiteKind
from vintry_sdk.testing import VintryFactory

HQ = "hq"
EAST = "east"
WEST = "west"
EAST_STORE = "east-s1"
PROBE_PLUGIN = "matrix-probe"
WRITABLE_TABLES = (
    "sites", "site_domains", "site_setting_overrides", "dealers", "users", "api_tokens",
    "audit_log", "warehouses",
)


def hq_row_counts(platform: Platform) -> dict[str, int]:
    """Rows in every HQ table an API request can write, to show a refused one wrote nothing."""
    with platform.hq.reading() as session:
        return {
            name: session.scalar(select(func.count()).select_from(HQBase.metadata.tables[name]))
            or 0
            for name in WRITABLE_TABLES
        }


class ProbeSettings(BaseModel):
    """Settings of the probe plugin: one field with a default."""

    greeting: str = "hello"


class ProbePlugin:
    """A plugin whose only contribution is a settings model."""

    @hookimpl
    def vintry_register_settings(self, register: SettingsRegistration) -> None:
        """Register :class:`ProbeSettings`."""
        register(ProbeSettings)


@dataclass(frozen=True)
class Caller:
    """One authenticated principal of the tree and what lies inside and outside its tenant."""

    label: str
    role: Role
    username: str
    site: str
    dealer: str | None
    token: str
    inside: tuple[str, ...]
    outside: tuple[str, ...]
    foreign: Mapping[str, str] = field(default_factory=dict)
    """Path-parameter values naming objects outside the tenant while addressing ``site``."""


@dataclass
class SecurityWorld:
    """The tree, its residents and the callers, built through the factory."""

    factory: VintryFactory
    resident_dealer: dict[str, str]
    resident_user: dict[str, str]
    spare_token_id: dict[str, str]
    callers: dict[str, Caller]

    def client(self, caller: Caller | None, site: str) -> TestClient:
        """A client addressing *site* through ``/sites/<code>/``, as *caller* (None: no token)."""
        return self.factory.client(caller.token if caller else None, site=site)

    def fillers(self, caller: Caller, site: str) -> dict[str, str]:
        """Path-parameter values naming real objects of *site*, keyed ``<segment>.<param>``.

        A dealer caller is given its own objects (the only ones it may touch); everyone
        else the site's residents, which every caller whose tenant holds *site* manages.
        """
        own = caller.role is Role.DEALER and site == caller.site
        username = caller.username if own else self.resident_user[site]
        return {
            "sites.code": site,
            "dealers.code": caller.dealer if own and caller.dealer else self.resident_dealer[site],
            "users.username": username,
            "tokens.token_id": self.spare_token_id[username],
            "plugins.name": PROBE_PLUGIN,
        }


def _token_id(token: str) -> str:
    return parse_token(token)[0]


@pytest.fixture
def security_world(vintry_factory: VintryFactory) -> SecurityWorld:
    """Build the tree, residents, callers and their tokens on the test platform."""
    factory = vintry_factory
    probe = factory.platform.plugins.register(PROBE_PLUGIN, ProbePlugin())
    assert probe.status == "loaded", probe.error
    factory.site(EAST, kind=SiteKind.REGION)
    factory.site(WEST, kind=SiteKind.REGION)
    factory.site(EAST_STORE, parent=EAST, kind=SiteKind.STORE)
    resident_dealer = {
        HQ: factory.dealer(HQ, "D-HQ").code,
        EAST: factory.dealer(EAST, "D-EAST", tier=DealerTier.GOLD, tags=["vip"]).code,
        WEST: factory.dealer(WEST, "D-WEST").code,
        EAST_STORE: factory.dealer(EAST_STORE, "D-EAST-S1").code,
    }
    other_east_dealer = factory.dealer(EAST, "D-EAST-2").code
    usernames = {
        "hq-boss": factory.user(Role.HQ_ADMIN, HQ, username="hq-boss"),
        "op-east": factory.user(Role.SITE_OPERATOR, EAST, username="op-east"),
        "op-store": factory.user(Role.SITE_OPERATOR, EAST_STORE, username="op-store"),
        "dealer-east": factory.user(Role.DEALER, EAST, dealer="D-EAST", username="dealer-east"),
        "dealer-west": factory.user(Role.DEALER, WEST, dealer="D-WEST", username="dealer-west"),
    }
    resident_user = {HQ: "hq-boss", EAST: "op-east", EAST_STORE: "op-store", WEST: "dealer-west"}
    tokens = {name: factory.token(name) for name in usernames}
    spare = {name: _token_id(factory.token(name)) for name in usernames}

    def caller(
        label: str, username: str, role: Role, site: str, *, dealer: str | None = None,
        inside: tuple[str, ...], outside: tuple[str, ...], foreign: dict[str, str] | None = None,
    ) -> Caller:
        return Caller(label, role, username, site, dealer, tokens[username], inside, outside,
                      foreign or {})

    callers = [
        caller("hq_admin", "hq-boss", Role.HQ_ADMIN, HQ,
               inside=(HQ, EAST, EAST_STORE, WEST), outside=()),
        caller("operator_east", "op-east", Role.SITE_OPERATOR, EAST,
               inside=(EAST, EAST_STORE), outside=(WEST, HQ),
               foreign={"sites.code": WEST, "dealers.code": "D-WEST",
                        "users.username": "hq-boss", "tokens.token_id": spare["dealer-west"]}),
        caller("operator_east_s1", "op-store", Role.SITE_OPERATOR, EAST_STORE,
               inside=(EAST_STORE,), outside=(EAST, WEST, HQ),
               foreign={"sites.code": EAST, "dealers.code": "D-EAST",
                        "users.username": "op-east", "tokens.token_id": spare["op-east"]}),
        caller("dealer_east", "dealer-east", Role.DEALER, EAST, dealer="D-EAST",
               inside=(EAST,), outside=(WEST, EAST_STORE, HQ),
               foreign={"sites.code": EAST_STORE, "dealers.code": other_east_dealer,
                        "users.username": "op-east", "tokens.token_id": spare["op-east"]}),
        caller("dealer_west", "dealer-west", Role.DEALER, WEST, dealer="D-WEST",
               inside=(WEST,), outside=(EAST, HQ),
               foreign={"sites.code": HQ, "dealers.code": "D-EAST",
                        "users.username": "dealer-east", "tokens.token_id": spare["dealer-east"]}),
    ]
    return SecurityWorld(
        factory=factory,
        resident_dealer=resident_dealer,
        resident_user=resident_user,
        spare_token_id=spare,
        callers={c.label: c for c in callers},
    )
