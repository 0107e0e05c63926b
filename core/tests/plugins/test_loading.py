"""Loading plugins: each is validated on its own, a bad one is refused by name with its
reason (in ``host.failed()`` and the ``vintry.plugins`` log), and the good ones loaded beside
it work. Also the ``VINTRY_LOAD_PLUGINS`` allow-list, idempotent loading and the built-in.

These tests build their own :class:`PluginHost` from fake entry points (see ``conftest``);
nothing here needs a database.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest
from vintry.platform import Platform
from vintry.plugins import BUILTIN_PLUGINS, PluginHost, PluginRecord, installed_sdk_version
from vintry.settings import VintrySettings
from vintry_sdk import Event, hookimpl

from .conftest import GOOD_PLUGIN, SDK_RANGE, FakeInstall, module_attr

EVENT = Event(id="e-1", type="test.ping", site="hq", occurred_at=datetime(2026, 1, 1, tzinfo=UTC))
# Hooks pass ``site`` through; the host needs no real one (the built-in logs its code).
SITE = SimpleNamespace(code="hq")
BUILTIN = "vintry-events-log"
BUILTINS = sorted(name for name, _module in BUILTIN_PLUGINS)  # every built-in, by name


@dataclass(frozen=True)
class BadPlugin:
    """One way a plugin can be broken, and the reason the host must give."""

    name: str
    source: str
    reason: str
    requires: tuple[str, ...] = (SDK_RANGE,)
    import_skipped: bool = False


BAD_PLUGINS = [
    BadPlugin(
        "misspelled",
        """
        from vintry_sdk import hookimpl

        @hookimpl
        def vintry_regster_settings(register):
            pass
        """,
        "unknown hook 'vintry_regster_settings' (did you mean 'vintry_register_settings'?)",
    ),
    BadPlugin(
        "wrong-argument",
        """
        from vintry_sdk import hookimpl

        @hookimpl
        def vintry_handle_event(evnt, site):
            pass
        """,
        "invalid hook implementation",
    ),
    BadPlugin(
        "unmarked",
        """
        from vintry_sdk import hookimpl

        @hookimpl
        def vintry_register_settings(register):
            pass

        def vintry_handle_event(event, site):
            pass
        """,
        "'vintry_handle_event' is not marked @hookimpl",
    ),
    BadPlugin(
        "import-fails",
        """
        raise RuntimeError("no licence key configured")
        """,
        "import failed: RuntimeError: no licence key configured",
    ),
    BadPlugin(
        "future-sdk",
        """
        raise AssertionError("a plugin for an incompatible SDK must not even be imported")
        """,
        f"built for vintry-sdk>=9, but this platform has vintry-sdk {installed_sdk_version()}",
        requires=("vintry-sdk>=9",),
        import_skipped=True,
    ),
    BadPlugin(
        "no-sdk",
        """
        raise AssertionError("a plugin that does not depend on the SDK must not be imported")
        """,
        "vintry-no-sdk declares no vintry-sdk requirement",
        requires=("httpx>=0.27",),
        import_skipped=True,
    ),
    BadPlugin(
        "no-default",
        """
        from pydantic import BaseModel
        from vintry_sdk import hookimpl

        class NoDefaultSettings(BaseModel):
            api_key: str
            region: str = "cn"

        @hookimpl
        def vintry_register_settings(register):
            register(NoDefaultSettings)
        """,
        "settings model NoDefaultSettings has fields without defaults: api_key",
    ),
    BadPlugin(
        "register-raises",
        """
        from vintry_sdk import hookimpl

        @hookimpl
        def vintry_register_routes(register):
            raise ValueError("router misconfigured")
        """,
        "vintry_register_routes raised ValueError: router misconfigured",
    ),
]


def failed_record(host: PluginHost, name: str) -> PluginRecord:
    """The one failed record of *name*."""
    records = [record for record in host.failed() if record.name == name]
    assert len(records) == 1, f"{name}: {records}"
    return records[0]


def assert_logged(caplog: pytest.LogCaptureFixture, name: str, reason: str) -> None:
    """The ``vintry.plugins`` log has an error naming *name* with *reason*."""
    messages = [
        record.getMessage()
        for record in caplog.records
        if record.name == "vintry.plugins" and record.levelno >= logging.ERROR
    ]
    assert any(name in message and reason in message for message in messages), messages


def assert_good_plugin_works(host: PluginHost, good_module: str) -> None:
    """The good plugin loaded, contributed its settings, and its handler is called."""
    good = host.get("good")
    assert good is not None and good.status == "loaded" and good.error is None
    assert good.hooks == ["vintry_handle_event", "vintry_register_settings"]
    assert good.settings_model is not None and good.settings_model().model_dump() == {"level": 3}
    everyone = frozenset(record.name for record in host.records.values())
    callers = [impl.plugin_name for impl in host.hooks_for(everyone).implementations(
        "vintry_handle_event")]
    # no refused plugin is ever called; the built-ins that handle events are
    assert sorted(callers) == ["good", "vintry-campaigns", BUILTIN]
    host.hooks_for(everyone).vintry_handle_event(event=EVENT, site=SITE)
    assert module_attr(good_module, "calls") == [(EVENT, SITE)]


@pytest.fixture(autouse=True)
def _capture_plugin_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="vintry.plugins")


# --- each kind of broken plugin ----------------------------------------------------------


@pytest.mark.parametrize("bad", BAD_PLUGINS, ids=[bad.name for bad in BAD_PLUGINS])
def test_broken_plugin_is_refused_by_name_and_the_good_one_works(
    bad: BadPlugin, fake_install: FakeInstall, caplog: pytest.LogCaptureFixture
) -> None:
    good = fake_install.plugin("good", GOOD_PLUGIN)
    broken = fake_install.plugin(bad.name, bad.source, requires=bad.requires)
    host = PluginHost(entry_points=lambda: [broken, good]).load()

    record = failed_record(host, bad.name)
    assert bad.reason in (record.error or "")
    assert record.distribution == f"vintry-{bad.name}"
    assert record.version == "1.0.0"
    assert host.get(bad.name) is None
    assert host.manager.get_plugin(bad.name) is None, "a refused plugin stays unregistered"
    if bad.import_skipped:
        assert broken.value not in sys.modules
    assert_logged(caplog, bad.name, bad.reason)
    assert_good_plugin_works(host, good.value)


def test_all_broken_plugins_at_once_leave_the_good_one_working(
    fake_install: FakeInstall, caplog: pytest.LogCaptureFixture
) -> None:
    good = fake_install.plugin("good", GOOD_PLUGIN)
    broken = [fake_install.plugin(b.name, b.source, requires=b.requires) for b in BAD_PLUGINS]
    host = PluginHost(entry_points=lambda: [*broken, good]).load()

    assert {r.name: r.error for r in host.failed()}.keys() == {b.name for b in BAD_PLUGINS}
    for bad in BAD_PLUGINS:
        assert bad.reason in (failed_record(host, bad.name).error or "")
        assert_logged(caplog, bad.name, bad.reason)
    assert [r.name for r in host.loaded() if not r.builtin] == ["good"]
    assert BUILTIN in {r.name for r in host.loaded() if r.builtin}
    assert_good_plugin_works(host, good.value)


def test_unknown_hook_far_from_any_real_one_gets_no_hint(fake_install: FakeInstall) -> None:
    odd = fake_install.plugin(
        "odd",
        """
        from vintry_sdk import hookimpl

        @hookimpl
        def vintry_frobnicate_everything(register):
            pass
        """,
    )
    host = PluginHost(entry_points=lambda: [odd]).load()
    assert failed_record(host, "odd").error == "unknown hook 'vintry_frobnicate_everything'"


def test_duplicate_name_is_refused_and_the_first_distribution_keeps_it(
    fake_install: FakeInstall, caplog: pytest.LogCaptureFixture
) -> None:
    first_module = fake_install.module("twin_a", GOOD_PLUGIN)
    second_module = fake_install.module("twin_b", GOOD_PLUGIN)
    first = fake_install.entry_point(
        "twin", first_module, fake_install.distribution("vintry-twin-a", "1.0.0")
    )
    second = fake_install.entry_point(
        "twin", second_module, fake_install.distribution("vintry-twin-b", "2.0.0")
    )
    host = PluginHost(entry_points=lambda: [first, second]).load()

    kept = host.get("twin")
    assert kept is not None and (kept.distribution, kept.version) == ("vintry-twin-a", "1.0.0")
    refused = failed_record(host, "twin")
    assert (refused.distribution, refused.version) == ("vintry-twin-b", "2.0.0")
    assert refused.error == "the name 'twin' is already taken by vintry-twin-a"
    assert second_module not in sys.modules
    assert_logged(caplog, "twin", "already taken by vintry-twin-a")
    impls = host.manager.hook.vintry_handle_event.get_hookimpls()
    assert [impl.plugin_name for impl in impls].count("twin") == 1


def test_a_plugin_cannot_take_a_builtin_name(fake_install: FakeInstall) -> None:
    impostor = fake_install.plugin(BUILTIN, GOOD_PLUGIN)
    host = PluginHost(entry_points=lambda: [impostor]).load()

    reason = f"the name {BUILTIN!r} is already taken by a built-in"
    assert failed_record(host, BUILTIN).error == reason
    builtin = host.get(BUILTIN)
    assert builtin is not None and builtin.builtin and builtin.module == "vintry.builtin.events_log"


def test_sdk_requirement_with_an_environment_marker_counts(fake_install: FakeInstall) -> None:
    marked = fake_install.plugin(
        "marked", GOOD_PLUGIN, requires=(f'{SDK_RANGE}; python_version >= "3.11"',)
    )
    only_for_tests = fake_install.plugin(
        "extra-only", GOOD_PLUGIN, requires=('vintry-sdk>=0.1; extra == "test"',)
    )
    host = PluginHost(entry_points=lambda: [marked, only_for_tests]).load()

    loaded = host.get("marked")
    assert loaded is not None, host.records["marked"].error
    assert loaded.sdk_requirement == "<0.2,>=0.1"
    assert failed_record(host, "extra-only").error == (
        "vintry-extra-only declares no vintry-sdk requirement"
    )


def test_installed_plugin_record_carries_distribution_version_and_sdk_range(
    fake_install: FakeInstall,
) -> None:
    good = fake_install.plugin("good", GOOD_PLUGIN, version="1.4.2")
    host = PluginHost(entry_points=lambda: [good]).load()

    record = host.get("good")
    assert record is not None
    assert (record.distribution, record.version, record.module) == (
        "vintry-good", "1.4.2", good.value,
    )
    assert record.sdk_requirement == "<0.2,>=0.1"
    assert not record.builtin


# --- in-process plugins are validated the same way --------------------------------------


class Typo:
    """A plugin object with a misspelled hook."""

    @hookimpl
    def vintry_handle_evnt(self, event: Event, site: object) -> None:
        """Never called."""


class Listener:
    """A well-formed plugin object that records the events it gets."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def vintry_handle_event(self, event: Event, site: object) -> None:
        """Record *event*."""
        self.events.append(event)


