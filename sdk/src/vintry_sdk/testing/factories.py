"""Factories for sites, dealers, users, tokens and authenticated clients."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

from fastapi import FastAPI
from starlette.testclient import TestClient
from vintry.accounts.models import Role
from vintry.accounts.principal import Actor
from vintry.accounts.schemas import TokenCreate, UserCreate
from vintry.accounts.service import create_user, find_user, issue_token
from vintry.dealers.models import DealerTier
from vintry.dealers.schemas import DealerCreate, DealerOut
from vintry.dealers.service import create_dealer
from vintry.platform import Platform, SiteContext
from vintry.sites.configuration import change_overrides
from vintry.sites.directory import SiteNode
from vintry.sites.enablement import config_namespace, loaded_plugin, set_enablement
from vintry.sites.inheritance import EnablementState
from vintry.sites.models import SiteKind
from vintry.sites.schemas import SiteCreate
from vintry.sites.service import create_site

FACTORY_ACTOR = Actor(name="test-factory")


class VintryFactory:
    """Makes the objects tests need, through the same services the API uses."""

    def __init__(self, platform: Platform, app: FastAPI, admin_token: str) -> None:
        self.platform = platform
        self.app = app
        self.admin_token = admin_token
        self._numbers = itertools.count(1)
        self._clients = ExitStack()

    def _next(self) -> int:
        return next(self._numbers)

    @property
    def root(self) -> str:
        """The HQ site's code."""
        root = self.platform.directory().root
        assert root is not None
        return root.code

    def site(
        self,
        code: str | None = None,
        *,
        parent: str | None = None,
        name: str | None = None,
        domains: list[str] | None = None,
        kind: SiteKind | None = None,
    ) -> SiteNode:
        """A new site under *parent* (HQ by default); a region under HQ, a store below that."""
        parent = parent or self.root
        code = code or f"site-{self._next()}"
        parent_kind = self.platform.directory().get(parent).kind
        if kind is None:
            kind = SiteKind.REGION if parent_kind is SiteKind.HQ else SiteKind.STORE
        request = SiteCreate(
            code=code,
            name=name or code.replace("-", " ").title(),
            kind=kind,
            domains=domains if domains is not None else [f"{code}.test.localhost"],
        )
        return create_site(self.platform, parent_code=parent, request=request, actor=FACTORY_ACTOR)

    def dealer(
        self,
        site: str,
        code: str | None = None,
        *,
        tier: DealerTier = DealerTier.SILVER,
        tags: list[str] | None = None,
        name: str | None = None,
    ) -> DealerOut:
        """A new dealer of *site*."""
        number = self._next()
        request = DealerCreate(
            code=code or f"D-{number:05d}",
            name=name or f"Dealer {number}",
            tier=tier,
            tags=tags or [],
        )
        return create_dealer(self.platform, site, request, actor=FACTORY_ACTOR)

    def user(
        self,
        role: Role | str,
        site: str | None = None,
        *,
        dealer: str | None = None,
        username: str | None = None,
    ) -> str:
        """A new user; returns its username. A dealer user gets a new dealer unless named."""
        role = Role(role)
        site = site or self.root
        if role is Role.DEALER and dealer is None:
            dealer = self.dealer(site).code
        username = username or f"{role.value.replace('_', '-')}-{self._next()}"
        create_user(
            self.platform,
            UserCreate(
                username=username, display_name=username, role=role, site=site, dealer=dealer
            ),
            default_site=site,
            actor=FACTORY_ACTOR,
        )
        return username

    def token(self, username: str, *, expires_in_days: int | None = None) -> str:
        """A fresh bearer token for *username*."""
        with self.platform.hq.transaction() as session:
            created = issue_token(
                self.platform,
                find_user(session, username),
                TokenCreate(name="test", expires_in_days=expires_in_days),
                session=session,
                actor=FACTORY_ACTOR,
            )
        return created.token

    def client(self, token: str | None = None, *, site: str | None = None) -> TestClient:
        """An HTTP client on the app; *site* sends requests through ``/sites/<code>/``."""
        base = "http://localhost" + (f"/sites/{site}" if site else "")
        headers: dict[str, Any] = {"Authorization": f"Bearer {token}"} if token else {}
        client = TestClient(self.app, base_url=base, headers=headers, raise_server_exceptions=False)
        return self._clients.enter_context(client)

    def client_for(
        self, role: Role | str, site: str | None = None, *, dealer: str | None = None
    ) -> TestClient:
        """A client authenticated as a new user of *role* at *site*, addressing that site."""
        site = site or self.root
        username = self.user(role, site, dealer=dealer)
        return self.client(self.token(username), site=site)

    def admin_client(self, site: str | None = None) -> TestClient:
        """A client authenticated as the HQ administrator."""
        return self.client(self.admin_token, site=site)

    def enable_plugin(
        self,
        name: str,
        site: str | None = None,
        *,
        config: dict[str, Any] | None = None,
        state: str = "on",
    ) -> SiteContext:
        """Turn plugin *name* on (or ``state``) at *site* (HQ by default), optionally with
        configuration overrides there; returns the site's context as hooks will see it."""
        site = site or self.root
        set_enablement(
            self.platform,
            name,
            site,
            state=EnablementState(state),
            actor=FACTORY_ACTOR,
            actor_is_hq_admin=True,
        )
        if config:
            namespace = config_namespace(loaded_plugin(self.platform, name))
            change_overrides(self.platform, namespace, site, set_fields=config, actor=FACTORY_ACTOR)
        return self.platform.site(site)

    def close(self) -> None:
        """Close every client this factory opened."""
        self._clients.close()


def iter_roles() -> Iterator[Role]:
    """Every role, highest first."""
    yield from Role
