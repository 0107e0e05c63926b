"""Publication: versions kept, one-step rollback, scheduled festival layouts evaluated with
the clock, HQ's templates and the default a site without a layout of its own shows."""

from __future__ import annotations

from datetime import datetime, timedelta

from vintry.clock import ManualClock

from .conftest import EAST, SECTIONS, SKUS, WEST, Mall, assert_error

FESTIVAL = [
    {
        "key": "festival",
        "blocks": [
            {
                "key": "lanterns",
                "type": "product-grid",
                "config": {"selection": {"by": "tag", "tag": "festival"}, "limit": 3},
            }
        ],
    }
]


def _blocks(page: dict) -> list[str]:
    return [block["key"] for section in page["sections"] for block in section["blocks"]]


def test_publish_keeps_every_version_and_rolls_back_one_step(mall: Mall) -> None:
    mall.layout()
    first = mall.publish()
    assert (first["number"], first["state"]) == (1, "serving")
    assert mall.home()["version"] == 1
    changed = mall.operator[EAST].patch(
        "/api/v1/layouts/main", json={"sections": SECTIONS[:1], "title": "Lean"}
    )
    assert changed.status_code == 200
    assert mall.home()["version"] == 1  # a draft edit changes nothing live
    second = mall.publish()
    assert second["number"] == 2
    page = mall.home()
    assert (page["version"], page["title"], _blocks(page)) == (2, "Lean", ["hero", "note"])

    status = mall.operator[EAST].get("/api/v1/pages/home/status").json()
    assert [(v["number"], v["state"]) for v in status["versions"]] == [
        (2, "serving"),
        (1, "superseded"),
    ]
    rolled = mall.operator[EAST].post("/api/v1/pages/home/rollback", json={"version": 2})
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["serving"]["number"] == 1
    assert [(v["number"], v["state"]) for v in rolled.json()["versions"]] == [
        (2, "withdrawn"),
        (1, "serving"),
    ]
    assert mall.home()["version"] == 1
    # the old version is still readable as published
    kept = mall.operator[EAST].get("/api/v1/pages/home/versions/2").json()
    assert kept["state"] == "withdrawn" and kept["title"] == "Lean"
    # a second click (still naming version 2) rolls back nothing more
    again_2 = mall.operator[EAST].post("/api/v1/pages/home/rollback", json={"version": 2})
    assert assert_error(again_2, 409, "page_changed")["details"] == {"serving": 1}
    assert mall.home()["version"] == 1
    # rolling back the last one falls back to HQ's default (none here: an empty page)
    last = mall.operator[EAST].post("/api/v1/pages/home/rollback", json={"version": 1})
    assert last.status_code == 200, last.text
    empty = mall.home()
    assert (empty["source"], empty["sections"]) == ("none", [])
    assert_error(
        mall.operator[EAST].post("/api/v1/pages/home/rollback", json={"version": 1}),
        409,
        "nothing_to_roll_back",
    )
    # an old version can be published again, as a new number
    again = mall.operator[EAST].post("/api/v1/pages/home/versions/1/republish", json={})
    assert again.status_code == 201, again.text
    assert again.json()["number"] == 3
    assert mall.home()["version"] == 3


def test_a_festival_layout_serves_inside_its_window_only(
    mall: Mall, vintry_clock: ManualClock
) -> None:
    mall.layout()
    mall.publish()
    mall.layout(code="spring", sections=FESTIVAL, title="Spring festival")
    now = vintry_clock.now()
    starts, ends = now + timedelta(days=1), now + timedelta(days=3)
    festival = mall.publish(code="spring", starts_at=starts, ends_at=ends)
    assert festival["state"] == "scheduled"
    status = mall.operator[EAST].get("/api/v1/pages/home/status").json()
    assert datetime.fromisoformat(status["next_change_at"]) == starts
    assert mall.home()["version"] == 1

    vintry_clock.advance(timedelta(days=1, seconds=1))
    page = mall.home()
    assert (page["version"], page["title"]) == (2, "Spring festival")
    shown = [p["sku"] for p in page["sections"][0]["blocks"][0]["data"]["products"]]
    assert shown == ["SKU-07", "SKU-05", "SKU-03"]  # tagged, newest first, limit 3

    # a regular publication during the festival waits for the festival to end
    mall.operator[EAST].patch("/api/v1/layouts/main", json={"title": "After"})
    mall.publish()
    assert mall.home()["version"] == 2

    vintry_clock.advance(timedelta(days=2))
    after = mall.home()
    assert (after["version"], after["title"]) == (3, "After")
    states = {
        v["number"]: v["state"]
        for v in mall.operator[EAST].get("/api/v1/pages/home/status").json()["versions"]
    }
    assert states == {3: "serving", 2: "ended", 1: "superseded"}


def test_a_scheduled_layout_can_be_called_off(mall: Mall, vintry_clock: ManualClock) -> None:
    mall.layout(code="spring", sections=FESTIVAL)
    now = vintry_clock.now()
    mall.publish(
        code="spring", starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=5)
    )
    off = mall.operator[EAST].post("/api/v1/pages/home/versions/1/withdraw")
    assert off.status_code == 200, off.text
    vintry_clock.advance(timedelta(hours=2))
    assert mall.home()["source"] == "none"
    twice = mall.operator[EAST].post("/api/v1/pages/home/versions/1/withdraw")
    assert twice.status_code == 200  # idempotent
    assert twice.json()["versions"][0]["state"] == "withdrawn"


