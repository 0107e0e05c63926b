"""Warehouses. No HTTP here."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vintry.accounts.principal import Actor
from vintry.audit.service import record_change
from vintry.db.counters import WAREHOUSES_COUNTER
from vintry.errors import Conflict
from vintry.inventory.models import Warehouse
from vintry.inventory.schemas import WarehouseCreate, WarehouseOut
from vintry.platform import SITES_COUNTER, Platform, SiteContext
from vintry.sites.directory import SiteDirectory
from vintry.sites.models import SiteKind


def create_warehouse(platform: Platform, request: WarehouseCreate, *, actor: Actor) -> WarehouseOut:
    """Create a warehouse (HQ's decision; audited on the HQ site)."""
    directory = platform.directory()
    region = directory.get(request.region) if request.region else None
    root = directory.root
    assert root is not None, "the platform is initialised before warehouses exist"
    with platform.hq.transaction() as session:
        warehouse = Warehouse(
            code=request.code,
            name=request.name,
            city=request.city,
            region_site_id=region.id if region else None,
            latitude=request.latitude,
            longitude=request.longitude,
            priority=request.priority,
            active=request.active,
        )
        session.add(warehouse)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(
                f"warehouse {request.code!r} exists", code="warehouse_exists", field="code"
            ) from None
        out = warehouse_out(directory, warehouse)
        record_change(
            session,
            at=platform.clock.now(),
            site_id=root.id,
            actor=actor,
            action="warehouse.create",
            object_type="warehouse",
            object_id=warehouse.code,
            before=None,
            after=out.model_dump(mode="json"),
        )
        return out


def list_warehouses(platform: Platform, *, region: str | None = None) -> list[WarehouseOut]:
    """Warehouses by code, optionally only those serving *region*."""
    directory = platform.directory()
    with platform.hq.reading() as session:
        query = select(Warehouse).order_by(Warehouse.code)
        if region is not None:
            query = query.where(Warehouse.region_site_id == directory.get(region).id)
        return [warehouse_out(directory, w) for w in session.scalars(query)]


def eligible_warehouse_ids(session: Session, directory: SiteDirectory, site_code: str) -> list[int]:
    """Ids of the active warehouses that serve site *site_code*, in one query.

    A region is served by its own warehouses, a store by its region's (the region on its
    path), HQ by every region's; national hubs (no region) serve every site.
    """
    path = directory.path(site_code)
    query = select(Warehouse.id).where(Warehouse.active.is_(True)).order_by(Warehouse.id)
    if path[-1].kind is not SiteKind.HQ:
        regions = [node.id for node in path if node.kind is SiteKind.REGION]
        query = query.where(
            or_(Warehouse.region_site_id.is_(None), Warehouse.region_site_id.in_(regions))
        )
    return list(session.scalars(query))


def serving_warehouse_ids(
    session: Session, site: SiteContext, directory: SiteDirectory
) -> tuple[int, ...]:
    """:func:`eligible_warehouse_ids` of *site*, kept until a warehouse or the site tree
    changes (their change counters move), so a hot read path pays no query for it."""
    version = site.versions(WAREHOUSES_COUNTER, SITES_COUNTER)
    cacheable = min(version) >= 0 and directory.version == version[1]
    cache = site.platform.cache("serving_warehouses")
    found = cache.get(site.code, version) if cacheable else None
    if found is not None:
        return found  # type: ignore[no-any-return]
    ids = tuple(eligible_warehouse_ids(session, directory, site.code))
    if cacheable:
        cache.put(site.code, version, ids)
    return ids


def warehouse_out(directory: SiteDirectory, warehouse: Warehouse) -> WarehouseOut:
    """The API view of *warehouse*."""
    region = directory.by_id(warehouse.region_site_id).code if warehouse.region_site_id else None
    return WarehouseOut(
        code=warehouse.code,
        name=warehouse.name,
        city=warehouse.city,
        region=region,
        latitude=warehouse.latitude,
        longitude=warehouse.longitude,
        priority=warehouse.priority,
        active=warehouse.active,
    )
