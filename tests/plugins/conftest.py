"""A deployment in real processes, with plugins installed from rendered templates.

One throwaway virtualenv (seeing the development environment's packages, installing only
local distributions, offline) holds three plugins rendered from ``templates/plugin/``:

- ``greeter``: the template as rendered;
- ``broken-import``: its ``__init__`` imports a module that does not exist;
- ``future-sdk``: built for ``vintry-sdk>=9``.

``python -m vintry.cli init`` creates the data directory (SQLite) and prints the admin
token; then two ``uvicorn`` server processes share that data directory, as two workers of one
deployment would. Servers are always terminated at teardown.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from vintry_sdk.testing.plugin_env import (
    PluginEnvironment,
    create_plugin_environment,
    render_plugin,
)

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "templates" / "plugin"
GOOD_PLUGIN = "greeter"
BROKEN_IMPORT_PLUGIN = "broken-import"
FUTURE_SDK_PLUGIN = "future-sdk"
MISSING_MODULE = "vintry_module_that_is_not_installed"
STARTUP_TIMEOUT = 60.0
TOKEN = re.compile(r"\bvt_[0-9a-f]+_[A-Za-z0-9_-]+")
LISTENING = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")


@dataclass(frozen=True)
class Server:
    """One API server process of the deployment."""

    url: str
    process: subprocess.Popen[str]
    log: Path

    def client(self, token: str) -> httpx.Client:
        """An HTTP client on this server, authenticated with *token*."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )


@dataclass(frozen=True)
class Deployment:
    """The environment, its data directory, the admin token and two servers."""

    environment: PluginEnvironment
    data_dir: Path
    admin_token: str
    servers: tuple[Server, Server]

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``vintry *args`` in the deployment's environment and data directory."""
        return run_cli(self.environment, self.data_dir, *args, check=check)

    def admin(self, server: int) -> httpx.Client:
        """An HTTP client on server *server* (0 or 1), as HQ's administrator."""
        return self.servers[server].client(self.admin_token)


def cli_arguments() -> list[str]:
    """How to run the ``vintry`` command with a given interpreter."""
    if importlib.util.find_spec("vintry.cli.__main__") is not None:
        return ["-m", "vintry.cli"]
    return ["-c", "from vintry.cli import main; main()"]


def run_cli(
    environment: PluginEnvironment, data_dir: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``vintry *args`` on *data_dir*, with a wide terminal so tables are not cut."""
    return environment.run(
        *cli_arguments(), *args,
        env={"VINTRY_DATA_DIR": str(data_dir), "COLUMNS": "200", "NO_COLOR": "1"},
        check=check,
    )


def render_and_install(environment: PluginEnvironment, root: Path) -> None:
    """Render the good plugin and the two broken ones, and install all three."""
    good = render_plugin(TEMPLATE, root, plugin_name=GOOD_PLUGIN)
    broken = render_plugin(TEMPLATE, root, plugin_name=BROKEN_IMPORT_PLUGIN)
    init = broken / "src" / "vintry_broken_import" / "__init__.py"
    future_import = "from __future__ import annotations\n"
    source = init.read_text(encoding="utf-8")
    assert future_import in source
    init.write_text(source.replace(future_import, f"{future_import}\nimport {MISSING_MODULE}\n", 1))
    future = render_plugin(TEMPLATE, root, plugin_name=FUTURE_SDK_PLUGIN, sdk_range=">=9")
    environment.install(good, broken, future)


@contextmanager
def running_server(environment: PluginEnvironment, data_dir: Path, log: Path) -> Iterator[Server]:
    """Start ``uvicorn`` on a free loopback port; stop it when the block ends."""
    with log.open("w") as output:
        process = environment.popen(
            "-m", "uvicorn", "vintry.api.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", "0",  # the OS picks a free port; uvicorn logs it
            env={"VINTRY_DATA_DIR": str(data_dir)},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Server(url=_wait_until_listening(process, log), process=process, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _wait_until_listening(process: subprocess.Popen[str], log: Path) -> str:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited {process.returncode}:\n{log.read_text()}")
        found = LISTENING.search(log.read_text())
        if found:
            return found.group(1)
        time.sleep(0.05)  # polling the log, bounded by the deadline
    raise TimeoutError(f"the server did not listen within {STARTUP_TIMEOUT}s:\n{log.read_text()}")


def wait_until_ready(server: Server) -> None:
    """Poll ``/health/ready`` until it answers 200, with a bound."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last = "no answer"
    with httpx.Client(base_url=server.url, timeout=5) as client:
        while time.monotonic() < deadline:
            try:
                response = client.get("/health/ready")
            except httpx.TransportError as error:
                last = repr(error)
            else:
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text}"
            if server.process.poll() is not None:
                break
            time.sleep(0.05)
    raise TimeoutError(f"{server.url} not ready: {last}\n{server.log.read_text()}")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Plugins installed, the platform initialised, two servers ready."""
    root = tmp_path_factory.mktemp("plugin-deployment")
    environment = create_plugin_environment(root / "venv")
    render_and_install(environment, root / "src")
    data_dir = root / "data"
    init = run_cli(environment, data_dir, "init")
    token = TOKEN.search(init.stdout)
    assert token is not None, f"no admin token in the output of 'vintry init':\n{init.stdout}"
    with ExitStack() as stack:
        servers = tuple(
            stack.enter_context(running_server(environment, data_dir, root / f"server-{n}.log"))
            for n in (1, 2)
        )
        for server in servers:
            wait_until_ready(server)
        yield Deployment(environment, data_dir, token.group(0), (servers[0], servers[1]))
