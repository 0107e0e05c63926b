"""HQ's floors bind every campaign: refused at creation with the SKU and the floor named."""

from __future__ import annotations

from datetime import timedelta

from starlette.testclient import TestClient

from .conftest import EAST, GLASS, SKU_A, WEST, Shop


def _create(client: TestClient, shop: Shop, code: str, type_: str, config: dict[str, object]):  # type: ignore[no-untyped-def]
    now = shop.platform.clock.now()
    return client.post(
        "/api/v1/campaigns",
        json={
            "code": code,
            "type": type_,
            "name": code,
            "config": config,
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(days=1)).isoformat(),
        },
    )


def test_a_campaign_under_an_inherited_minimum_price_is_refused(shop: Shop) -> None:
    hq = shop.factory.admin_client()
    assert (
        hq.put(f"/api/v1/catalog/floors/{SKU_A}", json={"min_price": "1400.00"}).status_code == 200
    )
    refused = _create(
        shop.operator[EAST], shop, "DEEP", "unit-off", {"skus": [SKU_A], "off": "100.00"}
    )
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["field"]) == ("campaign_below_price_floor", "config")
    assert error["details"]["sku"] == SKU_A and error["details"]["floor"] == "1400.00"
    assert SKU_A in error["message"] and "1400.00" in error["message"]
    assert error["details"]["violations"][0]["floor_decided_by"]["min_price"] == "hq"
    allowed = _create(
        shop.operator[EAST], shop, "SHALLOW", "unit-off", {"skus": [SKU_A], "off": "99.00"}
    )
    assert allowed.status_code == 201, allowed.text


def test_a_maximum_discount_set_for_one_region_binds_only_there(shop: Shop) -> None:
    # 10 % off 1499.00 at most: the lowest price is 1349.10.
    west = shop.factory.admin_client(site=WEST)
    assert (
        west.put(f"/api/v1/catalog/floors/{SKU_A}", json={"max_discount_bp": 1000}).status_code
        == 200
    )
    shop.factory.enable_plugin("campaign-probe", WEST)
    config = {"off": "1000.00", "threshold": "5000.00"}  # 20 % of any cart
    refused = _create(shop.operator[WEST], shop, "ORDER", "order-off", config)
    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["floor"] == "1349.10"
    assert _create(shop.operator[EAST], shop, "ORDER", "order-off", config).status_code == 201


def test_a_gift_with_a_floor_cannot_be_given_free(shop: Shop) -> None:
    hq = shop.factory.admin_client()
    assert hq.put(f"/api/v1/catalog/floors/{GLASS}", json={"min_price": "10.00"}).status_code == 200
    refused = _create(shop.operator[EAST], shop, "GIFT", "free-gift", {"gift_sku": GLASS})
    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["sku"] == GLASS
    missing = _create(shop.operator[EAST], shop, "GIFT", "free-gift", {"gift_sku": "NOPE"})
    assert missing.status_code == 404
    assert missing.json()["error"]["field"] == "config.gift_sku"


def test_publishing_checks_the_floors_again(shop: Shop) -> None:
    assert (
        _create(
            shop.operator[EAST], shop, "LATER", "unit-off", {"skus": [SKU_A], "off": "100.00"}
        ).status_code
        == 201
    )
    hq = shop.factory.admin_client()
    assert (
        hq.put(f"/api/v1/catalog/floors/{SKU_A}", json={"min_price": "1450.00"}).status_code == 200
    )
    refused = shop.operator[EAST].post(
        "/api/v1/campaigns/LATER/transition", json={"to": "scheduled"}
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "campaign_below_price_floor"
    assert shop.operator[EAST].get("/api/v1/campaigns/LATER").json()["state"] == "draft"
