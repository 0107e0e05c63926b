"""Dealers' own stock: sell-out by JSON and CSV, validated row by row, idempotent by
reference; stock = delivered units minus reported sold; who may read whose stock
(``analytics:read``)."""

from __future__ import annotations

from datetime import timedelta

from .conftest import BASE, World

SELLOUT = f"{BASE}/sellout"
CSV = f"{BASE}/sellout/csv"


def _delivered(world: World, dealer: str, units: int, sku: str = "FT-500") -> None:
    world.order(
        dealer, [(sku, units)], placed_at=world.clock.now() - timedelta(days=3), status="delivered"
    )


def test_sellout_lowers_the_dealers_own_stock(world: World) -> None:
    dealer = world.dealers["east"][0]
    _delivered(world, dealer, 10)
    _delivered(world, dealer, 4, "FT-200")
    client = world.dealer_client(dealer, "east")
    lines = [
        {"sku": "FT-500", "quantity": 3, "sold_on": "2025-12-30", "reference": "INV-1"},
        {"sku": "FT-500", "quantity": 2, "sold_on": "2025-12-31", "reference": "INV-2"},
    ]

    first = client.post(SELLOUT, json={"lines": lines})
    again = client.post(SELLOUT, json={"lines": lines})
    stock = world.operator_client("east").get(f"{BASE}/dealers/{dealer}/stock")

    assert first.json() == {"dealer": dealer, "recorded": 2, "duplicates": []}
    assert again.json() == {"dealer": dealer, "recorded": 0, "duplicates": ["INV-1", "INV-2"]}
    assert stock.status_code == 200, stock.text
    body = stock.json()
    assert (body["on_hand"], body["sellout_reported"]) == (9, True)
    assert body["lines"] == [
        {"sku": "FT-200", "received": 4, "sold": 0, "on_hand": 4},
        {"sku": "FT-500", "received": 10, "sold": 5, "on_hand": 5},
    ]


def test_every_bad_line_is_reported_and_nothing_is_stored(world: World) -> None:
    dealer = world.dealers["east"][0]
    _delivered(world, dealer, 5)
    client = world.dealer_client(dealer, "east")
    lines = [
        {"sku": "FT-500", "quantity": 4, "sold_on": "2025-12-30", "reference": "A"},
        {"sku": "NOPE", "quantity": 1, "sold_on": "2025-12-30", "reference": "B"},
        {"sku": "FT-500", "quantity": 1, "sold_on": "2026-02-01", "reference": "C"},
        {"sku": "FT-500", "quantity": 1, "sold_on": "2025-12-30", "reference": "A"},
        {"sku": "FT-500", "quantity": 2, "sold_on": "2025-12-30", "reference": "D"},
    ]

    response = client.post(SELLOUT, json={"lines": lines})

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("validation_failed", "lines.1.sku")
    assert [(e["field"], e["code"]) for e in error["details"]["errors"]] == [
        ("lines.1.sku", "unknown_sku"),
        ("lines.2.sold_on", "in_future"),
        ("lines.3.reference", "duplicate_reference"),
        ("lines.4.quantity", "exceeds_received"),
    ]
    assert world.hq_client().get(f"{BASE}/dealers/{dealer}/stock").json()["on_hand"] == 5


def test_a_csv_upload_is_validated_row_by_row(world: World) -> None:
    dealer = world.dealers["east"][1]
    _delivered(world, dealer, 6)
    client = world.dealer_client(dealer, "east")
    bad = (
        "sku,quantity,sold_on,reference\n"
        "FT-500,2,2025-12-29,R-1\n"
        "FT-500,zero,2025-12-29,R-2\n"
        ",1,2025-12-29,R-3\n"
        "FT-500,1,29/12/2025,R-4\n"
    )
    headers = {"content-type": "text/csv"}

    refused = client.post(CSV, content=bad.encode(), headers=headers)
    wrong_header = client.post(CSV, content=b"sku,qty\nFT-500,1\n", headers=headers)
    good = client.post(
        CSV,
        content=b"\xef\xbb\xbfsku,quantity,sold_on,reference\n"
        b"FT-500,2,2025-12-29,R-1\nFT-500,1,2025-12-30,R-2\n",
        headers=headers,
    )

    assert refused.status_code == 422
    problems = refused.json()["error"]["details"]["errors"]
    assert [(p["field"], p["code"]) for p in problems] == [
        ("line3.quantity", "invalid_value"),
        ("line4.sku", "missing_field"),
        ("line5.sold_on", "invalid_value"),
    ]
    assert wrong_header.status_code == 422
    assert [(p["field"], p["code"]) for p in wrong_header.json()["error"]["details"]["errors"]] == [
        ("line1.quantity", "missing_column"),
        ("line1.sold_on", "missing_column"),
        ("line1.reference", "missing_column"),
        ("line1.qty", "unknown_column"),
    ]
    assert good.json() == {"dealer": dealer, "recorded": 2, "duplicates": []}
    assert world.hq_client().get(f"{BASE}/dealers/{dealer}/stock").json()["on_hand"] == 3


def test_who_may_read_a_dealers_stock(world: World) -> None:
    """``analytics:read``: operators inside their subtree and HQ; no dealer, not even for
    its own stock (dealers report sell-out, they do not read the analytics)."""
    dealer, neighbour = world.dealers["east"][:2]
    path = f"{BASE}/dealers/{dealer}/stock"

    for caller in (dealer, neighbour):
        refused = world.dealer_client(caller, "east").get(path)
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "permission_denied")
    assert world.operator_client("east").get(path).status_code == 200
    store = world.operator_client("east-s1").get(f"{BASE}/dealers/{dealer}/stock")
    assert (store.status_code, store.json()["error"]["code"]) == (404, "dealer_not_found")
    assert world.hq_client("west").get(path).status_code == 404  # not in west's subtree
    assert world.hq_client().get(path).status_code == 200
    assert world.hq_client().get(f"{BASE}/dealers/NOBODY/stock").status_code == 404
    assert world.hq_client().post(SELLOUT, json={"lines": []}).status_code == 403


def test_hq_lists_dealers_by_stock_build_up(world: World) -> None:
    east, west = world.dealers["east"], world.dealers["west"]
    _delivered(world, east[0], 3)
    _delivered(world, west[0], 12)
    _delivered(world, east[1], 7)

    everyone = world.hq_client().get(f"{BASE}/dealer-stock").json()
    east_only = world.operator_client("east").get(f"{BASE}/dealer-stock").json()

    assert [(d["dealer"], d["on_hand"]) for d in everyone["dealers"]] == [
        (west[0], 12),
        (east[1], 7),
        (east[0], 3),
    ]
    assert [d["dealer"] for d in east_only["dealers"]] == [east[1], east[0]]
    assert world.dealer_client(east[0], "east").get(f"{BASE}/dealer-stock").status_code == 403
