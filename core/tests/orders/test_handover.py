"""The hand-over of held stock to an order (``vintry.orders.handover.place_held``): the
hold becomes the order's inside one HQ transaction, at the plugin's prices, exactly once."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient
from vintry.catalog.models import Sku
from vintry.clock import ManualClock
from vintry.dealers.models import Dealer
from vintry.inventory import stock
from vintry.inventory.models import Reservation, Stock, StockMovement
from vintry.orders.handover import HandOverResult, HeldCampaign, HeldLine, held_units, place_held
from vintry.orders.models import Order, OrderAllocation, OutboxEvent
from vintry.orders.placement import place_order
from vintry.orders.schemas import OrderLineIn, PlaceOrder
from vintry.platform import Platform
from vintry_sdk.testing import VintryFactory

from .conftest import Shop

LOT = "lot:east:L-1"
CAMPAIGN = HeldCampaign(
    source="auction", code="L-1", name="Near-expiry lot", reason="won at 1200.00 a unit"
)


class World:
    """The shop with one dealer, and *units* of FT-500 held in WH-E1 under :data:`LOT`."""

    def __init__(self, factory: VintryFactory, platform: Platform, shop: Shop, units: int) -> None:
        self.platform = platform
        self.shop = shop
        code = factory.dealer(shop.region).code
        self.client: TestClient = factory.client_for("dealer", shop.region, dealer=code)
        now = platform.clock.now()
        with platform.hq.transaction() as session:
            self.dealer_id = session.scalar(select(Dealer.id).where(Dealer.code == code))
            self.sku_id = session.scalar(select(Sku.id).where(Sku.code == shop.sku))
            assert self.dealer_id is not None and self.sku_id is not None
            stock.reserve(
                session,
                reference=LOT,
                holds=[stock.Hold(shop.warehouse_ids[0], self.sku_id, units)],
                now=now,
                expires_at=now + timedelta(days=1),
            )

    def hand_over(self, key: str, quantity: int, unit: str = "1200.00") -> HandOverResult:
        """The buyer's order for *quantity* units of the lot at *unit* yuan each."""
        return place_held(
            self.platform.site(self.shop.region),
            dealer_id=self.dealer_id,
            idempotency_key=key,
            lines=[HeldLine(self.shop.sku, quantity, int(Decimal(unit) * 100))],
            reservation_reference=LOT,
            campaign=CAMPAIGN,
            kind="auction",
        )

    def held(self, reference: str) -> int:
        """Units HQ holds under *reference* now."""
        return held_units(self.platform.site(self.shop.region), reference)

    def stock_row(self) -> tuple[int, int]:
        """(on hand, reserved) of FT-500 in WH-E1."""
        with self.platform.hq.reading() as session:
            row = session.get(Stock, (self.shop.warehouse_ids[0], self.sku_id))
            assert row is not None
            return row.on_hand, row.reserved

    def orders(self) -> int:
        """Orders in HQ."""
        with self.platform.hq.reading() as session:
            return int(session.scalar(select(func.count()).select_from(Order)) or 0)


@pytest.fixture
def world(vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop) -> World:
    return World(vintry_factory, vintry_platform, shop, units=6)


