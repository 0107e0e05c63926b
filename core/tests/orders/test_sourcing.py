"""Sourcing at placement: per-site rules inherited down the tree and validated, the guard
that replaces a raising or hanging strategy by the site's default, dry runs, KPIs, and the
fulfilment that follows a split order: one shipment per warehouse, carriers' arrival
estimates recomputed at every node, a timeline the dealer reads (and no other dealer)."""

from __future__ import annotations

import threading
import types
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from vintry.audit.models import AuditEntry
from vintry.clock import ManualClock
from vintry.contracts import SourcingPlan, SourcingRequest
from vintry.hookspecs import hookimpl
from vintry.orders.models import Order, OutboxEvent
from vintry.platform import Platform
from vintry.sourcing import planner
from vintry_sdk.testing import VintryFactory

from .conftest import Shop
from .lifecycle_flows import buyer, error_code

EAST = "east"
HUB = "WH-HUB"
EAST_WH = "WH-E1"


def _rules(default: str = "priority-nearest", **rule: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"rules": [], "default": {"strategy": default}}
    if rule:
        body["rules"].append({"name": "first", **rule})
    return body


# --- rules: inheritance, validation, audit ---------------------------------------------------


def test_rules_are_inherited_whole_replaced_by_a_child_and_restored_on_delete(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    hq = vintry_factory.admin_client()
    east = vintry_factory.admin_client(EAST)
    builtin = east.get("/api/v1/sourcing/rules").json()
    assert builtin["decided_by"] is None
    assert builtin["rule_set"]["default"]["strategy"] == "priority-nearest"

    at_hq = hq.put("/api/v1/sourcing/rules", json=_rules("cost-local-search"))
    assert at_hq.status_code == 200, at_hq.text
    inherited = east.get("/api/v1/sourcing/rules").json()
    assert inherited["decided_by"] == "hq" and inherited["own"] is None
    assert inherited["rule_set"]["default"]["strategy"] == "cost-local-search"

    own = _rules("fewest-splits", strategy="nearest-with-stock", when={"dealer_tiers": ["gold"]})
    assert east.put("/api/v1/sourcing/rules", json=own).status_code == 200
    replaced = east.get("/api/v1/sourcing/rules").json()
    assert replaced["decided_by"] == EAST
    assert [r["name"] for r in replaced["rule_set"]["rules"]] == ["first"]
    assert replaced["rule_set"]["default"]["strategy"] == "fewest-splits"

    restored = east.delete("/api/v1/sourcing/rules").json()
    assert restored["decided_by"] == "hq" and restored["own"] is None
    with vintry_platform.hq.reading() as session:
        actions = list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.object_type == "sourcing_rules")
                .order_by(AuditEntry.id)
            )
        )
    assert actions == [
        "sourcing_rules.update",
        "sourcing_rules.update",
        "sourcing_rules.delete",
    ]


