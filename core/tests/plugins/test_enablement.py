"""Per-site enablement: a hook called for a site reaches only the plugins enabled there.

The tree::

    hq (hq)
    ├── east (region)
    │   └── east-1 (store)
    └── west (region)

The ``recorder`` plugin (``conftest``) records the site and the greeting in force there for
every event it receives. Enablement is changed through the API, as operators do; delivery is
checked through ``platform.emit`` and through ``site.hooks``. Both run on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient
from vintry.accounts.models import Role
from vintry.audit.models import AuditEntry
from vintry.clock import ManualClock
from vintry.platform import Platform
from vintry.plugins import PluginHost
from vintry_sdk import Event
from vintry_sdk.testing import VintryFactory

from .conftest import RECORDER, Installed, Recorder

BUILTIN = "vintry-events-log"
SITES = ("hq", "east", "east-1", "west")
ENABLEMENT = f"/api/v1/plugins/{RECORDER}/enablement"
CONFIG = f"/api/v1/plugins/{RECORDER}/config"


@pytest.fixture
def tree(installed: Installed, vintry_factory: VintryFactory) -> dict[str, TestClient]:
    """The tree above, and an HQ-admin client addressing each site."""
    vintry_factory.site("east")
    vintry_factory.site("east-1", parent="east")
    vintry_factory.site("west")
    return {code: vintry_factory.admin_client(site=code) for code in SITES}


def put_enablement(client: TestClient, state: str, *, required: bool = False) -> dict[str, Any]:
    """PUT the addressed site's own enablement of the recorder; must succeed."""
    response = client.put(ENABLEMENT, json={"state": state, "required": required})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def enablement(client: TestClient) -> dict[str, Any]:
    """The recorder's enablement at the addressed site."""
    response = client.get(ENABLEMENT)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def reached(platform: Platform, recorder: Recorder, event_type: str = "order.placed") -> list[str]:
    """Emit *event_type* on every site; the codes whose event reached the recorder."""
    for code in SITES:
        platform.emit(event_type, code)
    return recorder.sites(event_type)


def audit_count(platform: Platform) -> int:
    """Entries in the audit log."""
    with platform.hq.reading() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


# --- who receives what -------------------------------------------------------------------


def test_plugin_on_in_one_region_reaches_that_region_and_its_store_only(
    tree: dict[str, TestClient], installed: Installed, vintry_platform: Platform
) -> None:
    body = put_enablement(tree["east"], "on")
    assert (body["enabled"], body["decided_by"]) == (True, "east")

    assert reached(vintry_platform, installed.recorder) == ["east", "east-1"]
    assert ("east", "hello", "order.placed") in installed.recorder.calls

    east, west = vintry_platform.emit("ping", "east"), vintry_platform.emit("ping", "west")
    assert RECORDER in east.delivered and RECORDER not in west.delivered
    assert BUILTIN in east.delivered and BUILTIN in west.delivered
    assert vintry_platform.site("east-1").is_enabled(RECORDER)
    assert not vintry_platform.site("west").is_enabled(RECORDER)


def test_site_hooks_reach_only_the_plugins_enabled_on_the_site(
    tree: dict[str, TestClient], installed: Installed, vintry_platform: Platform
) -> None:
    put_enablement(tree["east"], "on")
    event = Event(id="direct", type="direct.call", site="west",
                  occurred_at=datetime(2026, 1, 1, tzinfo=UTC))

    for code in ("west", "east"):
        site = vintry_platform.site(code)
        site.hooks.vintry_handle_event(event=event.model_copy(update={"site": code}), site=site)

    assert installed.recorder.sites("direct.call") == ["east"]


def test_inherit_at_the_root_means_off(
    tree: dict[str, TestClient], installed: Installed, vintry_platform: Platform
) -> None:
    for code in SITES:
        assert enablement(tree[code]) == {
            "plugin": RECORDER, "site": code, "state": "inherit", "required": False,
            "enabled": False, "decided_by": None,
        }
    put_enablement(tree["hq"], "inherit")  # saying so explicitly changes nothing

    assert reached(vintry_platform, installed.recorder) == []
    assert all(not vintry_platform.site(code).is_enabled(RECORDER) for code in SITES)