def test_the_hold_becomes_the_orders_at_the_plugins_price(world: World) -> None:
    result = world.hand_over("sale-1", 4)
    assert result.status == 201 and result.placed and not result.replayed
    order = json.loads(result.body)
    assert result.number == order["number"]
    (line,) = order["lines"]
    assert (line["sku"], line["quantity"], line["unit_price"]) == ("FT-500", 4, "1499.00")
    assert line["discount"] == "1196.00" and line["total"] == "4800.00"
    assert line["allocations"] == [{"warehouse": "WH-E1", "quantity": 4}]
    assert order["total"] == "4800.00" and order["sourcing"]["strategy"] == "held"
    (applied,) = order["pricing"]["applied"]
    assert (applied["source"], applied["campaign"], applied["name"]) == (
        "auction",
        "L-1",
        "Near-expiry lot",
    )
    assert applied["applied"] is True and applied["applied_amount"] == "1196.00"

    # Four units moved from the lot to the order; two stay with the lot; none were freed.
    assert world.held(LOT) == 2 and world.held(order["number"]) == 4
    assert world.stock_row() == (100, 6)
    with world.platform.hq.reading() as session:
        assert stock.ledger_discrepancies(session) == []
        kinds = session.execute(
            select(Reservation.reference, Reservation.quantity, Reservation.status).order_by(
                Reservation.id
            )
        ).all()
        allocation = session.scalars(select(OrderAllocation)).one()
        events = session.scalars(select(OutboxEvent.type)).all()
    assert [tuple(row) for row in kinds] == [(LOT, 2, "held"), (order["number"], 4, "held")]
    assert allocation.quantity == 4 and events.count("order.placed") == 1

    fetched = world.client.get(f"/api/v1/orders/{order['number']}")
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["total"] == "4800.00" and fetched.json()["status"] == "placed"


def test_a_retry_returns_the_same_bytes_and_places_once(world: World) -> None:
    first = world.hand_over("sale-1", 3)
    again = world.hand_over("sale-1", 3)
    assert again.replayed and again.status == 201 and again.body == first.body
    assert world.orders() == 1 and world.held(LOT) == 3
    reused = world.hand_over("sale-1", 2)
    assert reused.status == 422 and reused.error_code == "idempotency_key_reused"
    assert world.orders() == 1 and world.held(LOT) == 3


def test_a_hold_short_of_the_line_is_refused_and_changes_nothing(world: World) -> None:
    with world.platform.hq.reading() as session:
        ledger = session.scalar(select(func.count()).select_from(StockMovement))
    refused = world.hand_over("sale-1", 7)
    assert refused.status == 409 and refused.error_code == "out_of_stock"
    error = json.loads(refused.body)["error"]
    assert error["field"] == "lines.0.quantity"
    assert error["details"] == {"sku": "FT-500", "reference": LOT, "held": 6, "requested": 7}
    assert world.held(LOT) == 6 and world.orders() == 0 and world.stock_row() == (100, 6)
    with world.platform.hq.reading() as session:
        assert session.scalar(select(func.count()).select_from(StockMovement)) == ledger
    # The refusal is the key's answer, byte for byte, even once the hold could cover it.
    assert world.hand_over("sale-1", 7).body == refused.body


def test_a_hold_whose_time_ran_out_hands_nothing_over(
    world: World, vintry_clock: ManualClock
) -> None:
    vintry_clock.advance(days=1)
    refused = world.hand_over("late", 1)
    assert refused.status == 409 and refused.error_code == "out_of_stock"
    assert world.orders() == 0


def test_a_price_under_the_floor_is_refused_naming_the_sku_and_the_floor(
    world: World, vintry_factory: VintryFactory
) -> None:
    hq = vintry_factory.admin_client(site=vintry_factory.root)
    floor = hq.put("/api/v1/catalog/floors/FT-500", json={"min_price": "1250.00"})
    assert floor.status_code in (200, 201), floor.text
    under = world.hand_over("sale-1", 2, unit="1200.00")
    assert under.status == 422 and under.error_code == "below_price_floor"
    error = json.loads(under.body)["error"]
    assert error["field"] == "lines.0.unit_price"
    assert (error["details"]["sku"], error["details"]["floor"]) == ("FT-500", "1250.00")
    assert "FT-500" in error["message"] and "1250.00" in error["message"]
    assert world.held(LOT) == 6 and world.orders() == 0
    at_floor = world.hand_over("sale-2", 2, unit="1250.00")
    assert at_floor.status == 201 and json.loads(at_floor.body)["total"] == "2500.00"


