"""A real Vintry server in a child process, for tests over real connections."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from vintry.settings import VintrySettings

STARTUP_TIMEOUT = 60.0
_LISTENING = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")


def settings_environment(settings: VintrySettings) -> dict[str, str]:
    """The ``VINTRY_*`` variables that make a child process use *settings*' databases."""
    env = {"VINTRY_DATA_DIR": str(settings.data_dir)}
    if settings.hq_database_url:
        env["VINTRY_HQ_DATABASE_URL"] = settings.hq_database_url
    if settings.site_database_url:
        env["VINTRY_SITE_DATABASE_URL"] = settings.site_database_url
    if settings.redis_url:
        env["VINTRY_REDIS_URL"] = settings.redis_url
    return env


@contextmanager
def running_server(settings: VintrySettings, log: Path, *, workers: int = 1) -> Iterator[str]:
    """Serve the API for *settings* on a free loopback port; yield its base URL.

    The child is terminated when the block ends. Readiness is polled with a bound.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("VINTRY_")}
    env.update(settings_environment(settings))
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "vintry.api.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--workers",
                str(workers),
                "--no-access-log",
                "--log-level",
                "info",
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        url = _wait_for_url(process, log)
        _wait_until_ready(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


def _wait_for_url(process: subprocess.Popen[str], log: Path) -> str:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        found = _LISTENING.search(log.read_text())
        if found:
            return found.group(1)
        if process.poll() is not None:
            raise RuntimeError(f"the server exited {process.returncode}:\n{log.read_text()}")
        time.sleep(0.05)  # reading the child's log, bounded by the deadline
    raise TimeoutError(f"the server did not start within {STARTUP_TIMEOUT}s:\n{log.read_text()}")


def _wait_until_ready(url: str, process: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx.Client(base_url=url, timeout=5) as client:
        while time.monotonic() < deadline:
            try:
                if client.get("/health/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                break
            time.sleep(0.05)
    raise TimeoutError(f"{url} was not ready:\n{log.read_text()}")
