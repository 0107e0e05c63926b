"""The stock API: levels, receipts, adjustments, the ledger, holds, the sweeper, the check,
and which warehouses each caller sees."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from starlette.testclient import TestClient
from vintry.accounts.models import Role
from vintry.audit.models import AuditEntry
from vintry.clock import ManualClock
from vintry.inventory import stock
from vintry.inventory.models import Reservation, Stock, StockMovement
from vintry.inventory.stock import Hold
from vintry.platform import Platform
from vintry.sites.models import SiteKind
from vintry_sdk.testing import VintryFactory

from .conftest import StockCatalog


@dataclass(frozen=True)
class StockWorld:
    """Sites hq ─ east ─ east-s1 and hq ─ west, a warehouse serving each plus a national
    hub, and two SKUs."""

    warehouses: dict[str, int]
    skus: dict[str, int]


@pytest.fixture
def world(vintry_factory: VintryFactory, stock_catalog: StockCatalog) -> StockWorld:
    vintry_factory.site("east", kind=SiteKind.REGION)
    vintry_factory.site("west", kind=SiteKind.REGION)
    vintry_factory.site("east-s1", parent="east", kind=SiteKind.STORE)
    warehouses = {
        "WH-HUB": stock_catalog.warehouse("WH-HUB", priority=1),
        "WH-EAST": stock_catalog.warehouse("WH-EAST", region="east"),
        "WH-EAST-S1": stock_catalog.warehouse("WH-EAST-S1", region="east-s1"),
        "WH-WEST": stock_catalog.warehouse("WH-WEST", region="west"),
    }
    codes = ["FT-375", "FT-500"]
    return StockWorld(warehouses, dict(zip(codes, stock_catalog.skus(*codes), strict=True)))


def _receive(client: TestClient, warehouse: str, sku: str, quantity: int, **extra: Any) -> Any:
    response = client.post(
        "/api/v1/stock/receipts",
        json={"warehouse": warehouse, "sku": sku, "quantity": quantity, **extra},
    )
    assert response.status_code == 201, response.text
    return response.json()


def _hold(
    platform: Platform, world: StockWorld, reference: str, lines: list[tuple[str, str, int]],
    *, minutes: int | None = 30,
) -> list[int]:
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        return stock.reserve(
            session,
            reference=reference,
            holds=[Hold(world.warehouses[w], world.skus[s], q) for w, s, q in lines],
            now=now,
            expires_at=now + timedelta(minutes=minutes) if minutes else None,
        )


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def _level(levels: list[dict[str, Any]], sku: str, warehouse: str) -> dict[str, Any]:
    [level] = [entry for entry in levels if entry["sku"] == sku]
    [place] = [p for p in level["warehouses"] if p["warehouse"] == warehouse]
    return {k: place[k] for k in ("on_hand", "reserved", "expired", "available")}


def _counts(platform: Platform) -> tuple[int, int, int, int]:
    with platform.hq.reading() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Stock, StockMovement, Reservation, AuditEntry)
        )


# --- levels, receipts, the sweeper -----------------------------------------------------


def test_receipts_holds_expiry_and_the_sweeper_show_in_the_levels(
    vintry_admin: TestClient, vintry_platform: Platform, vintry_clock: ManualClock,
    world: StockWorld,
) -> None:
    created = _receive(vintry_admin, "WH-EAST", "FT-500", 10, note="PO 17", reference="DN-1")
    assert created == {
        "sku": "FT-500", "warehouse": "WH-EAST",
        "on_hand": 10, "reserved": 0, "expired": 0, "available": 10,
    }
    _receive(vintry_admin, "WH-HUB", "FT-500", 4)
    _hold(vintry_platform, world, "O-1", [("WH-EAST", "FT-500", 3)], minutes=30)

    levels = vintry_admin.get("/api/v1/stock").json()
    assert [level["sku"] for level in levels] == ["FT-500"]
    assert levels[0] | {"warehouses": None} == {
        "sku": "FT-500", "on_hand": 14, "reserved": 3, "expired": 0, "available": 11,
        "warehouses": None,
    }
    assert _level(levels, "FT-500", "WH-EAST") == {
        "on_hand": 10, "reserved": 3, "expired": 0, "available": 7,
    }

    vintry_clock.advance(minutes=31)
    levels = vintry_admin.get("/api/v1/stock").json()
    # An expired hold is still counted as reserved, but never refuses a sale.
    assert _level(levels, "FT-500", "WH-EAST") == {
        "on_hand": 10, "reserved": 3, "expired": 3, "available": 10,
    }
    with vintry_platform.hq.reading() as session:
        atp = stock.available(
            session, sku_ids=[world.skus["FT-500"]], warehouse_ids=world.warehouses.values(),
            now=vintry_clock.now(),
        )
    assert atp == {world.skus["FT-500"]: {
        world.warehouses["WH-EAST"]: 10, world.warehouses["WH-HUB"]: 4,
    }}

    swept = vintry_admin.post("/api/v1/stock/sweep")
    assert swept.status_code == 200, swept.text
    assert swept.json() == {"released_units": 3}
    assert vintry_admin.post("/api/v1/stock/sweep").json() == {"released_units": 0}
    levels = vintry_admin.get("/api/v1/stock").json()
    assert _level(levels, "FT-500", "WH-EAST") == {
        "on_hand": 10, "reserved": 0, "expired": 0, "available": 10,
    }
    assert vintry_admin.get("/api/v1/stock/ledger-check").json() == {
        "ok": True, "discrepancies": [],
    }


def test_levels_filter_and_page_by_sku_code(
    vintry_admin: TestClient, world: StockWorld
) -> None:
    for sku in ("FT-500", "FT-375"):
        for warehouse in ("WH-EAST", "WH-WEST"):
            _receive(vintry_admin, warehouse, sku, 5)
    first = vintry_admin.get("/api/v1/stock", params={"limit": 1}).json()
    assert [level["sku"] for level in first] == ["FT-375"]
    assert [p["warehouse"] for p in first[0]["warehouses"]] == ["WH-EAST", "WH-WEST"]
    second = vintry_admin.get("/api/v1/stock", params={"limit": 1, "after": "FT-375"}).json()
    assert [level["sku"] for level in second] == ["FT-500"]
    assert vintry_admin.get("/api/v1/stock", params={"after": "FT-500"}).json() == []

    only = vintry_admin.get("/api/v1/stock", params={"sku": "FT-500", "warehouse": "WH-WEST"})
    assert only.status_code == 200, only.text
    [level] = only.json()
    assert (level["sku"], [p["warehouse"] for p in level["warehouses"]]) == (
        "FT-500", ["WH-WEST"]
    )
    # A warehouse with no stock yet lists nothing; unknown codes are 404 naming the field.
    assert vintry_admin.get("/api/v1/stock", params={"warehouse": "WH-HUB"}).json() == []
    unknown_sku = _error(vintry_admin.get("/api/v1/stock", params={"sku": "NOPE"}), 404)
    assert (unknown_sku["code"], unknown_sku["field"]) == ("sku_not_found", "sku")
    unknown_wh = _error(vintry_admin.get("/api/v1/stock", params={"warehouse": "WH-X"}), 404)
    assert (unknown_wh["code"], unknown_wh["field"]) == ("warehouse_not_found", "warehouse")
    too_many = _error(vintry_admin.get("/api/v1/stock", params={"limit": 5000}), 422)
    assert too_many["code"] == "validation_failed"


def test_receipts_are_audited_with_stock_before_and_after(
    vintry_admin: TestClient, vintry_platform: Platform, world: StockWorld
) -> None:
    _receive(vintry_admin, "WH-EAST", "FT-500", 10, note="first delivery")
    _hold(vintry_platform, world, "O-1", [("WH-EAST", "FT-500", 4)])
    _receive(vintry_admin, "WH-EAST", "FT-500", 6, reference="DN-2")
    with vintry_platform.hq.reading() as session:
        entries = list(session.scalars(
            select(AuditEntry).where(AuditEntry.object_type == "stock").order_by(AuditEntry.id)
        ))
    east = vintry_platform.directory().get("east").id
    assert [(e.action, e.object_id, e.site_id, e.actor) for e in entries] == [
        ("stock.receive", "WH-EAST/FT-500", east, "admin"),
        ("stock.receive", "WH-EAST/FT-500", east, "admin"),
    ]
    assert entries[0].before is None
    assert entries[0].after == {
        "on_hand": 10, "reserved": 0, "quantity": 10, "reference": None, "note": "first delivery",
    }
    assert entries[1].before == {"on_hand": 10, "reserved": 4}
    assert entries[1].after == {
        "on_hand": 16, "reserved": 4, "quantity": 6, "reference": "DN-2", "note": None,
    }
    movements = vintry_admin.get("/api/v1/stock/movements").json()
    assert [(m["kind"], m["on_hand_delta"], m["reserved_delta"], m["reference"], m["note"])
            for m in movements] == [
        ("receipt", 6, 0, "DN-2", None),
        ("reserve", 0, 4, "O-1", None),
        ("receipt", 10, 0, None, "first delivery"),
    ]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"warehouse": "WH-NONE", "sku": "FT-500", "quantity": 1}, 404,
         "warehouse_not_found", "warehouse"),
        ({"warehouse": "WH-EAST", "sku": "NONE", "quantity": 1}, 404, "sku_not_found", "sku"),
        ({"warehouse": "WH-EAST", "sku": "FT-500", "quantity": 0}, 422,
         "validation_failed", "body.quantity"),
        ({"warehouse": "WH-EAST", "sku": "FT-500", "quantity": 1_000_001}, 422,
         "validation_failed", "body.quantity"),
        ({"warehouse": "WH-EAST", "sku": "FT-500"}, 422, "validation_failed", "body.quantity"),
        ({"warehouse": "WH-EAST", "sku": "FT-500", "quantity": 1, "batch": "B1"}, 422,
         "validation_failed", None),
    ],
    ids=["unknown-warehouse", "unknown-sku", "zero", "huge", "missing", "unknown-field"],
)
def test_bad_receipts_are_refused_and_write_nothing(
    body: dict[str, Any], status: int, code: str, field: str | None,
    vintry_admin: TestClient, vintry_platform: Platform, world: StockWorld,
) -> None:
    before = _counts(vintry_platform)
    error = _error(vintry_admin.post("/api/v1/stock/receipts", json=body), status)
    assert error["code"] == code
    if field is not None:
        assert error["field"] == field
    else:
        assert {"field": "body.batch", "code": "unknown_field"} in [
            {"field": p["field"], "code": p["code"]} for p in error["details"]["errors"]
        ]
    assert _counts(vintry_platform) == before


# --- adjustments -------------------------------------------------------------------------


def test_adjustments_correct_on_hand_but_never_below_live_holds(
    vintry_admin: TestClient, vintry_platform: Platform, vintry_clock: ManualClock,
    world: StockWorld,
) -> None:
    _receive(vintry_admin, "WH-WEST", "FT-375", 10)
    _hold(vintry_platform, world, "O-1", [("WH-WEST", "FT-375", 6)], minutes=30)

    def adjust(delta: int, note: str | None = "count") -> Any:
        body: dict[str, Any] = {"warehouse": "WH-WEST", "sku": "FT-375", "delta": delta}
        if note is not None:
            body["note"] = note
        return vintry_admin.post("/api/v1/stock/adjustments", json=body)

    broken = adjust(-2, "two bottles broken")
    assert broken.status_code == 201, broken.text
    assert broken.json() | {"sku": None} == {
        "sku": None, "warehouse": "WH-WEST", "on_hand": 8, "reserved": 6, "expired": 0,
        "available": 2,
    }
    before = _counts(vintry_platform)
    below = _error(adjust(-3), 409)
    assert (below["code"], below["field"]) == ("adjustment_below_reserved", "delta")
    assert _error(adjust(0), 422)["code"] == "invalid_quantity"
    assert _error(adjust(-1, note=None), 422)["field"] == "body.note"
    assert _error(adjust(-1, note=""), 422)["field"] == "body.note"
    never = vintry_admin.post(
        "/api/v1/stock/adjustments",
        json={"warehouse": "WH-HUB", "sku": "FT-375", "delta": 3, "note": "found"},
    )
    assert (_error(never, 409)["code"], _error(never, 409)["field"]) == (
        "stock_not_received", "sku"
    )
    assert _counts(vintry_platform) == before

    # Once the hold's time ran out it no longer stands in the way: it is released first.
    vintry_clock.advance(minutes=31)
    written_off = adjust(-8, "flood")
    assert written_off.status_code == 201, written_off.text
    assert written_off.json()["on_hand"] == 0 and written_off.json()["reserved"] == 0
    with vintry_platform.hq.reading() as session:
        entries = list(session.scalars(
            select(AuditEntry).where(AuditEntry.action == "stock.adjust").order_by(AuditEntry.id)
        ))
        assert stock.ledger_discrepancies(session) == []
    assert [(e.before, e.after) for e in entries] == [
        ({"on_hand": 10, "reserved": 6},
         {"on_hand": 8, "reserved": 6, "delta": -2, "expired_released": 0,
          "note": "two bottles broken"}),
        ({"on_hand": 8, "reserved": 6},
         {"on_hand": 0, "reserved": 0, "delta": -8, "expired_released": 6, "note": "flood"}),
    ]
    assert entries[0].site_id == vintry_platform.directory().get("west").id
    reservations = vintry_admin.get("/api/v1/stock/reservations", params={"reference": "O-1"})
    assert [r["status"] for r in reservations.json()] == ["expired"]


# --- the ledger, holds, the check --------------------------------------------------------


def test_movements_are_newest_first_filtered_and_paged(
    vintry_admin: TestClient, vintry_platform: Platform, world: StockWorld
) -> None:
    _receive(vintry_admin, "WH-EAST", "FT-500", 5)
    _receive(vintry_admin, "WH-EAST", "FT-375", 5)
    _receive(vintry_admin, "WH-WEST", "FT-500", 5)
    [reservation_id] = _hold(vintry_platform, world, "O-9", [("WH-EAST", "FT-500", 2)])
    with vintry_platform.hq.transaction() as session:
        stock.ship(session, reservation_ids=[reservation_id], now=vintry_platform.clock.now())

    everything = vintry_admin.get("/api/v1/stock/movements").json()
    assert [(m["kind"], m["warehouse"], m["sku"]) for m in everything] == [
        ("ship", "WH-EAST", "FT-500"),
        ("reserve", "WH-EAST", "FT-500"),
        ("receipt", "WH-WEST", "FT-500"),
        ("receipt", "WH-EAST", "FT-375"),
        ("receipt", "WH-EAST", "FT-500"),
    ]
    ids = [m["id"] for m in everything]
    assert ids == sorted(ids, reverse=True)
    assert everything[0]["reservation_id"] == reservation_id
    assert (everything[0]["on_hand_delta"], everything[0]["reserved_delta"]) == (-2, -2)

    page = vintry_admin.get("/api/v1/stock/movements", params={"limit": 2}).json()
    rest = vintry_admin.get(
        "/api/v1/stock/movements", params={"before_id": page[-1]["id"]}
    ).json()
    assert page + rest == everything
    east_500 = vintry_admin.get(
        "/api/v1/stock/movements", params={"warehouse": "WH-EAST", "sku": "FT-500"}
    ).json()
    assert [m["kind"] for m in east_500] == ["ship", "reserve", "receipt"]
    missing = _error(vintry_admin.get("/api/v1/stock/movements", params={"sku": "NOPE"}), 404)
    assert missing["code"] == "sku_not_found"


def test_reservations_of_a_reference_show_every_status(
    vintry_admin: TestClient, vintry_platform: Platform, vintry_clock: ManualClock,
    world: StockWorld,
) -> None:
    _receive(vintry_admin, "WH-EAST", "FT-500", 10)
    _receive(vintry_admin, "WH-HUB", "FT-375", 10)
    _hold(vintry_platform, world, "O-1",
          [("WH-EAST", "FT-500", 2), ("WH-HUB", "FT-375", 1)], minutes=15)
    vintry_clock.advance(minutes=16)
    held = vintry_admin.get("/api/v1/stock/reservations", params={"reference": "O-1"}).json()
    # Oldest first; one reservation's lines are made in (warehouse, SKU) order.
    assert [(r["warehouse"], r["sku"], r["quantity"], r["status"], r["timed_out"])
            for r in held] == [
        ("WH-HUB", "FT-375", 1, "held", True),
        ("WH-EAST", "FT-500", 2, "held", True),
    ]
    vintry_admin.post("/api/v1/stock/sweep")
    swept = vintry_admin.get("/api/v1/stock/reservations", params={"reference": "O-1"}).json()
    assert {(r["status"], r["timed_out"]) for r in swept} == {("expired", False)}
    assert all(r["closed_at"] is not None for r in swept)
    assert vintry_admin.get(
        "/api/v1/stock/reservations", params={"reference": "O-NONE"}
    ).json() == []
    assert _error(vintry_admin.get("/api/v1/stock/reservations"), 422)["field"] == (
        "query.reference"
    )


def test_ledger_check_reports_a_stock_row_that_left_its_ledger(
    vintry_factory: VintryFactory, vintry_admin: TestClient, vintry_platform: Platform,
    world: StockWorld,
) -> None:
    _receive(vintry_admin, "WH-EAST", "FT-500", 5)
    _receive(vintry_admin, "WH-WEST", "FT-500", 5)
    with vintry_platform.hq.transaction() as session:  # a write that bypassed the ledger
        session.execute(
            update(Stock)
            .where(Stock.warehouse_id == world.warehouses["WH-EAST"])
            .values(on_hand=Stock.on_hand + 1)
        )
    check = vintry_admin.get("/api/v1/stock/ledger-check").json()
    assert check == {"ok": False, "discrepancies": [{
        "warehouse": "WH-EAST", "sku": "FT-500", "on_hand": 6, "ledger_on_hand": 5,
        "reserved": 0, "ledger_reserved": 0,
    }]}
    west = vintry_factory.client_for(Role.SITE_OPERATOR, "west")
    assert west.get("/api/v1/stock/ledger-check").json() == {"ok": True, "discrepancies": []}


# --- tenancy -----------------------------------------------------------------------------


def test_an_operator_sees_its_regions_warehouses_and_the_hubs_only(
    vintry_factory: VintryFactory, vintry_admin: TestClient, vintry_platform: Platform,
    world: StockWorld,
) -> None:
    for warehouse in world.warehouses:
        _receive(vintry_admin, warehouse, "FT-500", 5)
    _hold(vintry_platform, world, "O-W", [("WH-WEST", "FT-500", 1)])
    _hold(vintry_platform, world, "O-E", [("WH-EAST", "FT-500", 1)])

    def seen(client: TestClient) -> list[str]:
        [level] = client.get("/api/v1/stock").json()
        return [p["warehouse"] for p in level["warehouses"]]

    east = vintry_factory.client_for(Role.SITE_OPERATOR, "east")
    store = vintry_factory.client_for(Role.SITE_OPERATOR, "east-s1")
    assert seen(vintry_admin) == ["WH-EAST", "WH-EAST-S1", "WH-HUB", "WH-WEST"]
    assert seen(east) == ["WH-EAST", "WH-EAST-S1", "WH-HUB"]
    assert seen(store) == ["WH-EAST-S1", "WH-HUB"]
    # HQ addressing a region sees what that region's operator sees.
    assert seen(vintry_factory.admin_client(site="east")) == ["WH-EAST", "WH-EAST-S1", "WH-HUB"]

    for path, params in [
        ("/api/v1/stock", {"warehouse": "WH-WEST"}),
        ("/api/v1/stock/movements", {"warehouse": "WH-WEST"}),
    ]:
        hidden = _error(east.get(path, params=params), 404)
        assert (hidden["code"], hidden["field"]) == ("warehouse_not_found", "warehouse")
    assert {m["warehouse"] for m in east.get("/api/v1/stock/movements").json()} == {
        "WH-EAST", "WH-EAST-S1", "WH-HUB",
    }
    assert east.get("/api/v1/stock/reservations", params={"reference": "O-W"}).json() == []
    assert len(east.get("/api/v1/stock/reservations", params={"reference": "O-E"}).json()) == 1

    # Operators read stock but do not write it; outside their tenant a site does not exist.
    body = {"warehouse": "WH-EAST", "sku": "FT-500", "quantity": 1}
    assert _error(east.post("/api/v1/stock/receipts", json=body), 403)["code"] == (
        "permission_denied"
    )
    assert _error(east.post("/api/v1/stock/sweep"), 403)["code"] == "permission_denied"
    west_site = vintry_factory.client(east.headers["Authorization"].split()[1], site="west")
    assert _error(west_site.get("/api/v1/stock"), 404)["code"] == "site_not_found"
    dealer = vintry_factory.client_for(Role.DEALER, "east")
    assert _error(dealer.get("/api/v1/stock"), 403)["code"] == "permission_denied"
    # HQ addressing east cannot reach west's warehouse through it.
    through_east = vintry_factory.admin_client(site="east")
    body = {"warehouse": "WH-WEST", "sku": "FT-500", "quantity": 1}
    assert _error(through_east.post("/api/v1/stock/receipts", json=body), 404)["code"] == (
        "warehouse_not_found"
    )