def test_the_dealer_never_pays_more_than_the_sites_price(world: World) -> None:
    result = world.hand_over("sale-1", 1, unit="1600.00")
    order = json.loads(result.body)
    assert order["total"] == "1499.00" and order["discount"] == "0.00"
    (explained,) = order["pricing"]["campaigns"]
    assert explained["campaign"] == "L-1" and explained["applied"] is True


def test_bad_lines_are_refused_by_field(world: World) -> None:
    site = world.platform.site(world.shop.region)
    cases = {
        "empty_order": [],
        "invalid_quantity": [HeldLine("FT-500", 0, 100)],
        "sku_not_found": [HeldLine("NOPE", 1, 100)],
        "duplicate_sku": [HeldLine("FT-500", 1, 100), HeldLine("FT-500", 1, 100)],
    }
    for index, (code, lines) in enumerate(cases.items()):
        result = place_held(
            site,
            dealer_id=world.dealer_id,
            idempotency_key=f"bad-{index}",
            lines=lines,
            reservation_reference=LOT,
            campaign=CAMPAIGN,
        )
        assert result.error_code == code, result.body
    assert world.held(LOT) == 6


def test_competing_orders_during_settlement_never_take_the_held_units(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    """Every free unit is sold; the rest is held by the lot. Ten buyers settle their part of
    the lot while ten other dealers order the same SKU at the same time: the hand-overs all
    succeed and the competitors are all refused, since the held units are never free."""
    world = World(vintry_factory, vintry_platform, shop, units=50)
    with vintry_platform.hq.transaction() as session:
        stock.reserve(
            session,
            reference="someone-else",
            holds=[stock.Hold(shop.warehouse_ids[0], world.sku_id, 50)],
            now=vintry_platform.clock.now(),
            expires_at=None,
        )
    competitors = []
    for _ in range(10):
        code = vintry_factory.dealer(shop.region).code
        with vintry_platform.hq.reading() as session:
            competitors.append(session.scalar(select(Dealer.id).where(Dealer.code == code)))
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(20)

    def settle(index: int) -> None:
        start.wait()
        result = world.hand_over(f"sale-{index}", 5)
        with lock:
            outcomes[f"hand-over {result.status}"] += 1

    def compete(index: int) -> None:
        request = PlaceOrder(lines=[OrderLineIn(sku=shop.sku, quantity=1)])
        start.wait()
        result = place_order(
            vintry_platform,
            site_code=shop.region,
            dealer_id=int(competitors[index] or 0),
            request=request,
            idempotency_key=f"compete-{index}",
            raw_body=request.model_dump_json().encode(),
        )
        with lock:
            outcomes[f"competitor {result.status}"] += 1

    threads = [threading.Thread(target=settle, args=(i,)) for i in range(10)]
    threads += [threading.Thread(target=compete, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert outcomes == {"hand-over 201": 10, "competitor 409": 10}
    assert world.held(LOT) == 0 and world.stock_row() == (100, 100)
    with vintry_platform.hq.reading() as session:
        assert stock.ledger_discrepancies(session) == []
        sold = session.scalar(
            select(func.sum(OrderAllocation.quantity)).select_from(OrderAllocation)
        )
    assert sold == 50


def test_release_held_gives_back_part_of_a_hold(world: World) -> None:
    with world.platform.hq.transaction() as session:
        released = stock.release_held(
            session, reference=LOT, sku_id=world.sku_id, quantity=4, now=world.platform.clock.now()
        )
    assert released == 4 and world.held(LOT) == 2 and world.stock_row() == (100, 2)
    with world.platform.hq.transaction() as session:
        more = stock.release_held(
            session, reference=LOT, sku_id=world.sku_id, quantity=5, now=world.platform.clock.now()
        )
        assert stock.ledger_discrepancies(session) == []
    assert more == 2 and world.held(LOT) == 0 and world.stock_row() == (100, 0)
