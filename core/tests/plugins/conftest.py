"""In-process plugins and fake installed distributions for the plugin-host tests.

Per-site tests register their plugins on ``vintry_platform.plugins`` *before* the app is
built (this directory's ``vintry_app`` asks for :func:`installed` first), exactly as
installed plugins are loaded before a real server builds its app. Loading tests build their
own :class:`~vintry.plugins.PluginHost` from fake entry points (:class:`FakeInstall`): real
modules written to a temporary directory, and ``importlib.metadata`` distributions whose
``METADATA`` declares the ``vintry-sdk`` range under test.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Self

import pytest
from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel, Field, model_validator
from vintry.platform import Platform
from vintry_sdk import (
    Event,
    Permission,
    RequestScope,
    RoutesRegistration,
    SettingsRegistration,
    SiteContext,
    authorize,
    hookimpl,
)

RECORDER = "recorder"
QUOTA = "quota"
GREETER = "greeter"
FLAKY = "flaky"
SDK_RANGE = "vintry-sdk>=0.1,<0.2"


# --- in-process plugins ----------------------------------------------------------------


class RecorderSettings(BaseModel):
    """The recorder's configuration: one string with a default."""

    greeting: str = "hello"


class Recorder:
    """Records ``(site code, greeting in force there, event type)`` for every event it gets."""

    def __init__(self, name: str = RECORDER) -> None:
        self.name = name
        self.calls: list[tuple[str, str, str]] = []

    @hookimpl
    def vintry_register_settings(self, register: SettingsRegistration) -> None:
        """Register :class:`RecorderSettings`."""
        register(RecorderSettings)

    @hookimpl
    def vintry_handle_event(self, event: Event, site: SiteContext) -> None:
        """Record the event with the configuration read from the site it came with."""
        settings = site.config(self.name)
        assert isinstance(settings, RecorderSettings)
        self.calls.append((site.code, settings.greeting, event.type))

    def sites(self, event_type: str | None = None) -> list[str]:
        """Codes of the sites whose events reached the plugin (of *event_type* if given)."""
        return [code for code, _, kind in self.calls if event_type in (None, kind)]