def test_publication_windows_are_checked(mall: Mall, vintry_clock: ManualClock) -> None:
    mall.layout()
    now = vintry_clock.now()
    backwards = mall.operator[EAST].post(
        "/api/v1/layouts/main/publish",
        json={"starts_at": now.isoformat(), "ends_at": (now - timedelta(hours=1)).isoformat()},
    )
    assert assert_error(backwards, 422, "invalid_window")["field"] == "ends_at"
    naive = mall.operator[EAST].post(
        "/api/v1/layouts/main/publish", json={"starts_at": "2026-01-01T00:00:00"}
    )
    assert naive.status_code == 422
    assert mall.operator[EAST].get("/api/v1/pages/home/status").json()["versions"] == []


def test_hq_default_template_serves_sites_without_a_layout(mall: Mall) -> None:
    template = {
        "code": "hq-home",
        "title": "HQ home",
        "sections": SECTIONS,
        "is_default": True,
    }
    created = mall.hq.post("/api/v1/page-templates", json=template)
    assert created.status_code == 201, created.text
    page = mall.home("west-gold")
    assert (page["source"], page["template"], page["title"]) == ("hq_default", "hq-home", "HQ home")
    assert "premium" in _blocks(page)
    status = mall.operator[WEST].get("/api/v1/pages/home/status").json()
    assert (status["source"], status["template"]) == ("hq_default", "hq-home")
    # HQ's change shows at once where the default serves
    changed = mall.hq.patch("/api/v1/page-templates/hq-home", json={"title": "HQ home 2"})
    assert changed.status_code == 200, changed.text
    assert mall.home("west-gold")["title"] == "HQ home 2"
    # a site's own publication takes over; rolling it back returns to the default
    mall.layout(site=WEST, sections=SECTIONS[:1])
    mall.publish(site=WEST)
    assert mall.home("west-gold")["source"] == "site"
    mall.operator[WEST].post("/api/v1/pages/home/rollback", json={"version": 1})
    assert mall.home("west-gold")["source"] == "hq_default"
    # only HQ writes templates
    refused = mall.operator[WEST].post("/api/v1/page-templates", json={**template, "code": "mine"})
    assert refused.status_code == 403


def test_one_default_per_page(mall: Mall) -> None:
    for code in ("a", "b"):
        body = {"code": code, "title": code, "sections": [], "is_default": True}
        assert mall.hq.post("/api/v1/page-templates", json=body).status_code == 201
    defaults = [t["code"] for t in mall.hq.get("/api/v1/page-templates").json() if t["is_default"]]
    assert defaults == ["b"]


def test_a_site_copies_a_template_and_edits_it(mall: Mall) -> None:
    sections = [
        *SECTIONS,
        {"key": "deals", "blocks": [{"key": "offers", "type": "probe-offers"}]},
    ]
    body = {"code": "spring", "title": "Spring", "sections": sections}
    assert mall.hq.post("/api/v1/page-templates", json=body).status_code == 201
    copied = mall.operator[EAST].post(
        "/api/v1/page-templates/spring/copy", json={"code": "my-spring"}
    )
    assert copied.status_code == 201, copied.text
    assert copied.json()["template"] == "spring"
    assert (
        copied.json()["sections"] == mall.hq.get("/api/v1/page-templates/spring").json()["sections"]
    )
    edited = mall.operator[EAST].patch("/api/v1/layouts/my-spring", json={"title": "East spring"})
    assert edited.status_code == 200
    assert mall.hq.get("/api/v1/page-templates/spring").json()["title"] == "Spring"

    # west does not run the probe: the copy is refused naming the block, or made without it
    refused = mall.operator[WEST].post(
        "/api/v1/page-templates/spring/copy", json={"code": "my-spring"}
    )
    error = assert_error(refused, 422, "block_type_not_enabled")
    assert (error["details"]["section"], error["details"]["block"]) == ("deals", "offers")
    dropped = mall.operator[WEST].post(
        "/api/v1/page-templates/spring/copy", json={"code": "my-spring", "drop_unusable": True}
    )
    assert dropped.status_code == 201, dropped.text
    assert [p["block"] for p in dropped.json()["problems"]] == ["offers"]
    assert [s["blocks"] for s in dropped.json()["sections"]][-1] == []


def test_templates_are_checked_against_hqs_catalog(mall: Mall) -> None:
    body = {
        "code": "t",
        "title": "t",
        "sections": [
            {
                "key": "s",
                "blocks": [
                    {
                        "key": "g",
                        "type": "product-grid",
                        "config": {"selection": {"by": "skus", "skus": [SKUS[0], "GONE"]}},
                    }
                ],
            }
        ],
    }
    error = assert_error(mall.hq.post("/api/v1/page-templates", json=body), 422, "sku_not_offered")
    assert error["field"] == "sections.0.blocks.0.config.selection.skus.1"
    assert_error(mall.hq.get("/api/v1/page-templates/t"), 404, "page_template_not_found")
