"""Layouts: block types offered, drafts saved and refused with the exact place of the error,
optimistic locking, and tenancy."""

from __future__ import annotations

import copy
from typing import Any

from .conftest import EAST, SECTIONS, SKUS, WEST, Mall, assert_error


def _with_block(block: dict[str, Any]) -> list[dict[str, Any]]:
    sections = copy.deepcopy(SECTIONS)
    sections[1]["blocks"].insert(1, block)
    return sections


def test_block_types_are_listed_with_their_forms(mall: Mall) -> None:
    east = mall.operator[EAST].get("/api/v1/page-blocks")
    assert east.status_code == 200, east.text
    by_name = {t["name"]: t for t in east.json()}
    for kernel in ("banner", "notice", "product-grid", "product-carousel", "campaigns-for-you"):
        assert by_name[kernel]["plugin"] == "vintry-pages"
        assert by_name[kernel]["enabled_here"] is True
    assert by_name["probe-offers"]["enabled_here"] is True
    grid = by_name["product-grid"]["config_schema"]
    assert "selection" in grid["properties"]
    west = {t["name"]: t for t in mall.operator[WEST].get("/api/v1/page-blocks").json()}
    assert west["probe-offers"]["enabled_here"] is False
    one = mall.operator[EAST].get("/api/v1/page-blocks/notice")
    assert one.json()["config_schema"]["properties"]["level"]["enum"] == [
        "info",
        "warning",
        "festive",
    ]
    assert_error(mall.operator[EAST].get("/api/v1/page-blocks/nope"), 404, "block_type_not_found")


def test_a_saved_layout_is_normalised_and_read_back(mall: Mall) -> None:
    sections = copy.deepcopy(SECTIONS)
    del sections[0]["blocks"][1]["key"]  # keys are filled in when left out
    created = mall.layout(sections=sections)
    assert created["revision"] == 1
    assert created["problems"] == []
    assert created["sections"][0]["blocks"][1]["key"] == "top-b2"
    notice = created["sections"][0]["blocks"][1]["config"]
    assert notice == {"text": "Orders ship in 48h", "level": "info"}  # defaults stored
    listed = mall.operator[EAST].get("/api/v1/layouts").json()
    assert [(item["code"], item["blocks"]) for item in listed] == [("main", 4)]
    assert mall.operator[EAST].get("/api/v1/layouts/main").json() == created
    assert_error(
        mall.operator[EAST].post(
            "/api/v1/layouts", json={"code": "main", "title": "x", "sections": []}
        ),
        409,
        "layout_exists",
    )


def test_an_unknown_block_type_is_refused_naming_section_block_and_field(mall: Mall) -> None:
    body = {
        "code": "bad",
        "title": "x",
        "sections": _with_block({"key": "odd", "type": "hologram"}),
    }
    error = assert_error(
        mall.operator[EAST].post("/api/v1/layouts", json=body), 422, "unknown_block_type"
    )
    assert error["field"] == "sections.1.blocks.1.type"
    assert error["details"]["section"] == "picks"
    assert error["details"]["block"] == "odd"
    assert mall.operator[EAST].get("/api/v1/layouts").json() == []  # nothing saved


def test_a_missing_sku_is_refused_with_its_exact_place(mall: Mall) -> None:
    block = {
        "key": "grid2",
        "type": "product-grid",
        "config": {"selection": {"by": "skus", "skus": [SKUS[0], "NO-SUCH"]}},
    }
    body = {"code": "bad", "title": "x", "sections": _with_block(block)}
    error = assert_error(
        mall.operator[EAST].post("/api/v1/layouts", json=body), 422, "sku_not_offered"
    )
    assert error["field"] == "sections.1.blocks.1.config.selection.skus.1"
    assert (error["details"]["section"], error["details"]["block"]) == ("picks", "grid2")