def test_hq_on_is_every_site_default_and_a_region_off_narrows_it(
    tree: dict[str, TestClient], installed: Installed, vintry_platform: Platform
) -> None:
    put_enablement(tree["hq"], "on")
    put_enablement(tree["east"], "off")

    assert reached(vintry_platform, installed.recorder) == ["hq", "west"]
    assert enablement(tree["east-1"])["decided_by"] == "east"
    assert enablement(tree["west"])["decided_by"] == "hq"


def test_hq_required_forces_the_plugin_on_and_a_region_cannot_turn_it_off(
    tree: dict[str, TestClient],
    installed: Installed,
    vintry_platform: Platform,
    vintry_factory: VintryFactory,
) -> None:
    put_enablement(tree["east"], "off")
    body = put_enablement(tree["hq"], "on", required=True)
    assert (body["required"], body["enabled"]) == (True, True)

    east = enablement(tree["east"])
    assert (east["state"], east["enabled"], east["decided_by"]) == ("off", True, "hq")
    assert reached(vintry_platform, installed.recorder) == list(SITES)

    operator = vintry_factory.client_for(Role.SITE_OPERATOR, "east")
    before = audit_count(vintry_platform)
    for client in (operator, tree["east"], tree["east-1"]):
        refused = client.put(ENABLEMENT, json={"state": "off"})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "plugin_required"
        assert "required by 'hq'" in refused.json()["error"]["message"]
    assert audit_count(vintry_platform) == before
    assert enablement(tree["east-1"])["enabled"] is True


def test_only_hq_admin_at_hq_may_mark_a_plugin_required(
    tree: dict[str, TestClient], vintry_factory: VintryFactory, vintry_platform: Platform
) -> None:
    hq_operator = vintry_factory.client_for(Role.SITE_OPERATOR, "hq")
    east_operator = vintry_factory.client_for(Role.SITE_OPERATOR, "east")
    before = audit_count(vintry_platform)

    for client in (hq_operator, east_operator, tree["east"]):
        refused = client.put(ENABLEMENT, json={"state": "on", "required": True})
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "required_is_hq_only"

    assert audit_count(vintry_platform) == before
    assert enablement(tree["hq"])["required"] is False
    assert enablement(tree["east"])["state"] == "inherit"
    # The operator may still turn it on for its own site; only `required` is HQ's.
    assert east_operator.put(ENABLEMENT, json={"state": "on"}).status_code == 200


def test_a_change_reaches_another_worker_on_its_next_call_without_restart(
    tree: dict[str, TestClient],
    installed: Installed,
    vintry_platform: Platform,
    vintry_clock: ManualClock,
) -> None:
    # A second Platform on the same databases is another worker process: its own caches,
    # its own plugin host loaded from the same installation.
    other_recorder = Recorder()
    worker = Platform(vintry_platform.settings, clock=vintry_clock,
                      plugins=PluginHost(allow=vintry_platform.settings.load_plugins))
    try:
        assert worker.plugins.register(RECORDER, other_recorder).status == "loaded"
        worker.emit("order.placed", "east")  # warm its caches while the plugin is off
        assert other_recorder.calls == []

        put_enablement(tree["east"], "on")
        worker.emit("order.placed", "east")
        assert other_recorder.calls == [("east", "hello", "order.placed")]
        # (the change's own "plugin.enablement_changed" went to the first worker's plugin)

        response = tree["east"].patch(CONFIG, json={"greeting": "ni hao"})
        assert response.status_code == 200, response.text
        worker.emit("order.placed", "east-1")
        assert other_recorder.calls[-1] == ("east-1", "ni hao", "order.placed")

        put_enablement(tree["east"], "off")
        before = len(other_recorder.calls)
        report = worker.emit("order.placed", "east")
        assert len(other_recorder.calls) == before
        assert RECORDER not in report.delivered
        assert not worker.site("east-1").is_enabled(RECORDER)
        assert RECORDER not in vintry_platform.emit("order.placed", "east").delivered
    finally:
        worker.close()


