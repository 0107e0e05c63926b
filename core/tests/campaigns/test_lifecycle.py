"""Creating, changing and moving campaigns through the API: states, checks and audit."""

from __future__ import annotations

from datetime import timedelta

from vintry.clock import ManualClock

from .conftest import EAST, SKU_A, WEST, Shop


def _body(shop: Shop, **fields: object) -> dict[str, object]:
    now = shop.platform.clock.now()
    body: dict[str, object] = {
        "code": "SPRING",
        "type": "unit-off",
        "name": "Spring sale",
        "config": {"skus": [SKU_A], "off": "100.00"},
        "starts_at": (now + timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=3)).isoformat(),
        "targeting": {"tiers": ["gold"]},
        "budget": {"amount": "5000.00", "uses_per_dealer": 2},
    }
    body.update(fields)
    return body


def test_operator_runs_a_campaign_from_draft_to_ended(
    shop: Shop, vintry_clock: ManualClock
) -> None:
    operator = shop.operator[EAST]
    created = operator.post("/api/v1/campaigns", json=_body(shop))
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert (campaign["state"], campaign["plugin"], campaign["type"]) == (
        "draft",
        "campaign-probe",
        "unit-off",
    )
    assert campaign["config"] == {"skus": [SKU_A], "off": "100.00", "min_spend": "0"}
    assert campaign["budget"] == {
        "units": None,
        "amount": "5000.00",
        "uses_per_dealer": 2,
        "used_units": 0,
        "used_amount": "0.00",
    }
    assert campaign["targeting"] == {"tiers": ["gold"], "tags": [], "dealers": []}

    published = operator.post("/api/v1/campaigns/SPRING/transition", json={"to": "scheduled"})
    assert published.json()["state"] == "scheduled"
    vintry_clock.advance(days=1)
    assert operator.get("/api/v1/campaigns/SPRING").json()["state"] == "live"
    assert operator.get("/api/v1/campaigns?state=live").json()["items"][0]["code"] == "SPRING"
    assert operator.get("/api/v1/campaigns?state=scheduled").json()["items"] == []
    vintry_clock.advance(days=2)
    assert operator.get("/api/v1/campaigns/SPRING").json()["state"] == "ended"


def test_a_live_campaign_can_be_ended_early_or_cancelled_but_not_edited(
    shop: Shop, vintry_clock: ManualClock
) -> None:
    operator = shop.operator[EAST]
    shop.campaign(code="LIVE-1")
    shop.campaign(code="LIVE-2")
    edit = operator.patch("/api/v1/campaigns/LIVE-1", json={"name": "Renamed"})
    assert edit.status_code == 409 and edit.json()["error"]["code"] == "campaign_not_editable"
    vintry_clock.advance(hours=1)
    ended = operator.post("/api/v1/campaigns/LIVE-1/transition", json={"to": "ended"})
    assert ended.status_code == 200 and ended.json()["state"] == "ended"
    assert ended.json()["ends_at"].startswith(vintry_clock.now().isoformat()[:19])
    cancelled = operator.post(
        "/api/v1/campaigns/LIVE-2/transition", json={"to": "cancelled", "reason": "stock issue"}
    )
    assert cancelled.json()["state"] == "cancelled"
    for code, target in (("LIVE-1", "scheduled"), ("LIVE-1", "ended"), ("LIVE-2", "cancelled")):
        refused = operator.post(f"/api/v1/campaigns/{code}/transition", json={"to": target})
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "illegal_transition"
        assert refused.json()["error"]["details"]["to"] == target


