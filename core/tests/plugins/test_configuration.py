"""Plugin configuration down the site tree, read by hooks through ``site.config(name)``.

The ``quota`` plugin (``conftest``) has a settings model whose fields are valid only together
(``min_qty <= max_qty``, a model validator). Tree: hq → east → east-1 (store), and west.
Both backends.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient
from vintry.audit.models import AuditEntry
from vintry.errors import NotFound
from vintry.platform import Platform
from vintry_sdk.testing import VintryFactory

from .conftest import FLAKY, QUOTA, Installed, QuotaSettings

SITES = ("hq", "east", "east-1", "west")
CONFIG = f"/api/v1/plugins/{QUOTA}/config"


@pytest.fixture
def tree(installed: Installed, vintry_factory: VintryFactory) -> dict[str, TestClient]:
    """The tree, and an HQ-admin client addressing each site."""
    vintry_factory.site("east")
    vintry_factory.site("east-1", parent="east")
    vintry_factory.site("west")
    return {code: vintry_factory.admin_client(site=code) for code in SITES}


def patch(client: TestClient, changes: dict[str, Any]) -> dict[str, Any]:
    """PATCH the addressed site's quota configuration; must succeed."""
    response = client.patch(CONFIG, json=changes)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def config(client: TestClient) -> dict[str, Any]:
    """GET the quota configuration in force at the addressed site."""
    response = client.get(CONFIG)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def audit_count(platform: Platform) -> int:
    """Entries in the audit log."""
    with platform.hq.reading() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def test_hq_value_and_region_override_resolve_at_hq_region_and_store(
    tree: dict[str, TestClient], vintry_platform: Platform
) -> None:
    patch(tree["hq"], {"min_qty": 5, "max_qty": 50})
    patch(tree["east"], {"max_qty": 20})

    expected = {
        "hq": QuotaSettings(min_qty=5, max_qty=50),
        "east": QuotaSettings(min_qty=5, max_qty=20),
        "east-1": QuotaSettings(min_qty=5, max_qty=20),
        "west": QuotaSettings(min_qty=5, max_qty=50),
    }
    for code, settings in expected.items():
        in_force = vintry_platform.site(code).config(QUOTA)
        assert isinstance(in_force, QuotaSettings), code
        assert in_force == settings, code

    assert config(tree["east-1"]) == {
        "site": "east-1",
        "values": {"min_qty": 5, "max_qty": 20},
        "decided_by": {"min_qty": "hq", "max_qty": "east"},
        "overrides": {},
    }
    assert config(tree["east"])["overrides"] == {"max_qty": 20}
    assert config(tree["west"])["decided_by"] == {"min_qty": "hq", "max_qty": "hq"}


def test_defaults_are_in_force_where_nobody_configured_anything(
    tree: dict[str, TestClient], vintry_platform: Platform
) -> None:
    assert vintry_platform.site("east-1").config(QUOTA) == QuotaSettings()
    assert config(tree["east-1"])["decided_by"] == {"min_qty": None, "max_qty": None}


def test_handler_reads_the_configuration_of_the_site_it_is_called_for(
    tree: dict[str, TestClient],
    installed: Installed,
    vintry_platform: Platform,
    vintry_factory: VintryFactory,
) -> None:
    vintry_factory.enable_plugin(QUOTA, "hq", config={"min_qty": 2, "max_qty": 40})
    patch(tree["east"], {"max_qty": 10})

    for code in SITES:
        vintry_platform.emit("order.placed", code)

    assert installed.quota.seen == {
        "hq": QuotaSettings(min_qty=2, max_qty=40),
        "east": QuotaSettings(min_qty=2, max_qty=10),
        "east-1": QuotaSettings(min_qty=2, max_qty=10),
        "west": QuotaSettings(min_qty=2, max_qty=40),
    }


def test_clearing_an_override_restores_inheritance(tree: dict[str, TestClient]) -> None:
    patch(tree["hq"], {"max_qty": 50})
    patch(tree["east"], {"max_qty": 20})

    cleared = patch(tree["east"], {"max_qty": None})

    assert cleared["overrides"] == {}
    assert (cleared["values"]["max_qty"], cleared["decided_by"]["max_qty"]) == (50, "hq")
    assert config(tree["east-1"])["values"]["max_qty"] == 50


def test_parent_change_that_breaks_a_descendant_is_refused_and_changes_nothing(
    tree: dict[str, TestClient], vintry_platform: Platform
) -> None:
    patch(tree["hq"], {"max_qty": 50})
    patch(tree["east-1"], {"min_qty": 30})
    before = {code: config(client) for code, client in tree.items()}
    audit_before = audit_count(vintry_platform)

    response = tree["hq"].patch(CONFIG, json={"max_qty": 20})

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_for_descendant"
    assert error["details"]["site"] == "east-1"
    assert "east-1" in error["message"]
    # A model-level rule belongs to no single field: its message names them.
    assert "max_qty (20) is below min_qty (30)" in error["message"]
    assert "max_qty" in error["details"]["errors"][0]["message"]
    assert {code: config(client) for code, client in tree.items()} == before
    assert audit_count(vintry_platform) == audit_before
    assert vintry_platform.site("east-1").config(QUOTA) == QuotaSettings(min_qty=30, max_qty=50)


def test_region_change_checked_against_its_store_but_not_a_sibling(
    tree: dict[str, TestClient],
) -> None:
    patch(tree["east-1"], {"max_qty": 10})

    refused = tree["east"].patch(CONFIG, json={"min_qty": 11})
    assert refused.status_code == 422, refused.text
    assert (refused.json()["error"]["code"], refused.json()["error"]["details"]["site"]) == (
        "invalid_for_descendant", "east-1",
    )
    assert patch(tree["west"], {"min_qty": 11})["values"] == {"min_qty": 11, "max_qty": 100}


def test_change_invalid_at_the_site_itself_names_the_field(tree: dict[str, TestClient]) -> None:
    response = tree["east"].patch(CONFIG, json={"min_qty": -1})

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"], error["details"]["site"]) == (
        "invalid_configuration", "min_qty", "east",
    )


def test_unknown_field_is_refused_and_changes_nothing(
    tree: dict[str, TestClient], vintry_platform: Platform
) -> None:
    audit_before = audit_count(vintry_platform)

    response = tree["east"].patch(CONFIG, json={"max_qty": 5, "maximum": 5})

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("unknown_field", "maximum")
    assert config(tree["east"])["overrides"] == {}
    assert audit_count(vintry_platform) == audit_before


def test_json_schema_of_the_settings_model_is_served(tree: dict[str, TestClient]) -> None:
    response = tree["east"].get(f"/api/v1/plugins/{QUOTA}/schema")

    assert response.status_code == 200, response.text
    schema = response.json()
    assert schema == QuotaSettings.model_json_schema()
    assert schema["properties"]["max_qty"]["default"] == 100
    assert schema["properties"]["min_qty"]["minimum"] == 0


def test_plugin_without_settings_has_no_schema_nor_config(
    tree: dict[str, TestClient], vintry_platform: Platform
) -> None:
    for path in ("schema", "config"):
        response = tree["hq"].get(f"/api/v1/plugins/{FLAKY}/{path}")
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "plugin_has_no_settings"
    with pytest.raises(NotFound):
        vintry_platform.site("hq").config(FLAKY)