def test_in_process_plugin_is_validated_and_its_refusal_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    host = PluginHost(entry_points=lambda: [])
    record = host.register("typo", Typo())

    reason = "unknown hook 'vintry_handle_evnt' (did you mean 'vintry_handle_event'?)"
    assert (record.status, record.error) == ("failed", reason)
    assert failed_record(host, "typo") is record
    assert host.get("typo") is None
    assert_logged(caplog, "typo", reason)


def test_registering_a_taken_name_keeps_the_plugin_that_has_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    host = PluginHost(entry_points=lambda: [])
    first, second = Listener(), Listener()
    assert host.register("listener", first).status == "loaded"

    refused = host.register("listener", second)

    assert refused.status == "failed" and "already taken" in (refused.error or "")
    assert_logged(caplog, "listener", "already taken")
    kept = host.get("listener")
    assert kept is not None and kept.status == "loaded"
    host.hooks_for(frozenset({"listener"})).vintry_handle_event(event=EVENT, site=SITE)
    assert (first.events, second.events) == ([EVENT], [])


def test_registering_the_same_plugin_twice_registers_it_once() -> None:
    host = PluginHost(entry_points=lambda: [])
    listener = Listener()

    first = host.register("listener", listener)
    again = host.register("listener", listener)

    assert again is first and again.status == "loaded"
    host.hooks_for(frozenset({"listener"})).vintry_handle_event(event=EVENT, site=SITE)
    assert listener.events == [EVENT]


