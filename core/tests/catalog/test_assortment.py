"""Assortment narrows down the tree: the root offers every active SKU, sites only hide.

A region's hide holds in all its stores, and a store cannot bring the SKU back; the SQL
form listings use agrees with :class:`~vintry.sites.inheritance.NarrowingRule` everywhere.
"""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select
from vintry.catalog.assortment import hide_sku, offered_at
from vintry.catalog.models import AssortmentHide, Sku
from vintry.catalog.service import list_items
from vintry.platform import Platform

from .conftest import ACTOR, EAST, STORE, WEST, Tree, audit_entries, error_of, make_sku, row_count

pytestmark = pytest.mark.usefixtures("library")

HIDE = "/api/v1/catalog/assortment/FT-500/hidden"


def _offered(tree: Tree, site: str) -> list[str]:
    response = tree.dealer(site).get("/api/v1/catalog/items")
    assert response.status_code == 200, response.text
    return [item["sku"] for item in response.json()["items"]]


def test_a_region_hides_a_sku_for_its_whole_subtree_and_a_store_cannot_unhide_it(
    tree: Tree, library: Platform
) -> None:
    region = tree.operator(EAST)
    hidden = region.put(HIDE)
    assert hidden.status_code == 200, hidden.text
    assert hidden.json() == {
        "site": EAST, "sku": "FT-500", "active": True, "offered": False,
        "hidden_here": True, "hidden_by": EAST,
    }
    assert _offered(tree, EAST) == ["FT-375"]
    assert _offered(tree, STORE) == ["FT-375"]
    assert _offered(tree, WEST) == ["FT-375", "FT-500"]
    error_of(tree.dealer(STORE).get("/api/v1/catalog/items/FT-500"), 404, "sku_not_found")

    store = tree.operator(STORE)
    still = store.delete(HIDE)
    assert still.status_code == 200, still.text
    assert (still.json()["offered"], still.json()["hidden_by"]) == (False, EAST)
    assert _offered(tree, STORE) == ["FT-375"]
    # Hiding below an ancestor's hide is allowed (and kept if the ancestor lifts its own).
    assert store.put(HIDE).json()["hidden_by"] == EAST
    assert region.delete(HIDE).json()["offered"] is True
    assert _offered(tree, EAST) == ["FT-375", "FT-500"]
    assert _offered(tree, STORE) == ["FT-375"]
    back = store.delete(HIDE).json()
    assert (back["offered"], back["hidden_here"], back["hidden_by"]) == (True, False, None)
    assert _offered(tree, STORE) == ["FT-375", "FT-500"]

    entries = audit_entries(library)
    directory = library.directory()
    assert [
        (e.action, directory.by_id(e.site_id).code, e.before, e.after)
        for e in entries if e.object_type == "assortment"
    ] == [
        ("assortment.hide", EAST, {"hidden": False}, {"hidden": True}),
        ("assortment.hide", STORE, {"hidden": False}, {"hidden": True}),
        ("assortment.unhide", EAST, {"hidden": True}, {"hidden": False}),
        ("assortment.unhide", STORE, {"hidden": True}, {"hidden": False}),
    ]


def test_hiding_is_idempotent_and_inactive_skus_are_offered_nowhere(
    tree: Tree, library: Platform
) -> None:
    operator = tree.operator(WEST)
    operator.put(HIDE)
    operator.put(HIDE)
    assert row_count(library, AssortmentHide) == 1
    assert len(audit_entries(library, "assortment.hide")) == 1
    tree.admin().patch("/api/v1/catalog/skus/FT-375", json={"active": False})
    assert _offered(tree, EAST) == ["FT-500"]
    assert _offered(tree, WEST) == []
    state = operator.delete("/api/v1/catalog/assortment/FT-375/hidden").json()
    assert (state["active"], state["offered"], state["hidden_by"]) == (False, False, None)
    error_of(operator.put("/api/v1/catalog/assortment/NOPE/hidden"), 404, "sku_not_found")
    # Dealers read the assortment; they do not shape it.
    error_of(tree.dealer(WEST).put(HIDE), 403, "permission_denied")


def test_listings_agree_with_the_narrowing_rule_at_every_site(
    tree: Tree, library: Platform
) -> None:
    for n in range(12):
        make_sku(library, f"MIX-{n:02d}", "100", active=n % 5 != 0)
    chooser = random.Random(4)
    codes = [f"MIX-{n:02d}" for n in range(12)]
    for site in ("hq", EAST, WEST, STORE):
        for code in chooser.sample(codes, 3):
            hide_sku(library, site, code, actor=ACTOR)
    directory = library.directory()
    with library.hq.reading() as session:
        skus = {s.id: (s.code, s.active) for s in session.scalars(select(Sku))}
        hides = {
            (site_id, sku_id)
            for site_id, sku_id in session.execute(
                select(AssortmentHide.site_id, AssortmentHide.sku_id)
            )
        }
        for site in ("hq", EAST, WEST, STORE):
            rule = offered_at(session, directory, site, skus).value
            listed = {
                item.sku for item in list_items(
                    session, directory, site, now=library.clock.now(), limit=100
                ).items
            }
            assert listed == set(rule), site
            # And by hand: active, hidden nowhere on the path.
            path_ids = {node.id for node in directory.path(site)}
            expected = {
                code for sku_id, (code, active) in skus.items()
                if active and not any((p, sku_id) in hides for p in path_ids)
            }
            assert listed == expected, site
