"""Inherited site settings end to end: ``PATCH/GET /api/v1/settings`` down hq → region → store.

Covers override, inheritance, clearing with JSON ``null``, the audit entry every accepted
change writes, refusals that change nothing (unknown field, out-of-range value), the JSON
Schema route, and the descendant check: a parent's change that would make a descendant's
merged configuration invalid is refused with ``invalid_for_descendant``. The kernel's
``SiteSettings`` has no cross-field rule, so the descendant check runs with a small model
of our own (``max_amount >= min_amount``), both through the service and through HTTP.
"""

from __future__ import annotations

from typing import Any, Self

import pytest
import vintry.sites.api as sites_api
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from sqlalchemy import func, select
from starlette.testclient import TestClient
from vintry.accounts.principal import Actor
from vintry.audit.models import AuditEntry
from vintry.clock import ManualClock
from vintry.errors import InvalidInput
from vintry.platform import Platform
from vintry.sites.configuration import (
    ConfigNamespace,
    ResolvedConfiguration,
    change_overrides,
    resolve_configuration,
)
from vintry.sites.schemas import SiteSettings
from vintry_sdk.testing import VintryFactory

SETTINGS = "/api/v1/settings"
ACTOR = Actor(name="settings-test")


@pytest.fixture
def tree(vintry_factory: VintryFactory) -> dict[str, TestClient]:
    """hq → east (region) → east-1 (store), plus a sibling region west; a client for each."""
    vintry_factory.site("east")
    vintry_factory.site("east-1", parent="east")
    vintry_factory.site("west")
    return {
        code: vintry_factory.admin_client(site=code) for code in ("hq", "east", "east-1", "west")
    }


def _settings(client: TestClient) -> dict[str, Any]:
    response = client.get(SETTINGS)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _audit(client: TestClient, object_type: str = "site_settings") -> list[dict[str, Any]]:
    response = client.get("/api/v1/audit", params={"object_type": object_type})
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()
    return entries


def _audit_count(platform: Platform) -> int:
    with platform.hq.reading() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


# --- override, inherit, clear -----------------------------------------------------------


def test_hq_value_is_inherited_until_a_region_overrides_it(tree: dict[str, TestClient]) -> None:
    set_at_hq = tree["hq"].patch(SETTINGS, json={"min_order_amount": "5000.00"})
    assert set_at_hq.status_code == 200, set_at_hq.text
    assert set_at_hq.json()["overrides"] == {"min_order_amount": "5000.00"}
    for code in ("hq", "east", "east-1", "west"):
        body = _settings(tree[code])
        assert body["site"] == code
        assert body["values"]["min_order_amount"] == "5000.00", code
        assert body["decided_by"]["min_order_amount"] == "hq", code

    overridden = tree["east"].patch(SETTINGS, json={"min_order_amount": "3000.00"})
    assert overridden.status_code == 200, overridden.text

    hq, east, store, west = (_settings(tree[c]) for c in ("hq", "east", "east-1", "west"))
    assert (hq["values"]["min_order_amount"], hq["decided_by"]["min_order_amount"]) == (
        "5000.00",
        "hq",
    )
    assert (east["values"]["min_order_amount"], east["decided_by"]["min_order_amount"]) == (
        "3000.00",
        "east",
    )
    assert east["overrides"] == {"min_order_amount": "3000.00"}
    assert (store["values"]["min_order_amount"], store["decided_by"]["min_order_amount"]) == (
        "3000.00",
        "east",
    )
    assert store["overrides"] == {}
    assert west["values"]["min_order_amount"] == "5000.00"


