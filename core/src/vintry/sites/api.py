"""Routes of the sites domain: the tree, sites, inherited site settings, the audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query, status
from vintry.accounts.permissions import Permission
from vintry.api.security import RequestScope, authorize
from vintry.audit.service import list_entries
from vintry.sites import service
from vintry.sites.configuration import ConfigNamespace, change_overrides, resolve_configuration
from vintry.sites.schemas import (
    AuditOut,
    ResolvedSettingsOut,
    SiteCreate,
    SiteOut,
    SiteSettings,
    SiteTreeOut,
    SiteUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["sites"])

SITE_SETTINGS = ConfigNamespace(
    name="site", model=SiteSettings, object_type="site_settings", counter="site_settings"
)


@router.get("/site", response_model=SiteOut, summary="The site this request addresses")
def current_site(scope: RequestScope = Depends(authorize(Permission.SITES_READ))) -> SiteOut:
    """The addressed site (by Host header or ``/sites/<code>/`` prefix)."""
    return service.site_out(scope.directory, scope.site.node)


@router.get("/sites", response_model=list[SiteOut], summary="The addressed site and its subtree")
def list_sites(scope: RequestScope = Depends(authorize(Permission.SITES_READ))) -> list[SiteOut]:
    """Every site from the addressed one down, depth first, as far as the caller reaches."""
    return [
        service.site_out(scope.directory, scope.directory.get(code))
        for code in scope.visible_site_codes()
    ]


@router.get("/sites/tree", response_model=SiteTreeOut, summary="The subtree, nested")
def tree(scope: RequestScope = Depends(authorize(Permission.SITES_READ))) -> SiteTreeOut:
    """The addressed site with its descendants nested."""
    return service.site_tree(scope.directory, scope.site.code)


@router.post(
    "/sites",
    response_model=SiteOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a child site (its database is created and migrated)",
)
def create_site(
    request: SiteCreate, scope: RequestScope = Depends(authorize(Permission.SITES_CREATE))
) -> SiteOut:
    """Create a child of the addressed site."""
    node = service.create_site(
        scope.platform, parent_code=scope.site.code, request=request, actor=scope.actor
    )
    return service.site_out(scope.platform.directory(), node)


@router.get("/sites/{code}", response_model=SiteOut, summary="One site of the subtree")
def get_site(code: str, scope: RequestScope = Depends(authorize(Permission.SITES_READ))) -> SiteOut:
    """A site at or below the addressed one."""
    scope.require_site_within(code)
    return service.site_out(scope.directory, scope.directory.get(code))


@router.patch("/sites/{code}", response_model=SiteOut, summary="Change a site of the subtree")
def update_site(
    code: str,
    request: SiteUpdate,
    scope: RequestScope = Depends(authorize(Permission.SITES_UPDATE)),
) -> SiteOut:
    """Rename, re-domain, activate or deactivate a site at or below the addressed one."""
    scope.require_site_within(code)
    node = service.update_site(scope.platform, code=code, request=request, actor=scope.actor)
    return service.site_out(scope.platform.directory(), node)


@router.get("/settings", response_model=ResolvedSettingsOut, summary="Site settings in force")
def get_settings(
    scope: RequestScope = Depends(authorize(Permission.SETTINGS_READ)),
) -> ResolvedSettingsOut:
    """Settings in force at the addressed site, which site decided each, its own overrides."""
    resolved = resolve_configuration(scope.platform, SITE_SETTINGS, scope.site.code)
    return ResolvedSettingsOut(**resolved.__dict__)


@router.get("/settings/schema", summary="JSON Schema of the site settings")
def settings_schema(
    scope: RequestScope = Depends(authorize(Permission.SETTINGS_READ)),
) -> dict[str, Any]:
    """The JSON Schema a console builds its settings form from."""
    return SiteSettings.model_json_schema()


@router.patch(
    "/settings", response_model=ResolvedSettingsOut, summary="Override or clear site settings"
)
def patch_settings(
    changes: dict[str, Any] = Body(
        ...,
        examples=[{"min_order_amount": "5000.00", "announcement": None}],
        description="JSON merge patch: a value overrides the field; null restores inheritance.",
    ),
    scope: RequestScope = Depends(authorize(Permission.SETTINGS_WRITE)),
) -> ResolvedSettingsOut:
    """Set or clear the site's overrides; refused if any descendant would become invalid."""
    resolved = change_overrides(
        scope.platform,
        SITE_SETTINGS,
        scope.site.code,
        set_fields={k: v for k, v in changes.items() if v is not None},
        clear_fields=[k for k, v in changes.items() if v is None],
        actor=scope.actor,
    )
    return ResolvedSettingsOut(**resolved.__dict__)


@router.get("/audit", response_model=list[AuditOut], summary="Audit log of the subtree")
def audit_log(
    object_type: str | None = Query(default=None, max_length=64),
    before_id: int | None = Query(default=None, ge=1),
    limit: int = Query(default=100, ge=1, le=1000),
    scope: RequestScope = Depends(authorize(Permission.AUDIT_READ)),
) -> list[AuditOut]:
    """Changes made at the addressed site and below, newest first."""
    directory = scope.directory
    ids = [directory.get(code).id for code in scope.visible_site_codes()]
    with scope.platform.hq.reading() as session:
        entries = list_entries(
            session, site_ids=ids, object_type=object_type, before_id=before_id, limit=limit
        )
        return [
            AuditOut(
                id=e.id,
                at=e.at,
                site=directory.by_id(e.site_id).code,
                actor=e.actor,
                action=e.action,
                object_type=e.object_type,
                object_id=e.object_id,
                before=e.before,
                after=e.after,
                request_id=e.request_id,
            )
            for e in entries
        ]
