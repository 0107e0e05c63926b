"""Fixtures for the CLI tests: a fresh data directory and a runner bound to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result
from vintry.cli import app
from vintry.cli.console import console, err_console
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
    # Wide enough that rich tables do not fold the values the tests look for.
    # Rich reads COLUMNS once, when the console is built, so set the width itself too.
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(console, "width", 200)
    monkeypatch.setattr(err_console, "width", 200)
    return path


@pytest.fixture
def vintry(data_dir: Path) -> Invoke:
    """Run ``vintry <args>``; fails the test if the exit code is not *expect*."""
    runner = CliRunner()

    def invoke(*args: str, expect: int = 0) -> Result:
        result = runner.invoke(app, list(args))
        assert result.exit_code == expect, (
            f"vintry {' '.join(args)} exited {result.exit_code}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\nexception: {result.exception!r}"
        )
        return result

    return invoke


@pytest.fixture
def platform(data_dir: Path) -> Iterator[Platform]:
    """A platform on the CLI's data directory, for checking what the commands did."""
    opened = Platform(VintrySettings(data_dir=data_dir))
    yield opened
    opened.close()
