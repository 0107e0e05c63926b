"""Authentication, tenancy and permissions: what every route declares and gets.

A route declares the permission it needs by depending on :func:`authorize` (or
:func:`public` for the few open routes). The dependency resolves, in this order:

1. the caller (401 without a valid token),
2. the site the request addresses (404 if unknown *or outside the caller's tenant*, so a
   tenant cannot learn what exists beyond it),
3. the permission (403 inside the tenant without it).

The app factory refuses to build if any route declares neither.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from vintry.accounts.models import Role
from vintry.accounts.permissions import Permission
from vintry.accounts.principal import Actor, Principal
from vintry.accounts.service import authenticate_with, read_token_and_counters, touch_token
from vintry.api.middleware import site_hint
from vintry.errors import NotFound, PermissionDenied, Unauthenticated
from vintry.platform import Platform, PluginState, SiteContext
from vintry.sites.directory import SiteDirectory

PUBLIC = "public"
_bearer = HTTPBearer(auto_error=False, description="An API token: vt_<id>_<secret>")


@dataclass(frozen=True)
class RequestScope:
    """What an authorised route handler works with."""

    platform: Platform
    directory: SiteDirectory
    site: SiteContext
    principal: Principal
    permission: Permission

    @property
    def actor(self) -> Actor:
        """The caller, for the audit log."""
        return self.principal.actor

    def require_site_within(self, code: str) -> None:
        """404 unless *code* is the addressed site or below it, and inside the tenant."""
        if (
            code not in self.directory.nodes
            or not self.directory.is_within(code, self.site.code)
            or not self.principal.reaches_site(self.directory, code)
        ):
            raise NotFound(f"site {code!r} does not exist", code="site_not_found", field="site")

    def visible_site_codes(self) -> list[str]:
        """The addressed site's subtree, as far as the caller's tenant reaches."""
        return [
            node.code
            for node in self.directory.subtree(self.site.code)
            if self.principal.reaches_site(self.directory, node.code)
        ]


def get_platform(request: Request) -> Platform:
    """The platform the app was built for."""
    platform: Platform = request.app.state.platform
    return platform


def resolve_site_code(request: Request, directory: SiteDirectory) -> str:
    """The code of the site a request addresses: path prefix first, else Host."""
    prefixed, host = site_hint(request.scope)
    if prefixed is not None:
        directory.get(prefixed)
        return prefixed
    node = directory.by_domain(host) if host else None
    if node is None:
        raise NotFound(
            f"no site serves host {host!r}; use its domain or the /sites/<code>/ prefix",
            code="site_not_found",
            field="header.host",
        )
    return node.code


@cache
def authorize(permission: Permission) -> Callable[..., Awaitable[RequestScope]]:
    """The dependency of a route that needs *permission* on the addressed site.

    It is a coroutine: on SQLite its one read (token, user, dealer and change counters in
    one statement, :func:`~vintry.accounts.service.read_token`) is a library call on a
    local file that never waits for writers (WAL), cheaper than the hop to a worker thread
    and back that a plain function dependency costs every request. On PostgreSQL, a round
    trip to a server, the read runs on a worker thread. Recording a stale token's use is
    a write, so it always runs on a worker thread.
    """

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> RequestScope:
        platform = get_platform(request)
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthenticated("send 'Authorization: Bearer <token>'", code="unauthenticated")
        if platform.hq.backend == "sqlite":
            directory, state, principal, stale = _authenticate(platform, credentials.credentials)
        else:
            directory, state, principal, stale = await run_in_threadpool(
                _authenticate, platform, credentials.credentials
            )
        if stale:
            await run_in_threadpool(touch_token, platform, principal.token_id)
        code = resolve_site_code(request, directory)
        node = directory.get(code)
        if not principal.reaches_site(directory, code) or (
            not node.active and principal.role is Role.DEALER
        ):
            raise NotFound(f"site {code!r} does not exist", code="site_not_found", field="site")
        site = platform.site(code, directory, state)
        refusal = _plugin_refusal(request, site)
        if refusal is not None:
            raise refusal
        if not principal.can(permission):
            raise PermissionDenied(
                f"the {principal.role.value} role lacks {permission.value!r}",
                details={"permission": permission.value},
            )
        request.state.principal = principal
        return RequestScope(
            platform=platform,
            directory=directory,
            site=site,
            principal=principal,
            permission=permission,
        )

    dependency.__name__ = f"authorize_{permission.name.lower()}"
    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency


def _authenticate(
    platform: Platform, raw: str
) -> tuple[SiteDirectory, PluginState, Principal, bool]:
    """The site tree, plugin state and caller of bearer token *raw*, from one read.

    One prepared statement reads the token, its user and dealer, and the change counters
    the site tree, plugin state and every cache are checked against; a part whose counter
    moved is reloaded (the only time a Session is opened here).
    """
    found = read_token_and_counters(platform.hq, raw)
    directory, state = platform.refresh(counters=found.counters)
    principal, stale = authenticate_with(platform, raw, directory, None, found=found)
    return directory, state, principal, stale


@cache
def require_plugin_enabled(name: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency that answers 404 ``plugin_not_enabled`` where plugin *name* is off.

    Include-level dependencies run before the route's own, so this one only names the
    plugin on the request: :func:`authorize` checks it against the plugin state it has
    just read with the token, once the caller is authenticated and inside its tenant (an
    anonymous or outside caller must not learn what is enabled, or which sites exist);
    :func:`public` checks it at once. No read of its own: the check costs a set lookup.
    """

    async def dependency(request: Request) -> None:
        setattr(request.state, _PLUGIN_GATE, name)

    dependency.__name__ = f"require_{name}_enabled"
    return dependency


_PLUGIN_GATE = "vintry_plugin_gate"


def _plugin_refusal(request: Request, site: SiteContext) -> NotFound | None:
    """The 404 of a plugin route on a site where its plugin is off (None: it is on)."""
    name: str | None = getattr(request.state, _PLUGIN_GATE, None)
    if name is None or name in site.enabled_plugins:
        return None
    return NotFound(
        f"plugin {name!r} is not enabled on site {site.code!r}",
        code="plugin_not_enabled",
        field="plugin",
    )


async def public(request: Request) -> None:
    """The dependency of a route anyone may call (health checks); a coroutine, as it only
    reads the request (no hop to a worker thread). On a plugin's route it resolves the
    addressed site and refuses where the plugin is off."""
    if getattr(request.state, _PLUGIN_GATE, None) is None:
        return
    platform = get_platform(request)
    directory, state = platform.refresh()
    site = platform.site(resolve_site_code(request, directory), directory, state)
    refusal = _plugin_refusal(request, site)
    if refusal is not None:
        raise refusal


public.permission = PUBLIC  # type: ignore[attr-defined]


def declared_permission(route: APIRoute) -> Permission | str | None:
    """The permission *route* declares (``"public"`` for open routes), or None."""
    stack = list(route.dependant.dependencies)
    while stack:
        dependant = stack.pop()
        value: Any = getattr(dependant.call, "permission", None)
        if value is not None:
            return value  # type: ignore[no-any-return]
        stack.extend(dependant.dependencies)
    return None