# --- the allow-list, idempotence, the built-in ------------------------------------------


def test_allow_list_loads_only_the_plugins_named(fake_install: FakeInstall) -> None:
    alpha = fake_install.plugin("alpha", GOOD_PLUGIN)
    beta = fake_install.plugin("beta", GOOD_PLUGIN)
    host = PluginHost(allow=["alpha"], entry_points=lambda: [alpha, beta]).load()

    assert [r.name for r in host.loaded()] == ["alpha", *BUILTINS]  # built-ins always load
    assert "beta" not in host.records, "a plugin left out is skipped, not failed"
    assert host.failed() == []
    assert beta.value not in sys.modules


def test_vintry_load_plugins_setting_narrows_what_the_platform_loads(
    fake_install: FakeInstall, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    alpha = fake_install.plugin("alpha", GOOD_PLUGIN)
    beta = fake_install.plugin("beta", GOOD_PLUGIN)
    gamma = fake_install.plugin("gamma", GOOD_PLUGIN)
    real_entry_points = metadata.entry_points

    def entry_points(**selection: str) -> object:
        if selection.get("group") == "vintry":
            return [alpha, beta, gamma]
        return real_entry_points(**selection)

    # vintry.plugins discovers through importlib.metadata.entry_points(group="vintry").
    monkeypatch.setattr(metadata, "entry_points", entry_points)
    monkeypatch.setenv("VINTRY_LOAD_PLUGINS", "gamma, alpha")
    platform = Platform(VintrySettings(data_dir=tmp_path / "data"))
    try:
        assert [r.name for r in platform.plugins.loaded()] == ["alpha", "gamma", *BUILTINS]
        assert "beta" not in platform.plugins.records
    finally:
        platform.close()


def test_loading_is_lazy_and_idempotent(fake_install: FakeInstall) -> None:
    good = fake_install.plugin("good", GOOD_PLUGIN)
    discoveries: list[int] = []

    def entry_points() -> list[metadata.EntryPoint]:
        discoveries.append(1)
        return [good]

    host = PluginHost(entry_points=entry_points)
    assert discoveries == [] and good.value not in sys.modules, "nothing happens before load()"

    assert host.load() is host.load()
    host.loaded()
    host.get("good")

    assert discoveries == [1]
    assert module_attr(good.value, "registrations") == ["settings"]
    impls = host.manager.hook.vintry_handle_event.get_hookimpls()
    assert sorted(impl.plugin_name for impl in impls) == ["good", "vintry-campaigns", BUILTIN]


def test_platform_loads_its_plugin_host_once(tmp_path: Path) -> None:
    host = PluginHost(entry_points=lambda: [])
    platform = Platform(VintrySettings(data_dir=tmp_path / "data"), plugins=host)
    try:
        assert platform.plugins is host
        assert platform.plugins is host
        assert [r.name for r in host.loaded()] == BUILTINS
    finally:
        platform.close()


def test_builtin_events_log_is_loaded_like_any_plugin() -> None:
    host = PluginHost(entry_points=lambda: []).load()

    record = host.get(BUILTIN)
    assert record is not None
    assert (record.status, record.builtin, record.module) == (
        "loaded", True, "vintry.builtin.events_log",
    )
    assert record.hooks == ["vintry_handle_event"]
    assert host.builtin_names() == frozenset(BUILTINS)
    # Built-ins are enabled everywhere: even an empty set of enabled plugins reaches them
    # once the platform adds builtin_names() (see test_enablement), and never any other.
    callers = host.hooks_for(host.builtin_names()).implementations("vintry_handle_event")
    assert sorted(impl.plugin_name for impl in callers) == ["vintry-campaigns", BUILTIN]
