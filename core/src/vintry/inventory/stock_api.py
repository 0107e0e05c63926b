"""Routes for stock: levels per warehouse, receipts and adjustments, the movement ledger,
holds by reference, the sweeper and the ledger check.

Warehouses and SKUs are named by code. A request sees the warehouses that serve the
addressed site's subtree (as far as the caller's tenant reaches) plus the national hubs
(warehouses serving no region); any other warehouse does not exist for it (404). HQ,
addressing the root, sees every warehouse.

The functions above the routes know nothing of HTTP: ``vintry stock`` calls them too, with
no site scope (the command line acts for HQ).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from vintry.accounts.permissions import Permission
from vintry.accounts.principal import Actor
from vintry.api.security import RequestScope, authorize
from vintry.audit.service import record_change
from vintry.catalog.models import Sku
from vintry.errors import Conflict, NotFound
from vintry.inventory import stock
from vintry.inventory.models import (
    Reservation,
    ReservationStatus,
    Stock,
    StockMovement,
    Warehouse,
)
from vintry.platform import Platform
from vintry.sites.directory import SiteDirectory
from vintry.sites.schemas import RequestModel

MAX_UNITS = 1_000_000
"""The most units one receipt or adjustment moves (a typo guard, not a business rule)."""

Code = Annotated[str, StringConstraints(min_length=1, max_length=32)]
Note = Annotated[str, StringConstraints(min_length=1, max_length=200)]

# --- bodies -----------------------------------------------------------------------------


class StockReceipt(RequestModel):
    """Units received into a warehouse."""

    warehouse: Code = Field(description="Warehouse code.")
    sku: Code = Field(description="SKU code.")
    quantity: int = Field(ge=1, le=MAX_UNITS, description="Units received.")
    note: Note | None = Field(default=None, description="Delivery note, supplier, batch…")
    reference: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="The document the goods came with (a delivery number)."
    )


class StockAdjustment(RequestModel):
    """A correction of units on hand: a count, breakage, a write-off."""

    warehouse: Code = Field(description="Warehouse code.")
    sku: Code = Field(description="SKU code.")
    delta: int = Field(ge=-MAX_UNITS, le=MAX_UNITS, description="Units added (or removed, < 0).")
    note: Note = Field(description="Why: required, it is the ledger's only explanation.")


# --- responses --------------------------------------------------------------------------


class WarehouseStockOut(BaseModel):
    """One SKU's stock in one warehouse.

    ``available = on_hand - reserved + expired``: holds whose time ran out still count in
    ``reserved`` until the sweeper (or the next hold on the row) releases them, but they
    never refuse a sale.
    """

    warehouse: str
    on_hand: int
    reserved: int
    expired: int = Field(description="Units in holds whose time ran out, not yet released.")
    available: int


class StockLevelOut(BaseModel):
    """One SKU's stock: totals over the warehouses shown, and each of them."""

    sku: str
    on_hand: int
    reserved: int
    expired: int
    available: int
    warehouses: list[WarehouseStockOut]


class StockChangeOut(WarehouseStockOut):
    """The stock of a (warehouse, SKU) after a receipt or an adjustment."""

    sku: str


class MovementOut(BaseModel):
    """One line of the append-only movement ledger."""

    id: int
    at: datetime
    warehouse: str
    sku: str
    kind: str
    on_hand_delta: int
    reserved_delta: int
    reservation_id: int | None
    reference: str | None
    note: str | None


class ReservationOut(BaseModel):
    """A hold of units for a reference (an order)."""

    id: int
    reference: str
    warehouse: str
    sku: str
    quantity: int
    status: str = Field(description="held, shipped, released or expired.")
    expires_at: datetime | None
    timed_out: bool = Field(description="Still held but past its time: the sweeper's next.")
    created_at: datetime
    closed_at: datetime | None


class SweepOut(BaseModel):
    """What one run of the sweeper released."""

    released_units: int


class DiscrepancyOut(BaseModel):
    """A (warehouse, SKU) whose stock differs from the sum of its ledger (never expected)."""

    warehouse: str
    sku: str
    on_hand: int
    ledger_on_hand: int
    reserved: int
    ledger_reserved: int


class LedgerCheckOut(BaseModel):
    """The ledger check: ``ok`` when every stock row equals the sum of its movements."""

    ok: bool
    discrepancies: list[DiscrepancyOut]


