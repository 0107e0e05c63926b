"""Fixtures for the CLI tests: a fresh data directory and a runner bound to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import Result
from vintry.platform import Platform
from vintry.settings import VintrySettings

Invoke = Callable[..., Result]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data directory that the CLI's ``Platform()`` uses, on SQLite."""
    path = tmp_path / "var"
    monkeypatch.setenv("VINTRY_DATA_DIR", str(path))
    for name in ("VINTRY_HQ_DATABASE_URL", "VINTRY_SITE_DATABASE_URL", "VINTRY_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture
def vintry(data_dir: Path, run_vintry: Invoke) -> Invoke:
    """Run ``vintry <args>`` on the fresh data directory; fails the test if the exit code
    is not *expect* (``run_vintry`` of ``core/tests/conftest.py``)."""
    return run_vintry


@pytest.fixture
def platform(data_dir: Path) -> Iterator[Platform]:
    """A platform on the CLI's data directory, for checking what the commands did."""
    opened = Platform(VintrySettings(data_dir=data_dir))
    yield opened
    opened.close()