def test_a_draft_changes_field_by_field_and_every_change_is_audited(shop: Shop) -> None:
    operator = shop.operator[EAST]
    operator.post("/api/v1/campaigns", json=_body(shop))
    unchanged = operator.patch("/api/v1/campaigns/SPRING", json={})
    assert unchanged.status_code == 200
    changed = operator.patch(
        "/api/v1/campaigns/SPRING",
        json={
            "priority": 5,
            "stacking_group": "spring",
            "config": {"skus": [SKU_A], "off": "50.00"},
        },
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["priority"], changed.json()["stacking_group"]) == (5, "spring")
    assert changed.json()["name"] == "Spring sale"
    operator.post("/api/v1/campaigns/SPRING/transition", json={"to": "scheduled"})
    audit = operator.get("/api/v1/audit?object_type=campaign").json()
    assert [entry["action"] for entry in audit] == [
        "campaign.scheduled",
        "campaign.update",
        "campaign.create",
    ]
    update = audit[1]
    assert update["site"] == EAST and update["object_id"] == "SPRING"
    assert update["before"]["config"]["off"] == "100.00"
    assert update["after"]["config"]["off"] == "50.00"
    assert (update["before"]["priority"], update["after"]["priority"]) == (0, 5)
    assert audit[0]["before"]["status"] == "draft" and audit[0]["after"]["status"] == "scheduled"


def test_creation_is_refused_with_the_field_and_a_stable_code(shop: Shop) -> None:
    operator = shop.operator[EAST]
    now = shop.platform.clock.now()
    cases = [
        ({"type": "no-such-type"}, 404, "campaign_type_not_found", "type"),
        ({"config": {"skus": [SKU_A], "off": "-1"}}, 422, "invalid_campaign_config", "config.off"),
        ({"config": {"off": "1"}}, 422, "invalid_campaign_config", "config.skus"),
        (
            {"ends_at": now.isoformat(), "starts_at": (now + timedelta(hours=1)).isoformat()},
            422,
            "invalid_window",
            "ends_at",
        ),
        (
            {
                "starts_at": (now - timedelta(days=2)).isoformat(),
                "ends_at": (now - timedelta(days=1)).isoformat(),
            },
            422,
            "window_in_past",
            "ends_at",
        ),
        (
            {"targeting": {"dealers": ["D-WEST-GOLD"]}},
            404,
            "dealer_not_found",
            "targeting.dealers.0",
        ),
        ({"config": {"skus": ["NOPE"], "off": "1"}}, 404, "sku_not_found", "config.skus.0"),
        ({"starts_at": "2026-01-02T00:00:00"}, 422, "validation_failed", "body.starts_at"),
    ]
    for fields, status, code, field in cases:
        response = operator.post("/api/v1/campaigns", json=_body(shop, **fields))
        assert response.status_code == status, (fields, response.text)
        error = response.json()["error"]
        assert (error["code"], error["field"]) == (code, field), fields
    assert operator.get("/api/v1/campaigns").json()["items"] == []
    assert operator.post("/api/v1/campaigns", json=_body(shop)).status_code == 201
    again = operator.post("/api/v1/campaigns", json=_body(shop))
    assert again.status_code == 409 and again.json()["error"]["code"] == "campaign_exists"


def test_only_types_enabled_on_the_site_can_be_used(shop: Shop) -> None:
    refused = shop.operator[WEST].post("/api/v1/campaigns", json=_body(shop))
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "campaign_type_not_enabled"
    assert refused.json()["error"]["details"] == {"plugin": "campaign-probe", "site": WEST}
    types = {t["name"]: t for t in shop.operator[WEST].get("/api/v1/campaign-types").json()}
    assert types["unit-off"]["enabled_here"] is False
    here = shop.operator[EAST].get("/api/v1/campaign-types/unit-off").json()
    assert here["enabled_here"] is True and here["plugin"] == "campaign-probe"
    assert set(here["config_schema"]["properties"]) == {"skus", "off", "min_spend"}
    assert here["config_schema"]["required"] == ["skus", "off"]


def test_campaigns_belong_to_their_site(shop: Shop) -> None:
    shop.campaign(code="EAST-ONLY")
    assert shop.operator[WEST].get("/api/v1/campaigns/EAST-ONLY").status_code == 404
    assert shop.operator[WEST].get("/api/v1/campaigns").json()["items"] == []
    hq = shop.factory.admin_client(site=EAST)
    assert hq.get("/api/v1/campaigns/EAST-ONLY").json()["state"] == "live"
    dealer = shop.dealers["east-gold"]
    assert dealer.get("/api/v1/campaigns").status_code == 403
    assert dealer.post("/api/v1/campaigns", json=_body(shop)).status_code == 403