# --- what a request may see -------------------------------------------------------------


@dataclass(frozen=True)
class StockReach:
    """The warehouses a request may see, by id and by code."""

    codes: dict[int, str]
    ids: dict[str, int]
    region_site_ids: dict[int, int | None]

    @property
    def warehouse_ids(self) -> list[int]:
        """Every visible warehouse's id."""
        return list(self.codes)

    def warehouse_id(self, code: str) -> int:
        """The id of visible warehouse *code*; 404 naming the field otherwise."""
        warehouse_id = self.ids.get(code)
        if warehouse_id is None:
            raise NotFound(
                f"warehouse {code!r} does not exist",
                code="warehouse_not_found",
                field="warehouse",
            )
        return warehouse_id

    def only(self, code: str | None) -> list[int]:
        """Warehouse *code* alone (404 if not visible), or every visible one."""
        return [self.warehouse_id(code)] if code is not None else self.warehouse_ids


def stock_reach(
    session: Session, directory: SiteDirectory, site_codes: Iterable[str] | None
) -> StockReach:
    """Warehouses serving one of *site_codes*, plus national hubs; all when None."""
    query = select(Warehouse.id, Warehouse.code, Warehouse.region_site_id)
    if site_codes is not None:
        site_ids = [directory.get(code).id for code in site_codes]
        query = query.where(
            or_(Warehouse.region_site_id.is_(None), Warehouse.region_site_id.in_(site_ids))
        )
    rows = session.execute(query).all()
    return StockReach(
        codes={i: c for i, c, _ in rows},
        ids={c: i for i, c, _ in rows},
        region_site_ids={i: r for i, _, r in rows},
    )


def scope_reach(session: Session, scope: RequestScope) -> StockReach:
    """The warehouses of the addressed site's visible subtree, plus the national hubs."""
    return stock_reach(session, scope.directory, scope.visible_site_codes())


def sku_id_of(session: Session, code: str) -> int:
    """The id of SKU *code*; 404 naming the field otherwise."""
    sku_id = session.scalar(select(Sku.id).where(Sku.code == code))
    if sku_id is None:
        raise NotFound(f"SKU {code!r} does not exist", code="sku_not_found", field="sku")
    return sku_id


def _sku_codes(session: Session, sku_ids: Iterable[int]) -> dict[int, str]:
    ids = list(set(sku_ids))
    if not ids:
        return {}
    return {i: c for i, c in session.execute(select(Sku.id, Sku.code).where(Sku.id.in_(ids)))}


# --- reading ----------------------------------------------------------------------------


def _expired_holds(now: datetime) -> Any:
    """Units per (warehouse, SKU) in holds whose time ran out (what ``available`` adds)."""
    return (
        select(
            Reservation.warehouse_id,
            Reservation.sku_id,
            func.sum(Reservation.quantity).label("quantity"),
        )
        .where(
            Reservation.status == ReservationStatus.HELD.value,
            Reservation.expires_at <= now,
        )
        .group_by(Reservation.warehouse_id, Reservation.sku_id)
        .subquery()
    )


def _warehouse_stock(code: str, on_hand: int, reserved: int, expired: int) -> WarehouseStockOut:
    return WarehouseStockOut(
        warehouse=code,
        on_hand=on_hand,
        reserved=reserved,
        expired=expired,
        available=on_hand - reserved + expired,
    )