# --- audit ---------------------------------------------------------------------------------


def test_every_enablement_and_configuration_change_is_audited_with_before_and_after(
    tree: dict[str, TestClient],
) -> None:
    put_enablement(tree["east"], "on")
    put_enablement(tree["east"], "on")  # no change, no entry
    put_enablement(tree["east-1"], "off")
    put_enablement(tree["hq"], "on", required=True)
    assert tree["east"].patch(CONFIG, json={"greeting": "hi"}).status_code == 200
    assert tree["east"].patch(CONFIG, json={"greeting": None}).status_code == 200

    def entries(object_type: str) -> list[tuple[Any, ...]]:
        response = tree["hq"].get("/api/v1/audit", params={"object_type": object_type})
        assert response.status_code == 200, response.text
        return [
            (e["site"], e["actor"], e["action"], e["object_id"], e["before"], e["after"])
            for e in reversed(response.json())
        ]

    inherit = {"state": "inherit", "required": False}
    assert entries("plugin") == [
        ("east", "admin", "plugin.enablement", RECORDER, inherit,
         {"state": "on", "required": False}),
        ("east-1", "admin", "plugin.enablement", RECORDER, inherit,
         {"state": "off", "required": False}),
        ("hq", "admin", "plugin.enablement", RECORDER, inherit, {"state": "on", "required": True}),
    ]
    assert entries("plugin_config") == [
        ("east", "admin", "plugin_config.update", f"plugin:{RECORDER}", None, {"greeting": "hi"}),
        ("east", "admin", "plugin_config.update", f"plugin:{RECORDER}", {"greeting": "hi"}, None),
    ]


# --- built-ins and the SDK harness ---------------------------------------------------------


def test_builtin_events_log_is_always_enabled_and_cannot_be_turned_off(
    tree: dict[str, TestClient], vintry_platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    for code in SITES:
        assert BUILTIN in vintry_platform.site(code).enabled_plugins

    response = tree["east"].put(f"/api/v1/plugins/{BUILTIN}/enablement", json={"state": "off"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "plugin_builtin"
    assert tree["west"].get(f"/api/v1/plugins/{BUILTIN}/enablement").json()["enabled"] is True

    caplog.set_level(logging.INFO, logger="vintry.events")
    report = vintry_platform.emit("order.placed", "west", {"order": "SO-1"})
    assert report.delivered == ["vintry-campaigns", BUILTIN]
    assert any(
        record.name == "vintry.events" and report.event_id in record.getMessage()
        and "west" in record.getMessage()
        for record in caplog.records
    )


def test_factory_enable_plugin_returns_the_site_as_hooks_see_it(
    tree: dict[str, TestClient], vintry_factory: VintryFactory
) -> None:
    site = vintry_factory.enable_plugin(RECORDER, "east", config={"greeting": "yo"})

    assert site.code == "east" and site.is_enabled(RECORDER)
    assert site.config(RECORDER).model_dump() == {"greeting": "yo"}
    assert enablement(tree["east-1"])["enabled"] is True


def test_a_site_enabled_set_is_kept_until_the_tree_the_state_or_the_plugins_move(
    tree: dict[str, TestClient], vintry_platform: Platform
) -> None:
    first = vintry_platform.site("east").enabled_plugins
    assert vintry_platform.site("east").enabled_plugins is first  # worked out once
    assert RECORDER not in first

    put_enablement(tree["east"], "on")  # the plugin state moves
    assert RECORDER in vintry_platform.site("east").enabled_plugins

    class LateBuiltin:
        """A built-in registered after the sets were worked out (always enabled)."""

    record = vintry_platform.plugins.register("late-builtin", LateBuiltin(), builtin=True)
    assert record.status == "loaded"
    assert "late-builtin" in vintry_platform.site("east").enabled_plugins
    assert "late-builtin" in vintry_platform.site("west").enabled_plugins