def test_clearing_with_null_restores_hq_value_at_region_and_store(
    tree: dict[str, TestClient],
) -> None:
    tree["hq"].patch(SETTINGS, json={"min_order_amount": "5000.00"})
    tree["east"].patch(SETTINGS, json={"min_order_amount": "3000.00", "locale": "en-US"})

    cleared = tree["east"].patch(SETTINGS, json={"min_order_amount": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["overrides"] == {"locale": "en-US"}

    for code in ("east", "east-1"):
        body = _settings(tree[code])
        assert body["values"]["min_order_amount"] == "5000.00", code
        assert body["decided_by"]["min_order_amount"] == "hq", code
        assert body["decided_by"]["locale"] == "east", code


def test_fields_nobody_set_show_the_model_default_decided_by_nobody(
    tree: dict[str, TestClient],
) -> None:
    body = _settings(tree["east-1"])
    assert body["values"] == SiteSettings().model_dump(mode="json")
    assert set(body["decided_by"].values()) == {None}
    assert body["overrides"] == {}


def test_store_can_override_what_its_region_set(tree: dict[str, TestClient]) -> None:
    tree["east"].patch(SETTINGS, json={"reservation_minutes": 60})
    tree["east-1"].patch(SETTINGS, json={"reservation_minutes": 15})

    assert _settings(tree["east"])["values"]["reservation_minutes"] == 60
    store = _settings(tree["east-1"])
    assert store["values"]["reservation_minutes"] == 15
    assert store["decided_by"]["reservation_minutes"] == "east-1"


# --- audit --------------------------------------------------------------------------------


def test_every_accepted_change_writes_one_audit_entry_with_before_and_after(
    tree: dict[str, TestClient],
) -> None:
    hq = tree["hq"]
    assert _audit(hq) == []

    tree["east"].patch(SETTINGS, json={"min_order_amount": "3000.00"})
    tree["east"].patch(SETTINGS, json={"min_order_amount": "2500.00", "locale": "en-US"})
    tree["east"].patch(SETTINGS, json={"min_order_amount": None, "locale": None})

    newest_first = _audit(hq)
    assert [entry["site"] for entry in newest_first] == ["east"] * 3
    assert {entry["action"] for entry in newest_first} == {"site_settings.update"}
    assert {entry["actor"] for entry in newest_first} == {"admin"}
    assert [(entry["before"], entry["after"]) for entry in reversed(newest_first)] == [
        (None, {"min_order_amount": "3000.00"}),
        ({"min_order_amount": "3000.00"}, {"min_order_amount": "2500.00", "locale": "en-US"}),
        ({"min_order_amount": "2500.00", "locale": "en-US"}, None),
    ]
    assert all(entry["request_id"] for entry in newest_first)


def test_a_patch_that_changes_nothing_writes_no_audit_entry(
    tree: dict[str, TestClient], vintry_platform: Platform
) -> None:
    tree["east"].patch(SETTINGS, json={"min_order_amount": "3000.00"})
    count = _audit_count(vintry_platform)

    same = tree["east"].patch(SETTINGS, json={"min_order_amount": "3000.00"})
    clear_unset = tree["east"].patch(SETTINGS, json={"announcement": None})

    assert same.status_code == clear_unset.status_code == 200
    assert _audit_count(vintry_platform) == count


def test_audit_entry_timestamps_follow_the_platform_clock(
    tree: dict[str, TestClient], vintry_clock: ManualClock
) -> None:
    moved_to = vintry_clock.advance(hours=5)
    tree["east"].patch(SETTINGS, json={"locale": "en-US"})
    assert _audit(tree["hq"])[0]["at"] == moved_to.isoformat().replace("+00:00", "Z")


# --- refusals that change nothing -----------------------------------------------------------


@pytest.mark.parametrize(
    ("patch", "status", "code", "field"),
    [
        ({"no_such_setting": 1}, 422, "unknown_field", "no_such_setting"),
        ({"min_order_amount": "1.00", "no_such_setting": None}, 422, "unknown_field",
         "no_such_setting"),
        ({"reservation_minutes": 0}, 422, "invalid_configuration", "reservation_minutes"),
        ({"reservation_minutes": 1441}, 422, "invalid_configuration", "reservation_minutes"),
        ({"min_order_amount": "-1"}, 422, "invalid_configuration", "min_order_amount"),
        ({"min_order_amount": "12.345"}, 422, "invalid_configuration", "min_order_amount"),
        ({"locale": "chinese"}, 422, "invalid_configuration", "locale"),
    ],
)
def test_invalid_patch_is_refused_naming_the_field_and_changes_nothing(
    tree: dict[str, TestClient],
    vintry_platform: Platform,
    patch: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    tree["hq"].patch(SETTINGS, json={"min_order_amount": "5000.00"})
    before = {site: _settings(client) for site, client in tree.items()}
    audit_before = _audit_count(vintry_platform)

    response = tree["east"].patch(SETTINGS, json=patch)

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert {site: _settings(client) for site, client in tree.items()} == before
    assert _audit_count(vintry_platform) == audit_before


def test_a_body_that_is_not_an_object_is_refused(tree: dict[str, TestClient]) -> None:
    response = tree["hq"].patch(SETTINGS, json=["min_order_amount"])
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed"


def test_settings_schema_is_the_json_schema_of_site_settings(tree: dict[str, TestClient]) -> None:
    response = tree["east-1"].get(f"{SETTINGS}/schema")
    assert response.status_code == 200
    schema = response.json()
    assert schema == SiteSettings.model_json_schema()
    assert schema["type"] == "object"
    assert {"min_order_amount", "reservation_minutes", "locale"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


# --- the descendant check, with a cross-field model of our own -----------------------------


class PriceBand(BaseModel):
    """A test model whose fields are valid only together: ``max_amount >= min_amount``."""

    model_config = ConfigDict(extra="forbid")

    min_amount: int = Field(default=0, ge=0)
    max_amount: int = Field(default=1000, ge=0)

    @field_validator("max_amount")
    @classmethod
    def _max_not_below_min(cls, value: int, info: ValidationInfo) -> int:
        minimum = info.data.get("min_amount")
        if minimum is not None and value < minimum:
            raise ValueError(f"max_amount {value} is below min_amount {minimum}")
        return value


class WholeBand(BaseModel):
    """The same rule as a model validator (the error then belongs to no single field)."""

    min_amount: int = 0
    max_amount: int = 1000

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_amount < self.min_amount:
            raise ValueError("max_amount must not be below min_amount")
        return self


BAND = ConfigNamespace(name="test:price-band", model=PriceBand, object_type="price_band")
WHOLE_BAND = ConfigNamespace(name="test:whole-band", model=WholeBand, object_type="whole_band")


def _snapshot(platform: Platform, namespace: ConfigNamespace) -> dict[str, ResolvedConfiguration]:
    return {
        code: resolve_configuration(platform, namespace, code)
        for code in ("hq", "east", "east-1", "west")
    }


def test_parent_change_that_breaks_a_descendant_is_refused_naming_site_and_field(
    tree: dict[str, TestClient], vintry_platform: Platform
) -> None:
    change_overrides(vintry_platform, BAND, "hq", set_fields={"min_amount": 100}, actor=ACTOR)
    change_overrides(vintry_platform, BAND, "east-1", set_fields={"max_amount": 200}, actor=ACTOR)
    before, audit_before = _snapshot(vintry_platform, BAND), _audit_count(vintry_platform)

    with pytest.raises(InvalidInput) as raised:
        change_overrides(vintry_platform, BAND, "hq", set_fields={"min_amount": 500}, actor=ACTOR)

    error = raised.value
    assert error.code == "invalid_for_descendant"
    assert error.details["site"] == "east-1"
    assert error.field == "max_amount"
    assert "east-1" in error.message
    assert error.details["errors"][0]["field"] == "max_amount"
    assert _snapshot(vintry_platform, BAND) == before
    assert _audit_count(vintry_platform) == audit_before


def test_region_change_is_checked_against_its_stores(
    tree: dict[str, TestClient], vintry_platform: Platform
) -> None:
    change_overrides(vintry_platform, BAND, "east-1", set_fields={"max_amount": 50}, actor=ACTOR)

    with pytest.raises(InvalidInput) as raised:
        change_overrides(vintry_platform, BAND, "east", set_fields={"min_amount": 60}, actor=ACTOR)
    assert (raised.value.code, raised.value.details["site"]) == ("invalid_for_descendant", "east-1")

    # The sibling region has no such store: the same change is fine there.
    accepted = change_overrides(
        vintry_platform, BAND, "west", set_fields={"min_amount": 60}, actor=ACTOR
    )
    assert accepted.values == {"min_amount": 60, "max_amount": 1000}
    assert accepted.decided_by == {"min_amount": "west", "max_amount": None}


def test_clearing_a_parent_override_that_a_descendant_relies_on_is_refused(
    tree: dict[str, TestClient], vintry_platform: Platform
) -> None:
    change_overrides(vintry_platform, BAND, "hq", set_fields={"max_amount": 5000}, actor=ACTOR)
    change_overrides(vintry_platform, BAND, "east", set_fields={"min_amount": 3000}, actor=ACTOR)
    before = _snapshot(vintry_platform, BAND)

    with pytest.raises(InvalidInput) as raised:
        change_overrides(vintry_platform, BAND, "hq", clear_fields=["max_amount"], actor=ACTOR)

    assert raised.value.code == "invalid_for_descendant"
    assert raised.value.details["site"] == "east"  # the first site that breaks, depth first
    assert _snapshot(vintry_platform, BAND) == before


def test_change_that_is_invalid_at_the_site_itself_is_invalid_configuration(
    tree: dict[str, TestClient], vintry_platform: Platform
) -> None:
    with pytest.raises(InvalidInput) as raised:
        change_overrides(
            vintry_platform, BAND, "east", set_fields={"min_amount": 10, "max_amount": 5},
            actor=ACTOR,
        )
    assert (raised.value.code, raised.value.field) == ("invalid_configuration", "max_amount")
    assert raised.value.details["site"] == "east"


def test_model_level_rule_is_also_enforced_for_descendants(
    tree: dict[str, TestClient], vintry_platform: Platform
) -> None:
    change_overrides(vintry_platform, WHOLE_BAND, "east-1", set_fields={"max_amount": 10},
                     actor=ACTOR)
    before = _snapshot(vintry_platform, WHOLE_BAND)

    with pytest.raises(InvalidInput) as raised:
        change_overrides(vintry_platform, WHOLE_BAND, "hq", set_fields={"min_amount": 20},
                         actor=ACTOR)

    assert raised.value.code == "invalid_for_descendant"
    assert raised.value.details["site"] == "east-1"
    assert "below min_amount" in raised.value.details["errors"][0]["message"]
    assert _snapshot(vintry_platform, WHOLE_BAND) == before


def test_descendant_check_over_http_is_422_and_changes_nothing(
    tree: dict[str, TestClient], vintry_platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Serve the /settings routes from the cross-field namespace instead of SiteSettings.
    monkeypatch.setattr(sites_api, "SITE_SETTINGS", BAND)
    assert tree["hq"].patch(SETTINGS, json={"min_amount": 100}).status_code == 200
    assert tree["east-1"].patch(SETTINGS, json={"max_amount": 200}).status_code == 200
    before = {code: _settings(client) for code, client in tree.items()}
    audit_before = _audit(tree["hq"], "price_band")

    response = tree["hq"].patch(SETTINGS, json={"min_amount": 500})

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_for_descendant"
    assert error["field"] == "max_amount"
    assert error["details"]["site"] == "east-1"
    assert {code: _settings(client) for code, client in tree.items()} == before
    assert _audit(tree["hq"], "price_band") == audit_before
    assert len(audit_before) == 2
