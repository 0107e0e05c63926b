"""Each insight is found on data built to contain it, with its evidence, and not found on
data built without it."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from vintry.catalog.models import Sku
from vintry.inventory import stock

from .conftest import BASE, World

INSIGHTS = f"{BASE}/insights"


def _views(
    world: World,
    site: str,
    dealers: list[str],
    sku: str,
    *,
    extra: str | None = None,
    when: datetime | None = None,
) -> None:
    moment = when or world.clock.now() - timedelta(days=3)
    rows: list[tuple[str, str, str | None, datetime]] = []
    for dealer in dealers:
        rows.append((dealer, "product_view", sku, moment))
        if extra:
            rows.append((dealer, extra, sku, moment + timedelta(minutes=1)))
    world.events(site, rows)


def _blocked(world: World, site: str = "hq") -> list[dict[str, Any]]:
    response = world.hq_client(site).get(f"{INSIGHTS}/blocked-demand")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_blocked_demand_is_found_with_a_price_or_stock_hint(world: World) -> None:
    east = world.dealers["east"]
    _views(world, "east", east[:6], "FT-500")
    _views(world, "east", east[:4], "FT-500", extra="price_comparison")
    _views(world, "east", east[:5], "LJ-500", extra="add_to_cart")
    _views(world, "east", east[:6], "FT-200")
    _views(world, "east", east[:3], "FT-200", extra="order_placed")
    _views(world, "west", world.dealers["west"][:3], "FT-500")
    with world.platform.hq.transaction() as session:
        sku_id = session.scalar(select(Sku.id).where(Sku.code == "LJ-500"))
        assert sku_id is not None
        stock.adjust(
            session,
            warehouse_id=world.warehouses["east"],
            sku_id=sku_id,
            delta=-500,
            now=world.clock.now(),
            note="broken pallet",
        )

    items = {(item["site"], item["sku"]): item for item in _blocked(world)}

    assert set(items) == {("east", "FT-500"), ("east", "LJ-500")}
    price = items[("east", "FT-500")]
    assert (price["viewers"], price["ordering_dealers"], price["conversion"]) == (6, 0, 0.0)
    assert (price["price_comparisons"], price["hints"]) == (4, ["price"])
    assert price["price"] == "1499.00" and price["median_dwell_ms"] == 30000.0
    assert "comparisons_per_viewer=0.67" in price["evidence"]
    out_of_stock = items[("east", "LJ-500")]
    assert (out_of_stock["available_units"], out_of_stock["hints"]) == (0, ["stock"])
    assert out_of_stock["cart_dealers"] == 5


def test_a_site_premium_alone_gives_the_price_hint(world: World) -> None:
    from vintry.catalog.pricing import set_site_price
    from vintry.events.read_models import rebuild_site

    from .conftest import ACTOR

    set_site_price(world.platform, "west", "FT-100", Decimal("459.00"), actor=ACTOR)
    rebuild_site(world.platform, "west")
    _views(world, "west", world.dealers["west"][:6], "FT-100")

    [item] = _blocked(world, "west")

    assert (item["sku"], item["hints"], item["price"], item["base_price"]) == (
        "FT-100",
        ["price"],
        "459.00",
        "399.00",
    )


def test_no_blocked_demand_where_viewers_order(world: World) -> None:
    east = world.dealers["east"]
    _views(world, "east", east[:6], "FT-500", extra="order_placed")
    _views(world, "east", east[:6], "FT-200")
    _views(world, "east", east[:2], "FT-200", extra="order_placed")
    _views(world, "east", east[:4], "LJ-500")  # too few viewers to judge

    assert _blocked(world) == []


def test_slow_movers_are_found_by_days_of_cover(world: World) -> None:
    placed = world.clock.now() - timedelta(days=5)
    world.order(world.dealers["east"][0], [("FT-500", 300), ("FT-200", 5)], placed_at=placed)
    world.order(world.dealers["east-s1"][0], [("FT-100", 200)], placed_at=placed)

    response = world.hq_client("east").get(f"{INSIGHTS}/slow-movers")

    assert response.status_code == 200, response.text
    items = {item["sku"]: item for item in response.json()["items"]}
    assert set(items) == {"FT-200", "LJ-500"}
    assert items["FT-200"]["days_of_cover"] == 3000.0
    assert items["FT-200"]["sold_per_day"] == "0.17"
    assert items["LJ-500"]["days_of_cover"] is None and items["LJ-500"]["units_sold"] == 0
    assert all(item["site"] == "east" for item in items.values())
    assert "days_of_cover=3000.0" in items["FT-200"]["evidence"]


def test_no_slow_movers_where_stock_turns(world: World) -> None:
    placed = world.clock.now() - timedelta(days=5)
    world.order(
        world.dealers["east"][0],
        [(sku, 200) for sku in ("FT-500", "FT-200", "FT-100", "LJ-500")],
        placed_at=placed,
    )

    response = world.hq_client("east").get(f"{INSIGHTS}/slow-movers")

    assert response.json()["items"] == []


def _orders(world: World, dealer: str, previous: int, current: int) -> None:
    now = world.clock.now()
    for n in range(previous):
        world.order(
            dealer, [("FT-500", 2)], placed_at=now - timedelta(days=40 + n), status="delivered"
        )
    for n in range(current):
        world.order(
            dealer, [("FT-500", 2)], placed_at=now - timedelta(days=10 + n), status="delivered"
        )


def test_dealers_ordering_less_are_found_with_their_stock(world: World) -> None:
    east = world.dealers["east"]
    _orders(world, east[0], 4, 1)
    _orders(world, east[1], 4, 4)
    _orders(world, east[2], 2, 0)
    _orders(world, east[3], 3, 1)
    sold = world.dealer_client(east[0], "east").post(
        f"{BASE}/sellout",
        json={
            "lines": [
                {"sku": "FT-500", "quantity": 3, "sold_on": "2025-12-20", "reference": "INV-1"}
            ]
        },
    )
    assert sold.status_code == 200, sold.text

    response = world.hq_client().get(f"{INSIGHTS}/dealer-slowdown")

    items = {item["dealer"]: item for item in response.json()["items"]}
    assert set(items) == {east[0], east[3]}
    first = items[east[0]]
    assert (first["previous_orders"], first["current_orders"], first["drop"]) == (4, 1, 0.75)
    assert (first["previous_amount"], first["current_amount"]) == ("11992.00", "2998.00")
    assert (first["own_stock_units"], first["stock_change_units"]) == (7, -1)
    assert first["sellout_reported"] is True
    silent = items[east[3]]
    assert (silent["own_stock_units"], silent["sellout_reported"]) == (None, False)
    assert "unknown" in silent["evidence"]


def test_no_slowdown_when_dealers_order_steadily(world: World) -> None:
    for dealer in world.dealers["east"][:3]:
        _orders(world, dealer, 3, 3)

    response = world.hq_client().get(f"{INSIGHTS}/dealer-slowdown")

    assert response.json()["items"] == []


def _deliveries(
    world: World, dealers: list[str], count: int, returns: dict[int, list[tuple[str, int, str]]]
) -> None:
    placed = world.clock.now() - timedelta(days=8)
    for n in range(count):
        world.order(
            dealers[n % len(dealers)],
            [("FT-500", 2)],
            placed_at=placed,
            status="delivered",
            returned=returns.get(n, []),
        )


def test_return_rate_outliers_name_the_leading_reason(world: World) -> None:
    broken = ("FT-500", 2, "damaged_packaging")
    _deliveries(
        world,
        world.dealers["east"],
        10,
        {
            0: [broken],
            1: [broken],
            2: [("FT-500", 1, "damaged_packaging")],
            3: [("FT-500", 1, "quality")],
        },
    )
    _deliveries(world, world.dealers["west"], 20, {0: [("FT-500", 1, "quality")]})

    response = world.hq_client().get(f"{INSIGHTS}/return-outliers")

    [item] = response.json()["items"]
    assert (item["site"], item["sku"], item["shipped_units"], item["returned_units"]) == (
        "east",
        "FT-500",
        20,
        6,
    )
    assert (item["rate"], item["baseline_rate"]) == (0.3, 0.1167)
    assert item["leading_reason"] == "damaged_packaging"
    assert item["reasons"] == {"damaged_packaging": 5, "quality": 1}


def test_no_return_outliers_when_rates_are_alike(world: World) -> None:
    reason = [("FT-500", 1, "quality")]
    _deliveries(world, world.dealers["east"], 10, {n: reason for n in range(3)})
    _deliveries(world, world.dealers["west"], 20, {n: reason for n in range(6)})

    assert world.hq_client().get(f"{INSIGHTS}/return-outliers").json()["items"] == []


def test_kpis_compare_the_period_with_the_previous_one(world: World) -> None:
    east = world.dealers["east"]
    now = world.clock.now()
    for dealer, campaign in (
        (east[0], "spring"),
        (east[1], "spring"),
        (east[2], None),
        (east[3], None),
    ):
        world.order(dealer, [("FT-500", 1)], placed_at=now - timedelta(days=5), campaign=campaign)
    world.order(east[0], [("FT-200", 1)], placed_at=now - timedelta(days=40), campaign="spring")
    world.order(east[1], [("FT-200", 1)], placed_at=now - timedelta(days=40))

    report = world.hq_client("east").get(f"{INSIGHTS}/kpis").json()

    site = {entry["site"]: entry for entry in report["sites"]}["east"]
    assert (site["active_dealers"], site["ordering_dealers"], site["self_service_rate"]) == (
        8,
        4,
        0.5,
    )
    assert site["previous_self_service_rate"] == 0.25
    assert (site["campaign_dealers"], site["previous_campaign_dealers"]) == (2, 1)
    assert site["participation_change"] == 1.0
    assert (site["campaign_sales"], site["previous_campaign_sales"]) == ("2998.00", "699.00")
    assert site["campaign_uplift"] == round((2998 - 699) / 699, 4)
    assert (site["sales"], site["sales_change"]) == ("5996.00", round((5996 - 1398) / 1398, 4))
    assert report["total"]["active_dealers"] == 8 + 3  # east and its store
    only_other = (
        world.hq_client("east").get(f"{INSIGHTS}/kpis", params={"campaign": "autumn"}).json()
    )
    assert only_other["total"]["campaign_dealers"] == 0