@pytest.mark.parametrize(
    ("body", "code", "field", "says"),
    [
        (
            _rules(strategy="no-such-strategy"),
            "unknown_strategy",
            "rules.0.strategy",
            "rule 'first'",
        ),
        (
            _rules(strategy="priority", when={"min_amount": "900", "max_amount": "100"}),
            "invalid_sourcing_rules",
            "rules.0.when",
            "rule 'first' (rules[0])",
        ),
        (
            _rules(strategy="priority", when={"dealer_level": ["gold"]}),
            "invalid_sourcing_rules",
            "rules.0.when.dealer_level",
            "rule 'first' (rules[0]): when.dealer_level",
        ),
        (
            _rules(strategy="priority", warehouses=["WH-NOWHERE"]),
            "unknown_warehouse",
            "rules.0.warehouses.0",
            "WH-NOWHERE",
        ),
        (
            {"rules": [], "default": {"strategy": "priority", "time_budget_ms": 0}},
            "invalid_sourcing_rules",
            "default.time_budget_ms",
            "the default rule: time_budget_ms",
        ),
        (
            {"rules": [{"name": "x", "strategy": "__import__('os')"}], "default": {}},
            "invalid_sourcing_rules",
            "rules.0.strategy",
            "rule 'x'",
        ),
    ],
)
def test_invalid_rules_are_refused_naming_the_rule_and_field(
    vintry_factory: VintryFactory, shop: Shop, body: Any, code: str, field: str, says: str
) -> None:
    response = vintry_factory.admin_client(EAST).put("/api/v1/sourcing/rules", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert says in error["message"]


def test_an_operator_cannot_change_another_regions_rules(
    vintry_factory: VintryFactory, shop: Shop
) -> None:
    vintry_factory.site("west")
    operator = vintry_factory.client_for("site_operator", EAST)
    west = vintry_factory.client(operator.headers["authorization"].split()[1], site="west")
    assert west.put("/api/v1/sourcing/rules", json=_rules()).status_code == 404
    dealer = buyer(vintry_factory, shop)
    assert dealer.client.put("/api/v1/sourcing/rules", json=_rules()).status_code == 403


# --- placement: the rule chosen, the record stored ------------------------------------------


def test_the_matching_rule_chooses_the_strategy_and_the_order_stores_why(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    rules = {
        "rules": [
            {
                "name": "small-orders",
                "when": {"max_quantity": 2},
                "strategy": "nearest-with-stock",
            }
        ],
        "default": {"strategy": "cost-local-search", "parameters": {"shipment_cost": 800}},
    }
    assert vintry_factory.admin_client(EAST).put("/api/v1/sourcing/rules", json=rules).is_success
    dealer = buyer(vintry_factory, shop)
    small = dealer.place((shop.sku, 1))
    assert small["sourcing"]["rule"] == "small-orders"
    assert small["sourcing"]["strategy"] == "nearest-with-stock"
    assert small["sourcing"]["why"] == "rule 'small-orders' matched (1 units ≤ 2)"
    assert "snapshot" not in small["sourcing"]
    big = dealer.place((shop.sku, 2), (shop.other_sku, 1))
    assert big["sourcing"]["rule"] == "default"
    assert big["sourcing"]["strategy"] == "cost-local-search"
    assert big["sourcing"]["warehouses"] == [EAST_WH, HUB]
    assert big["sourcing"]["parameters"]["shipment_cost"] == 800
    with vintry_platform.hq.reading() as session:
        stored = session.scalar(select(Order.sourcing).where(Order.number == big["number"]))
    assert stored is not None and stored["snapshot"]["lines"] == {shop.sku: 2, shop.other_sku: 1}
    assert {option[0] for option in stored["snapshot"]["options"]} == {EAST_WH, HUB}


def test_no_split_and_an_allowed_list_are_enforced_by_the_kernel(
    vintry_factory: VintryFactory, shop: Shop
) -> None:
    rules = _rules(strategy="priority", when={}, warehouses=[EAST_WH], no_split=True)
    assert vintry_factory.admin_client(EAST).put("/api/v1/sourcing/rules", json=rules).is_success
    dealer = buyer(vintry_factory, shop)
    refused = dealer.client.post(
        "/api/v1/orders",
        headers={"Idempotency-Key": "no-split-1"},
        json={"lines": [{"sku": shop.sku, "quantity": 1}, {"sku": shop.other_sku, "quantity": 1}]},
    )
    assert refused.status_code == 409 and error_code(refused) == "out_of_stock"
    placed = dealer.place((shop.sku, 3))
    assert placed["sourcing"]["warehouses"] == [EAST_WH]


# --- the guard: raising and hanging partner strategies ---------------------------------------


@pytest.fixture
def partner(vintry_platform: Platform) -> Iterator[dict[str, Any]]:
    """A partner plugin with a strategy that raises and one that hangs until released."""
    release = threading.Event()
    calls: dict[str, Any] = {"raising": 0, "release": release}

    def raising(request: SourcingRequest) -> SourcingPlan:
        calls["raising"] += 1
        raise RuntimeError("the partner's batch service is down")

    def hanging(request: SourcingRequest) -> SourcingPlan:
        release.wait(30)
        raise RuntimeError("released")

    @hookimpl
    def vintry_register_sourcing_strategies(register: Any) -> None:
        register("partner-raising", raising)
        register("partner-hanging", hanging)

    module = types.ModuleType("partner_faulty")
    module.vintry_register_sourcing_strategies = vintry_register_sourcing_strategies  # type: ignore[attr-defined]
    vintry_platform.plugins.register("partner-faulty", module)
    yield calls
    release.set()


def test_a_raising_strategy_never_fails_an_order_and_is_paused_after_repeated_faults(
    vintry_factory: VintryFactory,
    vintry_platform: Platform,
    vintry_clock: ManualClock,
    shop: Shop,
    partner: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    rules = _rules("priority", strategy="partner-raising", when={})
    assert vintry_factory.admin_client(EAST).put("/api/v1/sourcing/rules", json=rules).is_success
    dealer = buyer(vintry_factory, shop)
    faults_before = vintry_platform.plugin_faults["partner-faulty"]
    for attempt in range(planner.PAUSE_AFTER):
        order = dealer.place((shop.sku, 1))
        assert order["sourcing"]["strategy"] == "priority"
        assert order["sourcing"]["fallback"] == [
            {
                "strategy": "partner-raising",
                "plugin": "partner-faulty",
                "reason": "raised RuntimeError: the partner's batch service is down",
            }
        ], attempt
    assert vintry_platform.plugin_faults["partner-faulty"] == faults_before + planner.PAUSE_AFTER
    assert any(
        "partner-faulty" in r.getMessage() and EAST in r.getMessage() for r in caplog.records
    )
    report = {
        s["name"]: s
        for s in vintry_factory.admin_client().get("/api/v1/sourcing/strategies").json()
    }
    assert report["partner-raising"]["paused_until"] is not None
    assert report["partner-raising"]["consecutive_faults"] == planner.PAUSE_AFTER
    # Paused: the strategy is not even called, and the order is still placed.
    paused = dealer.place((shop.sku, 1))
    assert partner["raising"] == planner.PAUSE_AFTER
    assert "paused" in paused["sourcing"]["fallback"][0]["reason"]
    vintry_clock.advance(minutes=16)
    dealer.place((shop.sku, 1))
    assert partner["raising"] == planner.PAUSE_AFTER + 1  # tried again after the pause


def test_a_hanging_strategy_is_cut_off_at_its_budget_and_the_default_sources(
    vintry_factory: VintryFactory, shop: Shop, partner: dict[str, Any]
) -> None:
    rules = _rules("nearest-with-stock", strategy="partner-hanging", when={}, time_budget_ms=50)
    assert vintry_factory.admin_client(EAST).put("/api/v1/sourcing/rules", json=rules).is_success
    dealer = buyer(vintry_factory, shop)
    order = dealer.place((shop.sku, 2))
    assert order["status"] == "placed"
    assert order["sourcing"]["strategy"] == "nearest-with-stock"
    (fallback,) = order["sourcing"]["fallback"]
    assert fallback["strategy"] == "partner-hanging"
    assert fallback["reason"].startswith("exceeded its time budget of 50 ms")


# --- dry run and KPIs ----------------------------------------------------------------------------


def test_a_dry_run_says_which_warehouses_would_ship_and_why_holding_nothing(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    dealer = buyer(vintry_factory, shop)
    operator = vintry_factory.client_for("site_operator", EAST)
    body = {"dealer": dealer.code, "lines": [{"sku": shop.sku, "quantity": 2}]}
    answer = operator.post("/api/v1/sourcing/dry-run", json=body)
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    assert plan["rule"] == "default" and plan["strategy"] == "priority-nearest"
    assert plan["allocations"] == [{"sku": shop.sku, "warehouse": EAST_WH, "quantity": 2}]
    assert plan["warehouses"][0]["code"] == EAST_WH and plan["warehouses"][0]["ships"]
    stock = vintry_factory.admin_client().get("/api/v1/stock", params={"sku": shop.sku}).json()
    assert stock[0]["warehouses"][0]["reserved"] == 0
    too_many = {"dealer": dealer.code, "lines": [{"sku": shop.sku, "quantity": 10_000}]}
    refused = operator.post("/api/v1/sourcing/dry-run", json=too_many)
    assert refused.status_code == 409 and error_code(refused) == "out_of_stock"


def test_kpis_replay_orders_against_the_optimum_and_measure_cycle_time(
    vintry_factory: VintryFactory, vintry_clock: ManualClock, shop: Shop
) -> None:
    dealer = buyer(vintry_factory, shop)
    number = dealer.place((shop.sku, 2), (shop.other_sku, 1))["number"]
    dealer.place((shop.sku, 1))
    assert dealer.pay(number).status_code == 201
    dispatched = dealer.hq.post(f"/api/v1/orders/{number}/dispatch", json={"carrier": "simulated"})
    assert dispatched.status_code == 201, dispatched.text
    vintry_clock.advance(days=5)
    assert dealer.hq.post("/api/v1/shipments/advance").status_code == 200
    kpis = vintry_factory.admin_client(EAST).get(
        "/api/v1/sourcing/kpis", params={"reference": "cost-optimal"}
    )
    assert kpis.status_code == 200, kpis.text
    figures = kpis.json()
    accuracy = figures["match_accuracy"]
    assert accuracy["evaluated"] == 2 and 0 <= accuracy["optimal"] <= 2
    assert accuracy["accuracy"] == accuracy["optimal"] / 2
    cycle = figures["cycle_time"]
    assert cycle["delivered"] == 1 and cycle["mean_hours"] > 0


# --- fulfilment: split order, shipments, carriers, timeline -----------------------------------


def test_a_split_order_ships_once_per_warehouse_with_a_timeline_the_dealer_reads(
    vintry_factory: VintryFactory, vintry_platform: Platform, vintry_clock: ManualClock, shop: Shop
) -> None:
    dealer = buyer(vintry_factory, shop)
    order = dealer.place((shop.sku, 2), (shop.other_sku, 1))
    number = order["number"]
    assert {a["warehouse"] for line in order["lines"] for a in line["allocations"]} == {
        EAST_WH,
        HUB,
    }
    assert dealer.pay(number).status_code == 201
    waiting = dealer.client.get(f"/api/v1/orders/{number}/timeline").json()
    assert [(a["warehouse"], a["state"]) for a in waiting["awaiting"]] == [
        (EAST_WH, "awaiting_shipment"),
        (HUB, "awaiting_shipment"),
    ]
    express = dealer.hq.post(
        f"/api/v1/orders/{number}/dispatch",
        json={"carrier": "simulated", "service_level": "overnight"},
    )
    assert express.status_code == 422 and error_code(express) == "unknown_service_level"
    vintry_clock.advance(minutes=30)
    shipped = dealer.hq.post(
        f"/api/v1/orders/{number}/dispatch",
        json={"carrier": "simulated", "service_level": "express"},
    )
    assert shipped.status_code == 201, shipped.text
    shipments = {s["warehouse"]: s for s in shipped.json()}
    assert set(shipments) == {EAST_WH, HUB}
    assert shipments[EAST_WH]["lines"] == [{"sku": shop.sku, "quantity": 2}]
    assert shipments[HUB]["lines"] == [{"sku": shop.other_sku, "quantity": 1}]
    far = shipments[HUB]
    assert far["state"] == "in_transit" and far["service_level"] == "express"
    assert far["distance_km"] > 1000
    first_eta = far["estimated_arrival"]

    vintry_clock.advance(hours=30)  # past the hub of the far shipment
    advanced = dealer.hq.post("/api/v1/shipments/advance").json()["recorded"]
    assert {"shipment": far["number"], "node": "in_transfer"} in advanced
    timeline = dealer.client.get(f"/api/v1/orders/{number}/timeline").json()
    assert timeline["status"] == "shipped" and timeline["awaiting"] == []
    far_now = next(s for s in timeline["shipments"] if s["number"] == far["number"])
    etas = [node["estimated_arrival"] for node in far_now["tracking"]]
    assert etas[0] == first_eta and all(etas)
    assert timeline["estimated_arrival"] is not None

    vintry_clock.advance(days=3)
    dealer.hq.post("/api/v1/shipments/advance")
    done = dealer.client.get(f"/api/v1/orders/{number}/timeline").json()
    assert done["status"] == "delivered" and done["estimated_arrival"] is None
    assert {s["state"] for s in done["shipments"]} == {"delivered"}
    nodes = [e["node"] for e in done["events"] if e["kind"] == "tracking"]
    assert nodes.count("signed_for") == 2 and nodes.count("left_warehouse") == 2
    with vintry_platform.hq.reading() as session:
        events = list(
            session.scalars(
                select(OutboxEvent.payload).where(OutboxEvent.type == "shipment.status_changed")
            )
        )
    mine = [e for e in events if e["number"] == number]
    assert {e["node"] for e in mine} >= {"left_warehouse", "in_transfer", "signed_for"}
    assert all(e["estimated_arrival"] for e in mine)

    stranger = buyer(vintry_factory, shop)
    hidden = stranger.client.get(f"/api/v1/orders/{number}/timeline")
    assert hidden.status_code == 404 and error_code(hidden) == "order_not_found"


def test_a_failing_carrier_falls_back_to_the_distance_rule(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    from vintry.contracts import Carrier, ServiceLevel

    def broken(progress: Any) -> Any:
        raise ValueError("no timetable")

    @hookimpl
    def vintry_register_carriers(register: Any) -> None:
        register(
            Carrier(
                name="broken-carrier",
                title="Broken",
                service_levels=(ServiceLevel(name="std", km_per_day=100),),
                estimate_arrival=broken,
            )
        )

    module = types.ModuleType("broken_carrier")
    module.vintry_register_carriers = vintry_register_carriers  # type: ignore[attr-defined]
    vintry_platform.plugins.register("broken-carrier", module)
    dealer = buyer(vintry_factory, shop)
    number = dealer.place((shop.sku, 1))["number"]
    assert dealer.pay(number).status_code == 201
    shipped = dealer.hq.post(
        f"/api/v1/orders/{number}/dispatch", json={"carrier": "broken-carrier"}
    )
    assert shipped.status_code == 201, shipped.text
    (shipment,) = shipped.json()
    eta = shipment["estimated_arrival"]
    assert eta is not None and eta > shipment["shipped_at"]
    assert vintry_platform.plugin_faults["broken-carrier"] == 1
    assert timedelta(days=1)  # the distance rule: at least one day
