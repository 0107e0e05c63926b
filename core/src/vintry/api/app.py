"""The app factory: one FastAPI application per platform."""

from __future__ import annotations

from typing import cast

import fastapi.routing
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute, APIRouter

from vintry import __version__
from vintry.api.errors import ErrorResponse, install_error_handlers
from vintry.api.middleware import BodyLimitMiddleware, RequestIdMiddleware, SiteRoutingMiddleware
from vintry.api.routing import add_routes, index_routes
from vintry.api.security import declared_permission, require_plugin_enabled
from vintry.platform import Platform

DESCRIPTION = """\
The Vintry platform API. Every route serves **one site**: the mall whose domain is in the
`Host` header, or the site named by a `/sites/<code>/` path prefix (for local use).

Authenticate with `Authorization: Bearer <token>`. Outside your tenant a site or object
does not exist for you (404); inside it, a missing permission is 403. Every error has the
body `{"error": {"code", "message", "field", "request_id", "details"}}`.
"""


def kernel_routers() -> list[APIRouter]:
    """The kernel's routers, in the order the app registers them."""
    from vintry.accounts.api import router as accounts_router
    from vintry.api.health import router as health_router
    from vintry.campaigns.api import router as campaigns_router
    from vintry.catalog.api import router as catalog_router
    from vintry.dealers.api import router as dealers_router
    from vintry.events.api import router as relay_router
    from vintry.inventory.api import router as inventory_router
    from vintry.inventory.stock_api import router as stock_router
    from vintry.orders.api import router as orders_router
    from vintry.orders.cart_api import router as cart_router
    from vintry.orders.lifecycle_api import router as lifecycle_router
    from vintry.pages.api import router as pages_router
    from vintry.sites.api import router as sites_router
    from vintry.sites.plugins_api import router as plugins_router
    from vintry.sourcing.api import router as sourcing_router

    return [
        health_router,
        sites_router,
        dealers_router,
        accounts_router,
        inventory_router,
        stock_router,
        orders_router,
        lifecycle_router,
        cart_router,
        catalog_router,
        plugins_router,
        relay_router,
        campaigns_router,
        sourcing_router,
        pages_router,
    ]


def create_app(platform: Platform | None = None) -> FastAPI:
    """Build the API for *platform* (a default one from the environment if omitted)."""
    platform = platform or Platform()
    app = FastAPI(
        title="Vintry",
        version=__version__,
        description=DESCRIPTION,
        responses={
            400: {"model": ErrorResponse},
            401: {"model": ErrorResponse},
            403: {"model": ErrorResponse},
            404: {"model": ErrorResponse},
            409: {"model": ErrorResponse},
            413: {"model": ErrorResponse},
            422: {"model": ErrorResponse},
        },
    )
    app.state.platform = platform
    for router in kernel_routers():
        add_routes(app, router)
    for record in platform.plugins.loaded():
        for plugin_router in record.contribution.routers:
            add_routes(
                app,
                plugin_router,
                prefix=f"/api/v1/x/{record.name}",
                dependencies=[Depends(require_plugin_enabled(record.name))],
            )
    index_routes(app)
    install_error_handlers(app)
    # Outermost first at run time: ids, then site routing, then the body limit.
    app.add_middleware(BodyLimitMiddleware, max_bytes=platform.settings.max_request_bytes)
    app.add_middleware(SiteRoutingMiddleware)
    app.add_middleware(RequestIdMiddleware)
    check_routes_declare_permissions(app)
    return app


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every API route *app* serves, with include prefixes and include-level dependencies.

    :func:`create_app` registers routes flat (:mod:`vintry.api.routing`), but an app that
    includes routers (a plugin's test app) keeps each as one opaque entry of ``app.routes``
    in FastAPI 0.165; ``iter_route_contexts`` walks into those. Each context forwards
    ``path``, ``methods`` and ``dependant`` to the route as served.
    """
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if iter_contexts is None:  # older FastAPI copies included routes into app.routes
        return [route for route in app.routes if isinstance(route, APIRoute)]
    return [
        cast(APIRoute, context)
        for context in iter_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
    ]


def check_routes_declare_permissions(app: FastAPI) -> None:
    """Refuse an app with a route that declares no permission (nor ``public``)."""
    missing = [
        f"{sorted(route.methods or ())} {route.path}"
        for route in api_routes(app)
        if declared_permission(route) is None
    ]
    if missing:
        raise RuntimeError("routes without a declared permission: " + ", ".join(missing))
