"""Fixtures shared by the kernel's tests (the SDK's ``vintry_*`` fixtures come from
``vintry_sdk.testing``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest
from typer.testing import CliRunner, Result
from vintry.cli import app
from vintry.cli import platform as cli_platform
from vintry.cli.console import console, err_console
from vintry.clock import ManualClock
from vintry.platform import Platform

Invoke = Callable[..., Result]
"""``invoke(*args, expect=0)``: run ``vintry <args>``, fail the test unless it exits *expect*."""


@pytest.fixture
def run_vintry(monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run ``vintry <args>`` in-process (typer's ``CliRunner``) with the environment the
    test set up; see :func:`platform_cli` for the test platform's databases and clock."""
    # Wide enough that rich tables do not fold the values the tests look for. Rich reads
    # COLUMNS once, when the console is built, so set the width itself too.
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(console, "width", 200)
    monkeypatch.setattr(err_console, "width", 200)
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
def platform_cli(
    run_vintry: Invoke,
    vintry_platform: Platform,
    vintry_clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> Invoke:
    """Run ``vintry <args>`` against the test platform: its databases (either backend) and
    its :class:`~vintry.clock.ManualClock`, so a test moves the clock the commands see.

    Each command opens its own platform from ``VINTRY_*`` variables, as it does in
    production; the fixture points them at the test platform's databases.
    """
    settings = vintry_platform.settings
    monkeypatch.setenv("VINTRY_DATA_DIR", str(settings.data_dir))
    for name, value in (
        ("VINTRY_HQ_DATABASE_URL", settings.hq_database_url),
        ("VINTRY_SITE_DATABASE_URL", settings.site_database_url),
    ):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("VINTRY_CONFIG_FILE", raising=False)
    monkeypatch.setattr(cli_platform, "Platform", partial(Platform, clock=vintry_clock))
    return run_vintry