def test_a_disabled_plugins_block_is_refused(mall: Mall) -> None:
    body = {
        "code": "bad",
        "title": "x",
        "sections": _with_block({"key": "offers", "type": "probe-offers"}),
    }
    error = assert_error(
        mall.operator[WEST].post("/api/v1/layouts", json=body), 422, "block_type_not_enabled"
    )
    assert error["field"] == "sections.1.blocks.1.type"
    assert mall.operator[EAST].post("/api/v1/layouts", json=body).status_code == 201


def test_every_problem_is_listed_and_configs_are_validated(mall: Mall) -> None:
    sections = [
        {
            "key": "a",
            "blocks": [
                {"key": "x", "type": "banner", "config": {"title": "no image"}},
                {
                    "key": "x",
                    "type": "product-grid",
                    "config": {"selection": {"by": "category", "category": "GIN"}},
                },
                {
                    "key": "y",
                    "type": "product-grid",
                    "config": {"selection": {"by": "skus", "skus": []}, "limit": 99},
                },
            ],
        },
        {"key": "a", "blocks": []},
    ]
    error = assert_error(
        mall.operator[EAST].post(
            "/api/v1/layouts", json={"code": "bad", "title": "x", "sections": sections}
        ),
        422,
        "invalid_block_config",
    )
    assert error["field"] == "sections.0.blocks.0.config.image_url"
    found = {(p["field"], p["code"]) for p in error["details"]["problems"]}
    assert ("sections.0.blocks.1.key", "duplicate_key") in found
    assert ("sections.0.blocks.1.config.selection.category", "category_not_found") in found
    assert ("sections.0.blocks.2.config.selection.skus.skus", "invalid_block_config") in found
    assert ("sections.0.blocks.2.config.limit", "invalid_block_config") in found
    assert ("sections.1.key", "duplicate_key") in found


def test_saving_over_someone_elses_change_is_refused(mall: Mall) -> None:
    mall.layout()
    first = mall.operator[EAST].patch("/api/v1/layouts/main", json={"title": "A", "revision": 1})
    assert first.status_code == 200, first.text
    assert first.json()["revision"] == 2
    stale = mall.operator[EAST].patch("/api/v1/layouts/main", json={"title": "B", "revision": 1})
    error = assert_error(stale, 409, "layout_changed")
    assert error["details"]["revision"] == 2
    assert mall.operator[EAST].get("/api/v1/layouts/main").json()["title"] == "A"


def test_an_operator_cannot_touch_another_sites_layouts(mall: Mall) -> None:
    mall.layout(site=WEST, sections=[])
    east_operator_on_west = mall.factory.client(
        mall.factory.token(mall.factory.user("site_operator", EAST)), site=WEST
    )
    for response in (
        east_operator_on_west.get("/api/v1/layouts/main"),
        east_operator_on_west.patch("/api/v1/layouts/main", json={"title": "taken"}),
        east_operator_on_west.post("/api/v1/layouts/main/publish", json={}),
        east_operator_on_west.delete("/api/v1/layouts/main", params={"revision": 1}),
    ):
        assert response.status_code == 404, response.text
    assert mall.operator[WEST].get("/api/v1/layouts/main").json()["title"] == "west home"
    # and east's own layouts are not west's
    assert_error(mall.operator[EAST].get("/api/v1/layouts/main"), 404, "layout_not_found")


def test_dealers_cannot_edit_layouts(mall: Mall) -> None:
    body = {"code": "mine", "title": "x", "sections": []}
    assert mall.dealer["east-gold"].post("/api/v1/layouts", json=body).status_code == 403


def test_deleting_a_draft_keeps_its_published_versions(mall: Mall) -> None:
    mall.layout()
    mall.publish()
    mall.operator[EAST].patch("/api/v1/layouts/main", json={"title": "moved on"})
    stale = mall.operator[EAST].delete("/api/v1/layouts/main", params={"revision": 1})
    assert_error(stale, 409, "layout_changed")
    deleted = mall.operator[EAST].delete("/api/v1/layouts/main", params={"revision": 2})
    assert deleted.status_code == 204
    assert_error(mall.operator[EAST].get("/api/v1/layouts/main"), 404, "layout_not_found")
    assert mall.home()["version"] == 1
