"""Group buys through HTTP: opening, joining, success once, tiers, expiry, settlement."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from vintry_groupbuy.models import Transition

from .conftest import EAST, SKU, SOUTH, UNITS, Mall

DEAL = {
    "sku": SKU,
    "tier_basis": "participants",
    "tiers": [{"at": 3, "unit_price": "1400.00"}, {"at": 4, "unit_price": "1300.00"}],
    "min_participants": 3,
    "min_quantity": 6,
    "max_per_member": 10,
    "group_minutes": 60,
}


def _open(mall: Mall, dealer: int, quantity: int, deal: str = "GB-1") -> Any:
    return mall.dealers[EAST][dealer].post(
        f"/api/v1/x/groupbuy/deals/{deal}/groups", json={"quantity": quantity}
    )


def _join(mall: Mall, dealer: int, group: str, quantity: int) -> Any:
    return mall.dealers[EAST][dealer].post(
        f"/api/v1/x/groupbuy/groups/{group}/members", json={"quantity": quantity}
    )


def _transitions(mall: Mall, status: str) -> int:
    with mall.platform.site(EAST).database.reading() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Transition).where(Transition.status == status)
            )
            or 0
        )


def test_a_group_succeeds_once_and_every_member_pays_the_tier_reached(mall: Mall) -> None:
    mall.deal(DEAL)
    opened = _open(mall, 0, 2)
    assert opened.status_code == 201, opened.text
    group = opened.json()["code"]
    assert opened.json()["status"] == "open" and opened.json()["tier_price"] is None
    assert mall.held(f"groupbuy:east:{group}:D-EAST-0") == 2
    assert _join(mall, 1, group, 2).json()["status"] == "open"
    third = _join(mall, 2, group, 3).json()
    assert third["status"] == "succeeded" and third["tier_price"] == "1400.00"
    assert third["next_tier"] == {"at": 4, "unit_price": "1300.00"}
    assert _transitions(mall, "succeeded") == 1
    fourth = _join(mall, 3, group, 1).json()  # still joinable: a better tier for everyone
    assert fourth["status"] == "succeeded" and fourth["tier_price"] == "1300.00"
    assert _transitions(mall, "succeeded") == 1
    assert mall.free_units() == UNITS - 8

    mall.clock.advance(minutes=61)
    swept = mall.operator[EAST].post("/api/v1/x/groupbuy/sweep", json={}).json()
    assert swept == {"failed": 0, "settled": 1, "orders_placed": 4, "orders_failed": 0,
                     "holds_released": 0}
    again = mall.operator[EAST].post("/api/v1/x/groupbuy/sweep", json={}).json()
    assert again["settled"] == 0 and again["orders_placed"] == 0
    (settled,) = mall.operator[EAST].get("/api/v1/x/groupbuy/deals/GB-1/groups").json()
    assert settled["status"] == "settled" and settled["tier_price"] == "1300.00"
    for index, member in enumerate(settled["members"]):
        assert member["status"] == "ordered" and member["dealer"] == f"D-EAST-{index}"
        order = mall.dealers[EAST][index].get(f"/api/v1/orders/{member['order']}").json()
        (line,) = order["lines"]
        assert Decimal(line["total"]) == Decimal("1300.00") * member["quantity"]
        applied = order["pricing"]["applied"][0]
        assert (applied["source"], applied["campaign"]) == ("groupbuy", "GB-1")
        assert group in applied["reason"]
        assert mall.held(f"groupbuy:east:{group}:D-EAST-{index}") == 0
        assert mall.held(member["order"]) == member["quantity"]
    assert mall.free_units() == UNITS - 8
    late = _join(mall, 3, group, 1)
    assert late.status_code == 409 and late.json()["error"]["code"] in (
        "already_member",
        "group_closed",
    )


def test_an_expired_group_releases_every_hold(mall: Mall) -> None:
    mall.deal(DEAL)
    group = _open(mall, 0, 4).json()["code"]
    assert _join(mall, 1, group, 5).status_code == 201
    assert mall.free_units() == UNITS - 9
    mall.clock.advance(minutes=61)
    closed = _join(mall, 2, group, 1)
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "group_closed"
    swept = mall.operator[EAST].post("/api/v1/x/groupbuy/sweep", json={}).json()
    assert swept["failed"] == 1 and swept["holds_released"] == 9
    assert mall.free_units() == UNITS
    (failed,) = mall.operator[EAST].get("/api/v1/x/groupbuy/deals/GB-1/groups").json()
    assert failed["status"] == "failed"
    assert {m["status"] for m in failed["members"]} == {"released"}
    assert _transitions(mall, "failed") == 1 and _transitions(mall, "succeeded") == 0
    assert mall.operator[EAST].post("/api/v1/x/groupbuy/sweep", json={}).json()[
        "holds_released"
    ] == 0


def test_joins_are_refused_by_name(mall: Mall) -> None:
    mall.deal({**DEAL, "max_participants": 3})
    group = _open(mall, 0, 2).json()["code"]
    twice = _join(mall, 0, group, 1)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_member"
    too_many = _join(mall, 1, group, 11)
    assert too_many.status_code == 422
    assert too_many.json()["error"]["code"] == "quantity_out_of_range"
    assert too_many.json()["error"]["field"] == "quantity"
    short = _join(mall, 1, group, 10)
    assert short.status_code == 201
    assert _join(mall, 2, group, 10).status_code == 201
    full = _join(mall, 3, group, 1)
    assert full.status_code == 409 and full.json()["error"]["code"] in ("group_full",)
    out = mall.dealers[EAST][3].post(
        "/api/v1/x/groupbuy/deals/GB-1/groups", json={"quantity": 10}
    )
    assert out.status_code == 201  # 78 left: another group is fine
    mall.deal({**DEAL, "max_per_member": None}, code="GB-2")
    empty = mall.dealers[EAST][3].post(
        "/api/v1/x/groupbuy/deals/GB-2/groups", json={"quantity": UNITS}
    )
    assert empty.status_code == 409 and empty.json()["error"]["code"] == "out_of_stock"
    assert mall.held("groupbuy:east:none") == 0


def test_tiers_must_be_reachable_and_floors_hold(mall: Mall) -> None:
    bad = mall.operator[EAST].post(
        "/api/v1/campaigns",
        json={
            "code": "BAD",
            "type": "group-buy",
            "name": "bad",
            "config": {**DEAL, "min_participants": 2},
            "starts_at": mall.clock.now().isoformat(),
            "ends_at": mall.clock.now().replace(year=2027).isoformat(),
        },
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_campaign_config"
    assert "first tier" in bad.json()["error"]["message"]


def test_another_region_never_sees_the_deals(mall: Mall) -> None:
    mall.deal(DEAL)
    group = _open(mall, 0, 2).json()["code"]
    south = mall.dealers[SOUTH][0]
    for path in ("/api/v1/x/groupbuy/deals", f"/api/v1/x/groupbuy/groups/{group}"):
        refused = south.get(path)
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "plugin_not_enabled"
    assert south.get("/api/v1/campaigns/for-you").json() == []
    assert [d["code"] for d in mall.dealers[EAST][1].get("/api/v1/x/groupbuy/deals").json()] == [
        "GB-1"
    ]
    seen = mall.dealers[EAST][1].get(f"/api/v1/x/groupbuy/groups/{group}").json()
    assert [m["dealer"] for m in seen["members"]] == [None]  # other members' codes hidden
    assert mall.free_units(SOUTH) == UNITS


def test_a_floor_raised_after_success_refuses_the_orders_and_releases_the_holds(
    mall: Mall,
) -> None:
    mall.deal(DEAL)
    group = _open(mall, 0, 2).json()["code"]
    assert _join(mall, 1, group, 2).status_code == 201
    assert _join(mall, 2, group, 3).json()["status"] == "succeeded"
    mall.set_floor(SKU, "1450.00")
    mall.clock.advance(minutes=61)
    swept = mall.operator[EAST].post("/api/v1/x/groupbuy/sweep", json={}).json()
    assert (swept["orders_placed"], swept["orders_failed"], swept["holds_released"]) == (0, 3, 7)
    (settled,) = mall.operator[EAST].get("/api/v1/x/groupbuy/deals/GB-1/groups").json()
    assert {m["status"] for m in settled["members"]} == {"failed"}
    assert all(m["failure"].startswith("below_price_floor") for m in settled["members"])
    assert "1450.00" in settled["members"][0]["failure"]
    assert mall.free_units() == UNITS
