"""Event delivery is isolated per plugin: a raising handler is retried a bounded number of
times, logged and counted, other plugins still get the event, and ``platform.emit`` never
raises to the code whose change the event describes. Both backends.
"""

from __future__ import annotations

import logging

import pytest
from vintry.events.dispatch import MAX_ATTEMPTS
from vintry.platform import Platform
from vintry_sdk.testing import VintryFactory

from .conftest import FLAKY, RECORDER, Installed

BUILTIN = "vintry-events-log"


@pytest.fixture
def both_on_at_hq(installed: Installed, vintry_factory: VintryFactory) -> Installed:
    """The always-raising ``flaky`` and the well-behaved ``recorder``, both on everywhere."""
    vintry_factory.enable_plugin(RECORDER)
    vintry_factory.enable_plugin(FLAKY)  # its own "enablement changed" event already failed
    installed.flaky.attempts = 0
    installed.recorder.calls.clear()
    vintry_factory.platform.plugin_faults.clear()
    return installed


def errors_of(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    """Messages of the error records of *logger*."""
    return [
        r.getMessage() for r in caplog.records if r.name == logger and r.levelno >= logging.ERROR
    ]


def test_raising_handler_is_retried_counted_logged_and_others_still_get_the_event(
    both_on_at_hq: Installed, vintry_platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    order = [i.plugin_name for i in vintry_platform.site("hq").hooks.implementations(
        "vintry_handle_event")]
    assert order.index(FLAKY) < order.index(RECORDER), "the raising handler runs first"
    caplog.set_level(logging.INFO, logger="vintry.events")

    report = vintry_platform.emit("order.placed", "hq", {"order": "SO-1"})

    assert both_on_at_hq.flaky.attempts == MAX_ATTEMPTS
    assert report.failed == {
        FLAKY: f"RuntimeError: flaky handler broke on order.placed (attempt {MAX_ATTEMPTS})"
    }
    assert RECORDER in report.delivered and BUILTIN in report.delivered
    assert FLAKY not in report.delivered
    assert both_on_at_hq.recorder.sites("order.placed") == ["hq"]
    assert vintry_platform.plugin_faults == {FLAKY: 1}
    errors = errors_of(caplog, "vintry.events")
    assert len(errors) == 1
    assert FLAKY in errors[0] and report.event_id in errors[0] and "order.placed" in errors[0]
    assert f"after {MAX_ATTEMPTS} attempts" in errors[0]
    logged = [r for r in caplog.records if r.name == "vintry.events" and r.levelno >= logging.ERROR]
    assert logged[0].exc_info is not None, "the traceback is logged"

    vintry_platform.emit("order.placed", "hq")
    assert vintry_platform.plugin_faults[FLAKY] == 2
    assert both_on_at_hq.flaky.attempts == 2 * MAX_ATTEMPTS
    assert both_on_at_hq.recorder.sites("order.placed") == ["hq", "hq"]


def test_handler_that_recovers_within_the_attempts_is_delivered_without_a_fault(
    both_on_at_hq: Installed, vintry_platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    both_on_at_hq.flaky.failures = MAX_ATTEMPTS - 1

    report = vintry_platform.emit("order.placed", "hq")

    assert both_on_at_hq.flaky.attempts == MAX_ATTEMPTS
    assert FLAKY in report.delivered and report.failed == {}
    assert vintry_platform.plugin_faults[FLAKY] == 0
    assert errors_of(caplog, "vintry.events") == []


def test_a_raising_handler_never_fails_the_change_that_raised_the_event(
    both_on_at_hq: Installed, vintry_factory: VintryFactory, vintry_platform: Platform
) -> None:
    # Creating a site and enabling a plugin there both emit events after they commit.
    vintry_factory.site("east")
    response = vintry_factory.admin_client(site="east").put(
        f"/api/v1/plugins/{RECORDER}/enablement", json={"state": "on"}
    )

    assert response.status_code == 200, response.text
    assert "east" in vintry_platform.directory().nodes
    assert vintry_platform.plugin_faults[FLAKY] == 2
    assert both_on_at_hq.recorder.sites("site.created") == ["east"]
    assert both_on_at_hq.recorder.sites("plugin.enablement_changed") == ["east"]


def test_handler_of_a_plugin_not_enabled_on_the_site_is_never_attempted(
    installed: Installed, vintry_factory: VintryFactory, vintry_platform: Platform
) -> None:
    vintry_factory.site("east")
    vintry_factory.site("west")
    vintry_factory.enable_plugin(FLAKY, "east")
    vintry_platform.plugin_faults.clear()
    installed.flaky.attempts = 0

    report = vintry_platform.emit("order.placed", "west")

    assert installed.flaky.attempts == 0
    assert report.failed == {} and report.delivered == ["vintry-campaigns", BUILTIN]
    assert vintry_platform.plugin_faults == {}


def test_emit_never_raises_even_when_delivery_itself_cannot_start(
    installed: Installed, vintry_platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    report = vintry_platform.emit("order.placed", "no-such-site")

    assert report.delivered == [] and report.failed == {}
    assert any("no-such-site" in message for message in errors_of(caplog, "vintry.platform"))