class QuotaSettings(BaseModel):
    """Two fields valid only together: ``min_qty <= max_qty`` (a model-level rule)."""

    min_qty: int = Field(default=1, ge=0, description="Smallest quantity per order line.")
    max_qty: int = Field(default=100, ge=0, description="Largest quantity per order line.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_qty < self.min_qty:
            raise ValueError(f"max_qty ({self.max_qty}) is below min_qty ({self.min_qty})")
        return self


class Quota:
    """A plugin with a cross-field settings model that reads its configuration in a handler."""

    def __init__(self) -> None:
        self.seen: dict[str, QuotaSettings] = {}

    @hookimpl
    def vintry_register_settings(self, register: SettingsRegistration) -> None:
        """Register :class:`QuotaSettings`."""
        register(QuotaSettings)

    @hookimpl
    def vintry_handle_event(self, event: Event, site: SiteContext) -> None:
        """Remember the configuration in force at the event's site."""
        settings = site.config(QUOTA)
        assert isinstance(settings, QuotaSettings)
        self.seen[site.code] = settings


class Greeting(BaseModel):
    """What the greeter's route answers."""

    site: str
    greeting: str


class GreeterSettings(BaseModel):
    """The greeter's configuration."""

    greeting: str = "welcome"


greeter_router = APIRouter()


@greeter_router.get("/hello", response_model=Greeting)
def greeter_hello(
    scope: Annotated[RequestScope, Depends(authorize(Permission.SITES_READ))],
) -> Greeting:
    """The greeting configured for the addressed site."""
    settings = scope.site.config(GREETER)
    assert isinstance(settings, GreeterSettings)
    return Greeting(site=scope.site.code, greeting=settings.greeting)


class Greeter:
    """A plugin that serves a site-scoped route."""

    @hookimpl
    def vintry_register_settings(self, register: SettingsRegistration) -> None:
        """Register :class:`GreeterSettings`."""
        register(GreeterSettings)

    @hookimpl
    def vintry_register_routes(self, register: RoutesRegistration) -> None:
        """Serve ``/api/v1/x/greeter/hello``."""
        register(greeter_router)


class Flaky:
    """An event handler that raises its first ``failures`` calls (forever if None)."""

    def __init__(self, failures: int | None = None) -> None:
        self.failures = failures
        self.attempts = 0

    @hookimpl
    def vintry_handle_event(self, event: Event, site: SiteContext) -> None:
        """Fail as told, then succeed."""
        self.attempts += 1
        if self.failures is None or self.attempts <= self.failures:
            raise RuntimeError(f"flaky handler broke on {event.type} (attempt {self.attempts})")


@dataclass
class Installed:
    """The in-process plugins registered on the test platform."""

    recorder: Recorder
    quota: Quota
    greeter: Greeter
    flaky: Flaky


def install(platform: Platform, plugins: dict[str, object]) -> None:
    """Register *plugins* by name on *platform*'s host; each must load."""
    for name, plugin in plugins.items():
        record = platform.plugins.register(name, plugin)
        assert record.status == "loaded", f"{name}: {record.error}"


@pytest.fixture
def installed(vintry_platform: Platform) -> Installed:
    """Register the test plugins on the test platform (before any app is built)."""
    plugins = Installed(recorder=Recorder(), quota=Quota(), greeter=Greeter(), flaky=Flaky())
    install(
        vintry_platform,
        {RECORDER: plugins.recorder, QUOTA: plugins.quota, GREETER: plugins.greeter,
         FLAKY: plugins.flaky},
    )
    return plugins


@pytest.fixture
def vintry_app(installed: Installed, vintry_app: FastAPI) -> FastAPI:
    """The SDK's app, built only after the test plugins are registered."""
    return vintry_app


# --- fake installed distributions --------------------------------------------------------


@dataclass
class FakeInstall:
    """Modules and distributions made up for one test, and entry points naming them."""

    root: Path
    monkeypatch: pytest.MonkeyPatch
    prefix: str = field(default_factory=lambda: f"vt_fake_{uuid.uuid4().hex[:8]}")
    modules: list[str] = field(default_factory=list)

    def module(self, name: str, source: str) -> str:
        """Write an importable module; returns its full (unique) name."""
        full = f"{self.prefix}_{name}"
        (self.root / "modules" / f"{full}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        importlib.invalidate_caches()
        self.modules.append(full)
        return full

    def distribution(
        self, name: str, version: str = "1.0.0", *, requires: tuple[str, ...] = (SDK_RANGE,)
    ) -> metadata.Distribution:
        """A distribution whose metadata declares *requires*."""
        info = self.root / "dists" / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        lines += [f"Requires-Dist: {requirement}" for requirement in requires]
        (info / "METADATA").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return metadata.PathDistribution(info)

    def entry_point(
        self, name: str, value: str, dist: metadata.Distribution | None = None
    ) -> metadata.EntryPoint:
        """An entry point of the ``vintry`` group, belonging to *dist*."""
        entry_point = metadata.EntryPoint(name=name, value=value, group="vintry")
        if dist is not None:
            # Python 3.11 attaches the distribution this way (EntryPoint is immutable).
            entry_point = entry_point._for(dist)  # type: ignore[attr-defined]
        return entry_point

    def plugin(
        self,
        name: str,
        source: str,
        *,
        version: str = "1.0.0",
        requires: tuple[str, ...] = (SDK_RANGE,),
    ) -> metadata.EntryPoint:
        """A module, a distribution ``vintry-<name>`` and the entry point joining them."""
        module = self.module(name.replace("-", "_"), source)
        dist = self.distribution(f"vintry-{name}", version, requires=requires)
        return self.entry_point(name, module, dist)


@pytest.fixture
def fake_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeInstall]:
    """Fake installed plugins, importable for the test's duration."""
    (tmp_path / "modules").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path / "modules"))
    install = FakeInstall(tmp_path, monkeypatch)
    yield install
    for module in install.modules:
        sys.modules.pop(module, None)


GOOD_PLUGIN = """
from pydantic import BaseModel
from vintry_sdk import hookimpl

calls = []
registrations = []


class Settings(BaseModel):
    level: int = 3


@hookimpl
def vintry_register_settings(register):
    registrations.append("settings")
    register(Settings)


@hookimpl
def vintry_handle_event(event, site):
    calls.append((event, site))
"""


def module_attr(module: str, attr: str) -> Any:
    """An attribute of an imported fake module."""
    return getattr(sys.modules[module], attr)
