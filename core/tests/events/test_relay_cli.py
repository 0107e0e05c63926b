"""``vintry relay``: one pass, status, dead letters and their retry, rebuild and verify, and
the relay as its own process stopped by SIGTERM. SQLite, through the CLI's own settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result
from vintry.cli import app
from vintry.cli.console import console, err_console
from vintry.events.dead_letters import list_dead_letters, relay_status
from vintry.events.relay import Relay
from vintry.platform import Platform
from vintry.settings import VintrySettings

Invoke = Callable[..., Result]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty SQLite data directory the CLI's ``Platform()`` uses."""
    path = tmp_path / "var"
    monkeypatch.setenv("VINTRY_DATA_DIR", str(path))
    for name in (
        "VINTRY_HQ_DATABASE_URL",
        "VINTRY_SITE_DATABASE_URL",
        "VINTRY_CONFIG_FILE",
        "VINTRY_REDIS_URL",
    ):
        monkeypatch.delenv(name, raising=False)
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


def _rename(platform: Platform, site: str, old: str, new: str) -> None:
    with platform.site_database(site).transaction() as session:
        session.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


def test_relay_commands(vintry: Invoke, platform: Platform) -> None:
    vintry("init")
    vintry("site", "create", "east", "East")
    vintry("dealer", "create", "east", "D-E-001", "East Wines")

    before = vintry("relay", "status").stdout
    assert "cursor 0 of 1, lag 1, dead letters 0" in before
    assert "never" in before
    once = vintry("relay", "once").stdout
    assert "One pass: read 1; cursor 1 · lag 0 · applied 1 · delivered 1" in once
    assert "sites built 2" in once
    after = vintry("relay", "status").stdout
    assert "cursor 1 of 1, lag 0, dead letters 0" in after and "never" not in after
    assert "east: in step with HQ" in vintry("relay", "verify").stdout

    _rename(platform, "east", "read_dealers", "read_dealers_away")
    vintry("dealer", "create", "east", "D-E-002", "East Spirits")
    relay = Relay(platform, max_failures=2, retry_backoff=timedelta(0), redis_url=None)
    assert [relay.run_once().dead_lettered for _ in range(2)] == [0, 1]
    [letter] = list_dead_letters(platform)
    listed = vintry("relay", "dead-letters").stdout
    assert "Dead letters (1)" in listed
    assert all(part in listed for part in ("dealer.changed", "site-read-models", "read_dealers"))

    failed = vintry("relay", "dead-letters", "--retry", str(letter.id), expect=1)
    assert "retry_failed" in failed.stderr and "Traceback" not in failed.output
    _rename(platform, "east", "read_dealers_away", "read_dealers")
    retried = vintry("relay", "dead-letters", "--retry", str(letter.id)).stdout
    assert f"Dead letter {letter.id} resolved: event 2 (dealer.changed)" in retried
    assert "Dead letters (0)" in vintry("relay", "dead-letters").stdout
    assert "resolved" in vintry("relay", "dead-letters", "--all").stdout
    missing = vintry("relay", "dead-letters", "--retry", "999", expect=1)
    assert "dead_letter_not_found" in missing.stderr

    with platform.site_database("east").transaction() as session:
        session.execute(text("DELETE FROM read_catalog"))
        session.execute(text("DELETE FROM read_dealers"))
    drift = vintry("relay", "verify", "east", expect=1)
    assert "dealers D-E-001" in drift.stdout and "read_models_drift" in drift.stderr
    rebuilt = vintry("relay", "rebuild", "east").stdout
    assert "Rebuilt east: 0 catalog items, 2 dealers, 0 orders (through event 2)." in rebuilt
    assert "east: in step with HQ" in vintry("relay", "verify").stdout


@pytest.mark.slow
def test_vintry_relay_runs_until_sigterm(
    vintry: Invoke, data_dir: Path, platform: Platform
) -> None:
    vintry("init")
    vintry("site", "create", "east", "East")
    environment = {**os.environ, "VINTRY_DATA_DIR": str(data_dir)}
    process = subprocess.Popen(
        [sys.executable, "-m", "vintry.cli", "relay", "--poll-interval", "0.1"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        vintry("dealer", "create", "east", "D-E-001", "East Wines")
        vintry("dealer", "create", "east", "D-E-002", "East Spirits")
        deadline = time.monotonic() + 60
        while relay_status(platform).cursor < 2 and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        assert relay_status(platform).cursor == 2
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "Relay site-read-models started (in-process)" in stdout
    assert "Relay stopped: cursor 2 · lag 0 · applied 2" in stdout
    assert "Traceback" not in stderr