def stock_levels(
    session: Session,
    reach: StockReach,
    *,
    now: datetime,
    sku: str | None = None,
    warehouse: str | None = None,
    after: str | None = None,
    limit: int | None = 100,
) -> list[StockLevelOut]:
    """Stock per SKU (by code, a page at a time) and warehouse, in two statements.

    A SKU is listed when one of the warehouses shown has a stock row for it.
    """
    warehouse_ids = reach.only(warehouse)
    page = select(Sku.id, Sku.code).order_by(Sku.code)
    if sku is not None:
        page = page.where(Sku.id == sku_id_of(session, sku))
    if after is not None:
        page = page.where(Sku.code > after)
    page = page.where(exists().where(Stock.sku_id == Sku.id, Stock.warehouse_id.in_(warehouse_ids)))
    skus = dict(session.execute(page.limit(limit)).all())
    if not skus or not warehouse_ids:
        return []
    expired = _expired_holds(now)
    rows = session.execute(
        select(
            Stock.sku_id,
            Stock.warehouse_id,
            Stock.on_hand,
            Stock.reserved,
            func.coalesce(expired.c.quantity, 0),
        )
        .outerjoin(
            expired,
            and_(expired.c.warehouse_id == Stock.warehouse_id, expired.c.sku_id == Stock.sku_id),
        )
        .where(Stock.sku_id.in_(skus), Stock.warehouse_id.in_(warehouse_ids))
    ).all()
    per_sku: dict[int, list[WarehouseStockOut]] = defaultdict(list)
    for sku_id, warehouse_id, on_hand, reserved, expired_units in rows:
        per_sku[sku_id].append(
            _warehouse_stock(reach.codes[warehouse_id], on_hand, reserved, int(expired_units))
        )
    levels = []
    for sku_id, code in skus.items():
        places = sorted(per_sku[sku_id], key=lambda place: place.warehouse)
        levels.append(
            StockLevelOut(
                sku=code,
                on_hand=sum(p.on_hand for p in places),
                reserved=sum(p.reserved for p in places),
                expired=sum(p.expired for p in places),
                available=sum(p.available for p in places),
                warehouses=places,
            )
        )
    return levels


