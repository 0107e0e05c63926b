"""The plugin cookiecutter template: what it renders, and that the result works as rendered.

The slow test follows ``docs/plugins/tutorial.md`` step by step: render, ``pip install -e``
into an environment of its own, run the generated plugin's tests untouched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException  # type: ignore[import-untyped]
from vintry_sdk.testing.backends import POSTGRES_ENV
from vintry_sdk.testing.plugin_env import create_plugin_environment, render_plugin

TEMPLATE = Path(__file__).resolve().parents[1] / "plugin"


def rendered_files(project: Path) -> set[str]:
    """Every file under *project*, as POSIX paths relative to it."""
    return {path.relative_to(project).as_posix() for path in project.rglob("*") if path.is_file()}


def test_renders_exactly_the_plugin_layout(tmp_path: Path) -> None:
    project = render_plugin(
        TEMPLATE,
        tmp_path,
        plugin_name="Price Watch",
        description="Watches prices.",
        author="Zhang Wei",
    )

    assert project == tmp_path / "vintry-price-watch"
    assert rendered_files(project) == {
        "README.md",
        "pyproject.toml",
        "src/vintry_price_watch/__init__.py",
        "src/vintry_price_watch/config.py",
        "src/vintry_price_watch/py.typed",
        "tests/test_price_watch.py",
    }
    assert rendered_files(tmp_path) == {f"vintry-price-watch/{f}" for f in rendered_files(project)}
    for path in project.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert "{{" not in text and "{%" not in text, f"unrendered Jinja in {path.name}"


def test_pyproject_declares_the_distribution_and_its_entry_point(tmp_path: Path) -> None:
    project = render_plugin(TEMPLATE, tmp_path, plugin_name="Price Watch", author='A "quoted" one')

    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))

    assert pyproject["build-system"]["build-backend"] == "hatchling.build"
    meta = pyproject["project"]
    assert (meta["name"], meta["version"], meta["requires-python"]) == (
        "vintry-price-watch",
        "0.1.0",
        ">=3.11",
    )
    assert meta["dependencies"] == ["vintry-sdk>=0.1,<0.2"]
    assert meta["authors"] == [{"name": 'A "quoted" one'}]
    assert meta["entry-points"]["vintry"] == {"price-watch": "vintry_price_watch"}
    assert pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [
        "src/vintry_price_watch"
    ]
    init = (project / "src/vintry_price_watch/__init__.py").read_text(encoding="utf-8")
    assert 'PLUGIN_NAME = "price-watch"' in init
    assert "class PriceWatchSettings(BaseModel)" in (
        project / "src/vintry_price_watch/config.py"
    ).read_text(encoding="utf-8")


def test_the_sdk_range_is_a_choice(tmp_path: Path) -> None:
    project = render_plugin(TEMPLATE, tmp_path, sdk_range=">=0.1,<0.3")

    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))

    assert pyproject["project"]["dependencies"] == ["vintry-sdk>=0.1,<0.3"]


@pytest.mark.parametrize(
    "context",
    [{"plugin_name": "9 Lives"}, {"sdk_range": "latest"}, {"package_name": "vintry-x"}],
    ids=["slug-starts-with-a-digit", "sdk-range-not-a-specifier", "package-not-an-identifier"],
)
def test_names_that_cannot_work_are_refused_before_rendering(
    tmp_path: Path, context: dict[str, str]
) -> None:
    with pytest.raises(FailedHookException):
        render_plugin(TEMPLATE, tmp_path, **context)

    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["hello", "Price Watch"])
def test_generated_code_is_ruff_clean(tmp_path: Path, name: str) -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    project = render_plugin(TEMPLATE, tmp_path, plugin_name=name)

    for command in ([ruff, "check", "."], [ruff, "format", "--check", "."]):
        result = subprocess.run(
            command, cwd=project, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_the_rendered_plugin_installs_and_its_own_tests_pass(tmp_path: Path) -> None:
    project = render_plugin(TEMPLATE, tmp_path / "src", plugin_name="hello")
    environment = create_plugin_environment(tmp_path / "venv")

    environment.install(project, editable=True)
    result = environment.run(
        "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--basetemp={tmp_path / 'pytest'}",
        cwd=project,
        timeout=300,
        check=False,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Five tests, each on SQLite and PostgreSQL (skipped without a server).
    expected = "10 passed" if os.environ.get(POSTGRES_ENV) else "5 passed, 5 skipped"
    assert expected in output, output
