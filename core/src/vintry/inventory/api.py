"""Routes for warehouses."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, status

from vintry.accounts.permissions import Permission
from vintry.api.security import RequestScope, authorize
from vintry.inventory import service
from vintry.inventory.schemas import WarehouseCreate, WarehouseOut

router = APIRouter(prefix="/api/v1/warehouses", tags=["inventory"])


@router.get("", response_model=list[WarehouseOut], summary="Warehouses")
def list_warehouses(
    region: str | None = Query(default=None, max_length=32),
    scope: RequestScope = Depends(authorize(Permission.WAREHOUSES_READ)),
) -> list[WarehouseOut]:
    """Every warehouse, or those serving one region of the caller's reach."""
    if region is not None:
        scope.require_site_within(region)
    return service.list_warehouses(scope.platform, region=region)


@router.post(
    "",
    response_model=WarehouseOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a warehouse",
)
def create_warehouse(
    request: WarehouseCreate, scope: RequestScope = Depends(authorize(Permission.WAREHOUSES_WRITE))
) -> WarehouseOut:
    """Register a warehouse (HQ administrators)."""
    if request.region is not None:
        scope.require_site_within(request.region)
    return service.create_warehouse(scope.platform, request, actor=scope.actor)
