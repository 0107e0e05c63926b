"""The seckill plugin through HTTP: the campaign type, attempts (quota, per-dealer limit,
sold out from memory), expiry by the clock, the order path that converts a hold, the
explanation, and a region where the plugin is off.

The plugin is loaded because its distribution is installed: nothing here registers it by
hand. Each test runs on SQLite, and on PostgreSQL when ``VINTRY_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event
from sqlalchemy.engine import Engine
from vintry.events.relay import Relay
from vintry_sdk import Platform
from vintry_sdk.testing import VintryFactory

from vintry_seckill import PLUGIN_NAME
from vintry_seckill.config import SeckillSettings

from .conftest import EAST, FEITIAN, SOUTH, Mall, error_code


@contextmanager
def counting_statements() -> Iterator[list[str]]:
    """Every SQL statement any engine sends while inside."""
    sent: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        sent.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def test_the_installed_plugin_offers_the_seckill_campaign_type(
    vintry_platform: Platform, vintry_factory: VintryFactory
) -> None:
    record = vintry_platform.plugins.get(PLUGIN_NAME)
    assert record is not None and record.version == "0.1.0"
    assert record.settings_model is SeckillSettings
    assert sorted(record.contribution.campaign_types) == ["seckill"]
    vintry_factory.site(EAST)
    vintry_factory.enable_plugin(PLUGIN_NAME, EAST)
    operator = vintry_factory.client_for("site_operator", EAST)
    found = operator.get("/api/v1/campaign-types/seckill").json()
    assert found["enabled_here"] is True
    assert found["config_schema"]["required"] == ["sku", "price", "quantity"]


def test_a_configuration_is_validated_and_named_skus_must_exist(mall: Mall) -> None:
    now = mall.platform.clock.now()
    body = {
        "code": "BAD",
        "type": "seckill",
        "name": "Bad",
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(days=1)).isoformat(),
    }
    bad = mall.operator[EAST].post(
        "/api/v1/campaigns", json={**body, "config": {"sku": FEITIAN, "price": "0", "quantity": 5}}
    )
    assert bad.status_code == 422
    assert (error_code(bad), bad.json()["error"]["field"]) == ("invalid_campaign_config",
                                                               "config.price")
    unknown = mall.operator[EAST].post(
        "/api/v1/campaigns", json={**body, "config": {"sku": "NOPE", "price": "9", "quantity": 5}}
    )
    assert (unknown.status_code, error_code(unknown)) == (404, "sku_not_found")


def test_an_attempt_holds_units_at_the_special_price(mall: Mall) -> None:
    mall.sale()
    won = mall.grab("east-gold")
    assert won.status_code == 201, won.text
    hold = won.json()
    assert (hold["campaign"], hold["sku"], hold["quantity"], hold["unit_price"]) == (
        "FLASH", FEITIAN, 1, "999.00"
    )
    assert hold["status"] == "held" and hold["dealer"] == "D-EAST-GOLD"
    now = mall.platform.clock.now()
    assert hold["expires_at"].startswith((now + timedelta(minutes=15)).isoformat()[:19])
    mine = mall.dealer["east-gold"].get("/api/v1/x/seckill/holds").json()
    assert [h["id"] for h in mine] == [hold["id"]]
    assert mall.dealer["east-silver"].get("/api/v1/x/seckill/holds").json() == []
    status = mall.status()
    assert (status["quota"], status["taken"], status["remaining"], status["held"]) == (3, 1, 2, 1)
    assert status["state"] == "live" and status["backend"] == "sql"


def test_the_dealer_limit_holds_across_attempts_and_orders(mall: Mall) -> None:
    mall.sale(quantity=10, per_dealer_limit=2)
    assert mall.grab("east-gold").status_code == 201
    checkout = _order(mall, "east-gold", 1)
    assert checkout.status_code == 201, checkout.text
    assert mall.grab("east-gold").status_code == 201
    third = mall.grab("east-gold")
    assert (third.status_code, error_code(third)) == (409, "seckill_limit_reached")
    assert third.json()["error"]["details"] == {"units": 2, "limit": 2}
    too_many = mall.grab("east-silver", quantity=3)
    assert (too_many.status_code, error_code(too_many)) == (409, "seckill_limit_reached")
    assert mall.grab("east-silver", quantity=2).status_code == 201


def test_sold_out_is_answered_from_memory_before_the_request_is_read(mall: Mall) -> None:
    mall.sale(quantity=3, per_dealer_limit=2)
    assert mall.grab("east-gold", quantity=2).status_code == 201
    short = mall.grab("east-silver", quantity=2)
    assert (short.status_code, error_code(short)) == (409, "seckill_not_enough_left")
    assert short.json()["error"]["details"] == {"remaining": 1, "quota": 3}
    assert mall.grab("east-silver").status_code == 201
    first = mall.grab("east-bronze")  # this worker learns the sale is sold out here
    assert (first.status_code, error_code(first)) == (409, "seckill_sold_out")
    with counting_statements() as sent:
        again = mall.grab("east-bronze")
        other = mall.grab("east-gold")
    assert (again.status_code, error_code(again)) == (409, "seckill_sold_out")
    assert (other.status_code, error_code(other)) == (409, "seckill_sold_out")
    assert sent == []  # no database at all: not even authentication
    # A caller this worker has not authorised takes the normal path, whatever it sends.
    anonymous = mall.factory.client(site=EAST).post("/api/v1/x/seckill/sales/FLASH/attempts")
    assert anonymous.status_code == 401


def test_an_unordered_hold_expires_and_returns_to_the_quota(mall: Mall) -> None:
    mall.sale(quantity=2, per_dealer_limit=2, hold_minutes=10)
    assert mall.grab("east-gold", quantity=2).status_code == 201
    assert error_code(mall.grab("east-silver")) == "seckill_sold_out"
    mall.platform.clock.advance(minutes=9)  # type: ignore[attr-defined]
    assert error_code(mall.grab("east-silver")) == "seckill_sold_out"
    mall.platform.clock.advance(minutes=1)  # type: ignore[attr-defined]
    won = mall.grab("east-silver")  # the board's mark lapsed with the hold
    assert won.status_code == 201, won.text
    holds = mall.operator[EAST].get("/api/v1/x/seckill/sales/FLASH/holds").json()
    assert [(h["dealer"], h["status"]) for h in holds] == [
        ("D-EAST-SILVER", "held"), ("D-EAST-GOLD", "expired")
    ]
    status = mall.status()
    assert (status["taken"], status["held"]) == (1, 1)
    # The gold dealer's allowance came back with its units.
    assert mall.grab("east-gold").status_code == 201


def test_the_sweeper_expires_holds_without_an_attempt(mall: Mall) -> None:
    mall.sale(quantity=5)
    assert mall.grab("east-gold", quantity=2).status_code == 201
    nothing = mall.operator[EAST].post("/api/v1/x/seckill/holds/expire")
    assert nothing.json() == {"site": EAST, "holds": 0, "units": 0}
    mall.platform.clock.advance(minutes=15)  # type: ignore[attr-defined]
    swept = mall.operator[EAST].post("/api/v1/x/seckill/holds/expire")
    assert swept.json() == {"site": EAST, "holds": 1, "units": 2}
    assert mall.status()["taken"] == 0
    denied = mall.dealer["east-gold"].post("/api/v1/x/seckill/holds/expire")
    assert (denied.status_code, error_code(denied)) == (403, "permission_denied")


def _order(mall: Mall, dealer: str, quantity: int, key: str | None = None) -> object:
    client = mall.dealer[dealer]
    client.delete("/api/v1/cart")
    line = client.put(f"/api/v1/cart/lines/{FEITIAN}", json={"quantity": quantity})
    assert line.status_code == 200, line.text
    return client.post(
        "/api/v1/cart/checkout", headers={"Idempotency-Key": key or f"{dealer}-{quantity}"}
    )


def test_the_order_converts_the_hold_at_the_special_price(mall: Mall) -> None:
    mall.sale(quantity=5, per_dealer_limit=2)
    assert mall.grab("east-gold").status_code == 201
    client = mall.dealer["east-gold"]
    client.delete("/api/v1/cart")
    cart = client.put(f"/api/v1/cart/lines/{FEITIAN}", json={"quantity": 2}).json()
    entry = {e["campaign"]: e for e in cart["campaigns"]}["FLASH"]
    assert entry["applied"] and entry["reason"] == "Flash FLASH: 1 x FT-500 at 999.00"
    assert cart["discount"] == "500.00" and cart["total"] == "2498.00"  # 999.00 + 1499.00
    placed = client.post("/api/v1/cart/checkout", headers={"Idempotency-Key": "flash-1"})
    assert placed.status_code == 201, placed.text
    number = placed.json()["number"]
    holds = client.get("/api/v1/x/seckill/holds").json()
    assert [(h["status"], h["order_number"]) for h in holds] == [("ordered", number)]
    status = mall.status()
    assert (status["taken"], status["held"], status["ordered"]) == (1, 0, 1)
    # Without a hold the sale explains itself instead.
    other = mall.dealer["east-silver"]
    other.delete("/api/v1/cart")
    priced = other.put(f"/api/v1/cart/lines/{FEITIAN}", json={"quantity": 1}).json()
    skipped = {e["campaign"]: e for e in priced["campaigns"]}["FLASH"]
    assert (skipped["code"], skipped["why"]) == (
        "not_applicable", "grab a unit of FT-500 first to buy it at 999.00"
    )


def test_a_cancelled_order_returns_its_units_and_a_paid_one_keeps_them(mall: Mall) -> None:
    mall.sale(quantity=2, per_dealer_limit=1)
    assert mall.grab("east-gold").status_code == 201
    assert mall.grab("east-silver").status_code == 201
    gold = _order(mall, "east-gold", 1)
    silver = _order(mall, "east-silver", 1)
    assert gold.status_code == silver.status_code == 201  # type: ignore[attr-defined]
    assert error_code(mall.grab("east-bronze")) == "seckill_sold_out"
    credit = mall.factory.admin_client(EAST).put(
        "/api/v1/dealers/D-EAST-GOLD/credit", json={"limit": "50000.00"}
    )
    assert credit.status_code == 200, credit.text
    paid = mall.dealer["east-gold"].post(
        f"/api/v1/orders/{gold.json()['number']}/payment",  # type: ignore[attr-defined]
        json={"method": "credit"},
    )
    cancelled = mall.dealer["east-silver"].post(
        f"/api/v1/orders/{silver.json()['number']}/cancel",  # type: ignore[attr-defined]
        json={"reason": "changed my mind"},
    )
    assert cancelled.status_code == 200, cancelled.text
    relay = Relay(mall.platform)
    try:
        relay.run_once()
        relay.run_once()  # delivered twice: counted back once
    finally:
        relay.close()
    assert paid.status_code == 201, paid.text
    status = mall.status()
    assert (status["taken"], status["ordered"], status["paid"], status["remaining"]) == (1, 0, 1, 1)
    won = mall.grab("east-bronze")
    assert won.status_code == 201, won.text


def test_not_live_and_not_targeted_attempts_are_refused(mall: Mall) -> None:
    mall.sale("DRAFT", publish=False)
    draft = mall.grab("east-gold", "DRAFT")
    assert (draft.status_code, error_code(draft)) == (409, "campaign_not_live")
    assert draft.json()["error"]["details"] == {"state": "draft"}
    unknown = mall.grab("east-gold", "NOPE")
    assert (unknown.status_code, error_code(unknown)) == (404, "seckill_not_found")
    now = mall.platform.clock.now()
    created = mall.operator[EAST].post(
        "/api/v1/campaigns",
        json={
            "code": "GOLD",
            "type": "seckill",
            "name": "Gold only",
            "config": {"sku": FEITIAN, "price": "999.00", "quantity": 5},
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
            "targeting": {"tiers": ["gold"]},
        },
    )
    assert created.status_code == 201, created.text
    mall.operator[EAST].post("/api/v1/campaigns/GOLD/transition", json={"to": "scheduled"})
    silver = mall.grab("east-silver", "GOLD")
    assert (silver.status_code, error_code(silver)) == (403, "campaign_not_targeted")
    assert mall.grab("east-gold", "GOLD").status_code == 201
    mall.platform.clock.advance(hours=1)  # type: ignore[attr-defined]
    ended = mall.grab("east-gold", "GOLD")
    assert (ended.status_code, error_code(ended)) == (409, "campaign_not_live")


def test_enabled_in_east_only_south_never_sees_it(mall: Mall) -> None:
    mall.sale()
    now = mall.platform.clock.now()
    refused = mall.operator[SOUTH].post(
        "/api/v1/campaigns",
        json={
            "code": "FLASH",
            "type": "seckill",
            "name": "south",
            "config": {"sku": FEITIAN, "price": "999.00", "quantity": 5},
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(days=1)).isoformat(),
        },
    )
    assert (refused.status_code, error_code(refused)) == (422, "campaign_type_not_enabled")
    for dealer in ("south-gold", "south-silver"):
        attempt = mall.grab(dealer)
        assert (attempt.status_code, error_code(attempt)) == (404, "plugin_not_enabled")
        assert mall.dealer[dealer].get("/api/v1/campaigns/for-you").json() == []
        assert mall.dealer[dealer].get("/api/v1/x/seckill/holds").status_code == 404
    east = mall.dealer["east-gold"].get("/api/v1/campaigns/for-you").json()
    assert [(item["code"], item["summary"]) for item in east] == [
        ("FLASH", "FT-500 at 999.00: 3 units, 2 per dealer")
    ]


def test_a_site_setting_caps_the_units_of_one_attempt(mall: Mall) -> None:
    mall.sale(quantity=50, per_dealer_limit=20)
    changed = mall.operator[EAST].patch(
        "/api/v1/plugins/seckill/config", json={"max_units_per_attempt": 3}
    )
    assert changed.status_code == 200, changed.text
    big = mall.grab("east-gold", quantity=4)
    assert (big.status_code, error_code(big)) == (422, "quantity_too_large")
    assert big.json()["error"]["field"] == "body.quantity"
    assert mall.grab("east-gold", quantity=3).status_code == 201
    bad = mall.operator[EAST].patch("/api/v1/plugins/seckill/config", json={"hold_minutes": 0})
    assert bad.status_code == 422