def list_movements(
    session: Session,
    reach: StockReach,
    *,
    warehouse: str | None = None,
    sku: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[MovementOut]:
    """Ledger lines of the visible warehouses, newest first, paged by ``before_id``."""
    query = (
        select(StockMovement, Sku.code)
        .join(Sku, Sku.id == StockMovement.sku_id)
        .where(StockMovement.warehouse_id.in_(reach.only(warehouse)))
    )
    if sku is not None:
        query = query.where(StockMovement.sku_id == sku_id_of(session, sku))
    if before_id is not None:
        query = query.where(StockMovement.id < before_id)
    rows = session.execute(query.order_by(StockMovement.id.desc()).limit(limit)).all()
    return [
        MovementOut(
            id=m.id,
            at=m.at,
            warehouse=reach.codes[m.warehouse_id],
            sku=sku_code,
            kind=m.kind,
            on_hand_delta=m.on_hand_delta,
            reserved_delta=m.reserved_delta,
            reservation_id=m.reservation_id,
            reference=m.reference,
            note=m.note,
        )
        for m, sku_code in rows
    ]


def list_reservations(
    session: Session, reach: StockReach, *, reference: str, now: datetime
) -> list[ReservationOut]:
    """The holds of *reference* in the visible warehouses, oldest first."""
    rows = session.execute(
        select(Reservation, Sku.code)
        .join(Sku, Sku.id == Reservation.sku_id)
        .where(
            Reservation.reference == reference,
            Reservation.warehouse_id.in_(reach.warehouse_ids),
        )
        .order_by(Reservation.id)
    ).all()
    return [
        ReservationOut(
            id=r.id,
            reference=r.reference,
            warehouse=reach.codes[r.warehouse_id],
            sku=sku_code,
            quantity=r.quantity,
            status=r.status,
            expires_at=r.expires_at,
            timed_out=r.status == ReservationStatus.HELD.value
            and r.expires_at is not None
            and r.expires_at <= now,
            created_at=r.created_at,
            closed_at=r.closed_at,
        )
        for r, sku_code in rows
    ]


def ledger_check(session: Session, reach: StockReach) -> LedgerCheckOut:
    """:func:`~vintry.inventory.stock.ledger_discrepancies` of the visible warehouses."""
    found = [d for d in stock.ledger_discrepancies(session) if d.warehouse_id in reach.codes]
    codes = _sku_codes(session, (d.sku_id for d in found))
    discrepancies = [
        DiscrepancyOut(
            warehouse=reach.codes[d.warehouse_id],
            sku=codes[d.sku_id],
            on_hand=d.on_hand,
            ledger_on_hand=d.ledger_on_hand,
            reserved=d.reserved,
            ledger_reserved=d.ledger_reserved,
        )
        for d in found
    ]
    return LedgerCheckOut(ok=not discrepancies, discrepancies=discrepancies)


# --- changing ---------------------------------------------------------------------------


def _stock_now(
    session: Session, warehouse_id: int, sku_id: int, now: datetime
) -> tuple[int, int, int] | None:
    """(on hand, reserved, expired) of one row, or None without one."""
    expired = _expired_holds(now)
    row = session.execute(
        select(Stock.on_hand, Stock.reserved, func.coalesce(expired.c.quantity, 0))
        .outerjoin(
            expired,
            and_(expired.c.warehouse_id == Stock.warehouse_id, expired.c.sku_id == Stock.sku_id),
        )
        .where(Stock.warehouse_id == warehouse_id, Stock.sku_id == sku_id)
    ).first()
    return None if row is None else (int(row[0]), int(row[1]), int(row[2]))


def _audit_site_id(directory: SiteDirectory, region_site_id: int | None) -> int:
    """Stock of a regional warehouse is audited on its region (whose operators read it),
    of a national hub on the root."""
    if region_site_id is not None:
        return region_site_id
    root = directory.root
    assert root is not None, "the platform is initialised before stock exists"
    return root.id


def receive_stock(
    platform: Platform,
    request: StockReceipt,
    *,
    actor: Actor,
    site_codes: Iterable[str] | None = None,
) -> StockChangeOut:
    """Record a goods receipt, audited with the stock before and after."""
    now = platform.clock.now()
    directory = platform.directory()
    with platform.hq.transaction() as session:
        reach = stock_reach(session, directory, site_codes)
        warehouse_id = reach.warehouse_id(request.warehouse)
        sku_id = sku_id_of(session, request.sku)
        existed = session.get(Stock, (warehouse_id, sku_id)) is not None
        stock.receive(
            session,
            warehouse_id=warehouse_id,
            sku_id=sku_id,
            quantity=request.quantity,
            now=now,
            reference=request.reference,
            note=request.note,
        )
        after = _stock_now(session, warehouse_id, sku_id, now)
        assert after is not None
        on_hand, reserved, _expired = after
        # Derived from the row as this transaction left it (it holds the row's lock), so
        # a concurrent hold between a read and the receipt cannot make "before" wrong.
        before = {"on_hand": on_hand - request.quantity, "reserved": reserved}
        record_change(
            session,
            at=now,
            site_id=_audit_site_id(directory, reach.region_site_ids[warehouse_id]),
            actor=actor,
            action="stock.receive",
            object_type="stock",
            object_id=f"{request.warehouse}/{request.sku}",
            before=before if existed else None,
            after={
                "on_hand": on_hand,
                "reserved": reserved,
                "quantity": request.quantity,
                "reference": request.reference,
                "note": request.note,
            },
        )
    return StockChangeOut(
        sku=request.sku, **_warehouse_stock(request.warehouse, *after).model_dump()
    )


def adjust_stock(
    platform: Platform,
    request: StockAdjustment,
    *,
    actor: Actor,
    site_codes: Iterable[str] | None = None,
) -> StockChangeOut:
    """Correct units on hand, audited with the stock before and after.

    Holds whose time ran out on the row are released first (reservations before the stock
    row, the order every stock function locks in): only live holds refuse a correction,
    with 409 ``adjustment_below_reserved``.
    """
    now = platform.clock.now()
    directory = platform.directory()
    with platform.hq.transaction() as session:
        reach = stock_reach(session, directory, site_codes)
        warehouse_id = reach.warehouse_id(request.warehouse)
        sku_id = sku_id_of(session, request.sku)
        released = stock.release_expired(session, [(warehouse_id, sku_id)], now)
        try:
            stock.adjust(
                session,
                warehouse_id=warehouse_id,
                sku_id=sku_id,
                delta=request.delta,
                now=now,
                note=request.note,
            )
        except Conflict:
            if session.get(Stock, (warehouse_id, sku_id)) is None:
                raise Conflict(
                    f"no stock of {request.sku!r} was ever received at {request.warehouse!r}; "
                    "record a receipt instead",
                    code="stock_not_received",
                    field="sku",
                ) from None
            raise
        after = _stock_now(session, warehouse_id, sku_id, now)
        assert after is not None
        on_hand, reserved, _expired = after
        record_change(
            session,
            at=now,
            site_id=_audit_site_id(directory, reach.region_site_ids[warehouse_id]),
            actor=actor,
            action="stock.adjust",
            object_type="stock",
            object_id=f"{request.warehouse}/{request.sku}",
            before={"on_hand": on_hand - request.delta, "reserved": reserved + released},
            after={
                "on_hand": on_hand,
                "reserved": reserved,
                "delta": request.delta,
                "expired_released": released,
                "note": request.note,
            },
        )
    return StockChangeOut(
        sku=request.sku, **_warehouse_stock(request.warehouse, *after).model_dump()
    )


def sweep_expired(platform: Platform) -> SweepOut:
    """Release every hold whose time ran out, in every warehouse (the ledger records it)."""
    with platform.hq.transaction() as session:
        return SweepOut(released_units=stock.expire_all(session, platform.clock.now()))


# --- routes -----------------------------------------------------------------------------

router = APIRouter(prefix="/api/v1/stock", tags=["inventory"])
CodeQuery = Annotated[str | None, Query(min_length=1, max_length=32)]


@router.get("", response_model=list[StockLevelOut], summary="Stock levels")
def get_stock(
    sku: CodeQuery = None,
    warehouse: CodeQuery = None,
    after: Annotated[
        str | None, Query(max_length=32, description="Last SKU code of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    scope: RequestScope = Depends(authorize(Permission.STOCK_READ)),
) -> list[StockLevelOut]:
    """On hand, reserved and available per SKU and warehouse, SKUs by code a page at a time."""
    with scope.platform.hq.reading() as session:
        return stock_levels(
            session,
            scope_reach(session, scope),
            now=scope.platform.clock.now(),
            sku=sku,
            warehouse=warehouse,
            after=after,
            limit=limit,
        )


@router.post(
    "/receipts",
    response_model=StockChangeOut,
    status_code=status.HTTP_201_CREATED,
    summary="Receive stock",
)
def post_receipt(
    request: StockReceipt, scope: RequestScope = Depends(authorize(Permission.STOCK_WRITE))
) -> StockChangeOut:
    """Add units on hand in a warehouse (a goods receipt); audited."""
    return receive_stock(
        scope.platform, request, actor=scope.actor, site_codes=scope.visible_site_codes()
    )


@router.post(
    "/adjustments",
    response_model=StockChangeOut,
    status_code=status.HTTP_201_CREATED,
    summary="Adjust stock",
)
def post_adjustment(
    request: StockAdjustment, scope: RequestScope = Depends(authorize(Permission.STOCK_WRITE))
) -> StockChangeOut:
    """Correct units on hand; never below what live holds keep (409); audited."""
    return adjust_stock(
        scope.platform, request, actor=scope.actor, site_codes=scope.visible_site_codes()
    )


@router.get("/movements", response_model=list[MovementOut], summary="Stock movement ledger")
def get_movements(
    warehouse: CodeQuery = None,
    sku: CodeQuery = None,
    before_id: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    scope: RequestScope = Depends(authorize(Permission.STOCK_READ)),
) -> list[MovementOut]:
    """The append-only ledger, newest first, paged by ``before_id``."""
    with scope.platform.hq.reading() as session:
        return list_movements(
            session,
            scope_reach(session, scope),
            warehouse=warehouse,
            sku=sku,
            before_id=before_id,
            limit=limit,
        )


@router.get("/reservations", response_model=list[ReservationOut], summary="Holds of a reference")
def get_reservations(
    reference: Annotated[str, Query(min_length=1, max_length=64)],
    scope: RequestScope = Depends(authorize(Permission.STOCK_READ)),
) -> list[ReservationOut]:
    """Every hold of one reference (an order), whatever its status."""
    with scope.platform.hq.reading() as session:
        reach = scope_reach(session, scope)
        return list_reservations(
            session, reach, reference=reference, now=scope.platform.clock.now()
        )


@router.post("/sweep", response_model=SweepOut, summary="Release expired holds")
def post_sweep(scope: RequestScope = Depends(authorize(Permission.STOCK_WRITE))) -> SweepOut:
    """Run the sweeper now: every hold whose time ran out, in every warehouse, is released."""
    return sweep_expired(scope.platform)


@router.get("/ledger-check", response_model=LedgerCheckOut, summary="Check the ledger")
def get_ledger_check(
    scope: RequestScope = Depends(authorize(Permission.STOCK_READ)),
) -> LedgerCheckOut:
    """Stock rows of the visible warehouses that differ from their ledger (expected: none)."""
    with scope.platform.hq.reading() as session:
        return ledger_check(session, scope_reach(session, scope))
