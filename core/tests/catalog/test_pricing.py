"""Site prices and HQ floors down the tree: HQ → region → store.

A site's price overrides its parent's and clearing it restores the parent's; floors are the
strictest along the path; no write may leave any site's price in force below its floor —
a refused write names the SKU, the site and the floor, and writes nothing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from vintry.audit.models import AuditEntry
from vintry.catalog.lookup import find_sku
from vintry.catalog.models import PriceFloorRule, SitePrice
from vintry.catalog.pricing import (
    EffectivePrice,
    check_floor,
    effective_prices,
    lowest_after_discount,
)
from vintry.errors import InvalidInput
from vintry.platform import Platform

from .conftest import (
    EAST,
    STORE,
    WEST,
    Tree,
    audit_entries,
    counting_statements,
    error_of,
    make_sku,
    row_count,
)

pytestmark = pytest.mark.usefixtures("library")

PRICE = "/api/v1/catalog/prices/FT-500"
FLOOR = "/api/v1/catalog/floors/FT-500"


def _price(tree: Tree, site: str) -> dict[str, Any]:
    response = tree.admin(site).get(PRICE)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _in_force(tree: Tree, site: str) -> tuple[str, str | None]:
    body = _price(tree, site)
    return body["price"], body["decided_by"]


def test_a_site_price_overrides_its_parent_and_clearing_restores_it(
    tree: Tree, library: Platform
) -> None:
    hq, east, store = tree.admin(), tree.operator(EAST), tree.operator(STORE)
    assert _in_force(tree, STORE) == ("1499.00", None)
    assert hq.put(PRICE, json={"price": "1450"}).json()["price"] == "1450.00"
    set_east = east.put(PRICE, json={"price": 1399})
    assert set_east.status_code == 200, set_east.text
    assert (set_east.json()["decided_by"], set_east.json()["own_price"]) == (EAST, "1399.00")
    assert _in_force(tree, STORE) == ("1399.00", EAST)
    assert _in_force(tree, WEST) == ("1450.00", "hq")
    assert store.put(PRICE, json={"price": "1350.50"}).json()["decided_by"] == STORE
    assert _in_force(tree, STORE) == ("1350.50", STORE)

    cleared = store.delete(PRICE)
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["price"], cleared.json()["own_price"]) == ("1399.00", None)
    assert east.delete(PRICE).json()["decided_by"] == "hq"
    assert _in_force(tree, STORE) == ("1450.00", "hq")
    assert hq.delete(PRICE).json()["decided_by"] is None
    assert _in_force(tree, STORE) == ("1499.00", None)
    assert row_count(library, SitePrice) == 0

    # Clearing what is not set is a no-op, and not audited.
    before = row_count(library, AuditEntry)
    assert store.delete(PRICE).status_code == 200
    assert row_count(library, AuditEntry) == before
    sets = audit_entries(library, "site_price.set")
    directory = library.directory()
    assert [(directory.by_id(e.site_id).code, e.before, e.after) for e in sets] == [
        ("hq", None, {"price": "1450.00"}),
        (EAST, None, {"price": "1399.00"}),
        (STORE, None, {"price": "1350.50"}),
    ]
    clears = audit_entries(library, "site_price.clear")
    assert [e.before for e in clears] == [
        {"price": "1350.50"}, {"price": "1399.00"}, {"price": "1450.00"},
    ]
    assert all(e.after is None and e.actor.startswith(("site-operator", "admin")) for e in clears)


def test_effective_prices_read_a_whole_batch_in_one_query_per_table(
    tree: Tree, library: Platform
) -> None:
    for n in range(30):
        make_sku(library, f"BULK-{n:02d}", f"{100 + n}.00")
    tree.admin(EAST).put("/api/v1/catalog/prices/BULK-03", json={"price": "99.00"})
    tree.admin().put("/api/v1/catalog/floors/BULK-04", json={"max_discount_bp": 500})
    with library.hq.reading() as session:
        ids = [find_sku(session, f"BULK-{n:02d}").id for n in range(30)]
    directory = library.directory()
    counts = []
    for batch in (ids[:1], ids):
        with library.hq.reading() as session, counting_statements(library.hq.engine) as log:
            prices = effective_prices(session, directory, STORE, batch)
        counts.append(len(log))
        assert set(prices) == set(batch)
    assert counts == [3, 3]
    assert prices[ids[3]].price_fen == 9_900 and prices[ids[3]].decided_by == EAST
    assert prices[ids[4]].floor_max_discount_bp == 500
    assert prices[ids[4]].lowest_allowed_fen == lowest_after_discount(10_400, 500) == 9_880
    assert prices[ids[5]] == EffectivePrice(
        ids[5], 10_500, 10_500, None, None, None, {"min_price": None, "max_discount": None}
    )


def test_floors_are_the_strictest_along_the_path_and_a_price_below_is_refused(
    tree: Tree, library: Platform
) -> None:
    assert tree.admin().put(FLOOR, json={"min_price": "1000"}).status_code == 200
    east_floor = tree.admin(EAST).put(FLOOR, json={"max_discount_bp": 2000})
    assert east_floor.json()["floor"] == {
        "min_price": "1000.00", "max_discount_bp": 2000, "lowest_price": "1199.20",
        "decided_by": {"min_price": "hq", "max_discount": EAST},
    }
    # Looser bounds below change nothing: the strictest along the path hold.
    store_floor = tree.admin(STORE).put(FLOOR, json={"min_price": "900", "max_discount_bp": 2500})
    assert store_floor.status_code == 200, store_floor.text
    assert store_floor.json()["floor"]["decided_by"] == {"min_price": "hq", "max_discount": EAST}
    assert store_floor.json()["floor"]["lowest_price"] == "1199.20"
    assert _price(tree, WEST)["floor"]["lowest_price"] == "1000.00"

    operator = tree.operator(EAST)
    audit_before = row_count(library, AuditEntry)
    error = error_of(operator.put(PRICE, json={"price": "1199.19"}), 422, "below_price_floor")
    assert "FT-500" in error["message"] and "1199.20" in error["message"]
    assert error["field"] == "price"
    [violation] = [v for v in error["details"]["violations"] if v["site"] == EAST]
    assert violation | {"floor_decided_by": None} == {
        "site": EAST, "sku": "FT-500", "price": "1199.19", "lowest_price": "1199.20",
        "min_price": "1000.00", "max_discount_bp": 2000, "floor_decided_by": None,
    }
    assert row_count(library, SitePrice) == 0
    assert row_count(library, AuditEntry) == audit_before
    assert operator.put(PRICE, json={"price": "1199.20"}).status_code == 200
    error_of(tree.operator(WEST).put(PRICE, json={"price": "999.99"}), 422, "below_price_floor")

    # Floors are HQ's: operators may not set or clear them.
    error_of(operator.put(FLOOR, json={"min_price": "1"}), 403, "permission_denied")
    error_of(operator.delete(FLOOR), 403, "permission_denied")
    cleared = tree.admin(EAST).delete(FLOOR)
    assert cleared.json()["floor"]["lowest_price"] == "1000.00"
    floor_entries = audit_entries(library, "price_floor.set")
    assert [e.after for e in floor_entries] == [
        {"min_price": "1000.00", "max_discount_bp": None},
        {"min_price": None, "max_discount_bp": 2000},
        {"min_price": "900.00", "max_discount_bp": 2500},
    ]
    [clear] = audit_entries(library, "price_floor.clear")
    assert (clear.before, clear.after) == ({"min_price": None, "max_discount_bp": 2000}, None)


def test_a_price_a_descendant_would_inherit_below_its_floor_is_refused(
    tree: Tree, library: Platform
) -> None:
    assert tree.admin(STORE).put(FLOOR, json={"min_price": "1300"}).status_code == 200
    region = tree.operator(EAST)
    error = error_of(region.put(PRICE, json={"price": "1250"}), 422, "below_price_floor")
    assert [v["site"] for v in error["details"]["violations"]] == [STORE]
    assert row_count(library, SitePrice) == 0

    store = tree.operator(STORE)
    assert store.put(PRICE, json={"price": "1350"}).status_code == 200
    assert region.put(PRICE, json={"price": "1250"}).status_code == 200
    # Now the store's own price is all that keeps it above its floor.
    error = error_of(store.delete(PRICE), 422, "below_price_floor")
    assert error["message"].startswith(f"without site {STORE!r}'s own price")
    assert _in_force(tree, STORE) == ("1350.00", STORE)


def test_a_floor_below_which_prices_already_stand_is_refused_until_they_move(
    tree: Tree, library: Platform
) -> None:
    tree.operator(EAST).put(PRICE, json={"price": "1100"})
    admin = tree.admin()
    before = row_count(library, AuditEntry)
    error = error_of(admin.put(FLOOR, json={"min_price": "1200"}), 409,
                     "floor_conflicts_with_prices")
    assert [v["site"] for v in error["details"]["violations"]] == [EAST, STORE]
    assert "FT-500" in error["message"] and "1200.00" in error["message"]
    assert row_count(library, PriceFloorRule) == 0
    assert row_count(library, AuditEntry) == before
    # A floor only for west is not crossed by east's price.
    assert tree.admin(WEST).put(FLOOR, json={"min_price": "1200"}).status_code == 200
    tree.operator(EAST).delete(PRICE)
    assert admin.put(FLOOR, json={"min_price": "1200"}).status_code == 200
    error = error_of(admin.put(FLOOR, json={}), 422, "validation_failed")
    assert "min_price" in error["message"]


def test_a_base_price_that_would_push_a_site_below_its_floor_is_refused(
    tree: Tree, library: Platform
) -> None:
    admin = tree.admin()
    admin.put(FLOOR, json={"max_discount_bp": 1000})
    tree.operator(EAST).put(PRICE, json={"price": "1400"})
    # 10 % off 1599 is 1439.10: east's 1400 would be a larger discount.
    error = error_of(admin.patch("/api/v1/catalog/skus/FT-500", json={"base_price": "1599"}), 409,
                     "floor_conflicts_with_prices")
    assert error["field"] == "base_price"
    assert {v["site"] for v in error["details"]["violations"]} == {EAST, STORE}
    assert admin.get("/api/v1/catalog/skus/FT-500").json()["base_price"] == "1499.00"
    raised = admin.patch("/api/v1/catalog/skus/FT-500", json={"base_price": "1549"})
    assert raised.status_code == 200, raised.text
    assert _price(tree, STORE)["floor"]["lowest_price"] == "1394.10"

    admin.put(FLOOR, json={"min_price": "1200"})
    # Sites on the base price would fall under the minimum.
    error = error_of(admin.patch("/api/v1/catalog/skus/FT-500", json={"base_price": "1100"}), 409,
                     "floor_conflicts_with_prices")
    assert {v["site"] for v in error["details"]["violations"]} == {"hq", WEST}


def test_the_pricing_worksheet_pages_by_code_and_is_for_those_who_price(
    tree: Tree, library: Platform
) -> None:
    east = tree.operator(EAST)
    east.put("/api/v1/catalog/prices/FT-375", json={"price": "1099"})
    tree.admin(EAST).put("/api/v1/catalog/assortment/FT-500/hidden")
    first = east.get("/api/v1/catalog/prices?limit=1").json()
    assert [i["sku"] for i in first["items"]] == ["FT-375"] and first["next_after"] == "FT-375"
    item = first["items"][0]
    assert (item["price"], item["own_price"], item["base_price"], item["offered"]) == (
        "1099.00", "1099.00", "1199.00", True
    )
    rest = east.get("/api/v1/catalog/prices?after=FT-375").json()
    assert [(i["sku"], i["offered"]) for i in rest["items"]] == [("FT-500", False)]
    assert rest["next_after"] is None
    error_of(tree.dealer(EAST).get("/api/v1/catalog/prices"), 403, "permission_denied")


def test_lowest_price_after_a_discount_rounds_up_and_check_floor_names_it() -> None:
    assert lowest_after_discount(999, 3333) == 667  # 666.0333 fen: 666 would be 33.34 % off
    assert lowest_after_discount(149_900, 0) == 149_900
    assert lowest_after_discount(149_900, 10_000) == 0
    floor = EffectivePrice(1, 149_900, 149_900, None, 100_000, 2000,
                           {"min_price": "hq", "max_discount": "east"})
    assert floor.lowest_allowed_fen == 119_920 and floor.allows(119_920)
    check_floor(floor, 119_920, sku="FT-500", site=EAST)
    with pytest.raises(InvalidInput) as refused:
        check_floor(floor, 119_919, sku="FT-500", site=EAST)
    assert refused.value.code == "below_price_floor"
    assert refused.value.details["violations"][0]["lowest_price"] == str(Decimal("1199.20"))
