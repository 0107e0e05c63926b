"""Throwaway environments to install plugin distributions into, with no package index.

A test that must see a plugin *installed* — found through its entry point and its metadata,
as in production — cannot install it into the environment running the tests without leaking
it into every later test. :func:`create_plugin_environment` makes a virtualenv of its own
instead, in a temporary directory:

- it sees every package of the running interpreter's environment (a ``.pth`` file adds those
  site directories, editable installs included), so the kernel, the SDK, pytest and the build
  backend come from there and nothing is resolved or downloaded;
- :meth:`PluginEnvironment.install` adds local distributions only, with
  ``pip install --no-deps --no-build-isolation --no-index``;
- :meth:`PluginEnvironment.run` runs its interpreter with a clean environment: no ``VINTRY_*``
  variable leaks in except the test servers' (``VINTRY_TEST_POSTGRES_URL``,
  ``VINTRY_TEST_REDIS_URL``).

The template's own tests and the kernel's end-to-end plugin tests build on it; a plugin
author can use it the same way for an installed-plugin test of their own.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vintry_sdk.testing.backends import POSTGRES_ENV, REDIS_ENV

__all__ = ["PluginEnvironment", "create_plugin_environment", "render_plugin"]

PASSED_THROUGH = (POSTGRES_ENV, REDIS_ENV)
"""``VINTRY_*`` variables a subprocess inherits; every other one is dropped."""

_DROPPED_PREFIXES = ("VINTRY_", "PYTEST_", "PIP_")
_DROPPED = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")


class EnvironmentCommandFailed(RuntimeError):
    """A command run in a plugin environment exited non-zero; the message holds its output."""


@dataclass(frozen=True)
class PluginEnvironment:
    """A virtualenv that sees the running environment's packages plus what it installed."""

    root: Path
    python: Path
    site_packages: Path

    def environ(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment for a subprocess: this process's, cleaned, plus *extra*."""
        env = {
            name: value
            for name, value in os.environ.items()
            if name in PASSED_THROUGH
            or not (name.startswith(_DROPPED_PREFIXES) or name in _DROPPED)
        }
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        env["PIP_NO_INPUT"] = "1"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.update(extra or {})
        return env

    def run(
        self,
        *args: str | Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 120,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python *args`` in this environment; raise with its output if *check* fails."""
        command = [str(self.python), *map(str, args)]
        result = subprocess.run(
            command,
            cwd=cwd,
            env=self.environ(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if check and result.returncode != 0:
            raise EnvironmentCommandFailed(
                f"{' '.join(command)} exited {result.returncode}\n"
                f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
            )
        return result

    def popen(
        self, *args: str | Path, env: Mapping[str, str] | None = None, **options: Any
    ) -> subprocess.Popen[str]:
        """Start ``python *args`` in this environment (a server); the caller must stop it."""
        return subprocess.Popen(
            [str(self.python), *map(str, args)],
            env=self.environ(env),
            stdin=subprocess.DEVNULL,
            text=True,
            **options,
        )

    def install(self, *projects: Path, editable: bool = False) -> None:
        """Install local distributions only: no dependency resolution, no index, no network."""
        targets: list[str] = []
        for project in projects:
            targets += ["-e", str(project)] if editable else [str(project)]
        self.run(
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            *targets,
        )


def create_plugin_environment(root: Path) -> PluginEnvironment:
    """Create a virtualenv at *root* that sees this environment's packages (no pip of its own:
    the running environment's pip is visible and installs into it)."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    python = root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    site_packages = Path(purelib)
    # addsitedir (not a bare path) so that the .pth files there — editable installs of the
    # kernel and the SDK among them — are processed too. Our own site-packages stays first.
    parents = [p for p in _running_site_directories() if Path(p) != site_packages]
    lines = [f"import site; site.addsitedir({directory!r})" for directory in parents]
    (site_packages / "_vintry_parent_environment.pth").write_text("\n".join(lines) + "\n")
    return PluginEnvironment(root=root, python=python, site_packages=site_packages)


def render_plugin(template: Path, output_dir: Path, **context: str) -> Path:
    """Render the plugin cookiecutter *template* into *output_dir* without prompting, with
    *context* overriding its defaults; returns the generated project's directory."""
    # A development tool, not an SDK dependency (and untyped).
    from cookiecutter.main import cookiecutter  # type: ignore[import-untyped]

    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vintry-cookiecutter-") as scratch:
        # Ignore the user's ~/.cookiecutterrc and keep the replay file out of their home.
        config = {"replay_dir": scratch, "cookiecutters_dir": scratch}
        project = cookiecutter(
            str(template),
            no_input=True,
            extra_context=dict(context),
            output_dir=str(output_dir),
            default_config=config,  # a dict is merged with cookiecutter's defaults
        )
    return Path(project)


def _running_site_directories() -> Sequence[str]:
    directories = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    for key in ("purelib", "platlib"):
        path = sysconfig.get_paths()[key]
        if path not in directories:
            directories.append(path)
    return [d for d in directories if Path(d).is_dir()]
