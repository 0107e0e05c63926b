"""The one settings model: environment variables, an optional TOML file, and defaults.

``VINTRY_*`` variables set every field; ``VINTRY_CONFIG_FILE`` names a TOML file whose
values the environment overrides; with nothing set, SQLite files live under ``./var``. A
site URL template must contain ``{site}`` and the plugin allow-list is a comma list.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError
from vintry.settings import VintrySettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No ``VINTRY_*`` variable from the test run leaks in; the working directory is empty."""
    for name in list(os.environ):
        if name.startswith("VINTRY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _toml(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


# --- defaults -------------------------------------------------------------------------------


def test_defaults_put_sqlite_files_under_var_in_the_working_directory(tmp_path: Path) -> None:
    settings = VintrySettings()

    assert settings.data_dir == tmp_path / "var"
    assert settings.resolved_hq_database_url == f"sqlite:///{tmp_path.resolve() / 'var' / 'hq.db'}"
    assert settings.site_database_url_for("east") == (
        f"sqlite:///{tmp_path.resolve() / 'var' / 'sites' / 'east.db'}"
    )
    assert settings.hq_database_url is None and settings.site_database_url is None
    assert settings.redis_url is None
    assert settings.load_plugins is None  # unset: every installed plugin loads
    assert settings.config_file is None
    assert settings.site_engine_cache_size == 64


def test_default_database_urls_are_absolute_even_for_a_relative_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VINTRY_DATA_DIR", "relative/data")
    settings = VintrySettings()
    assert settings.data_dir == Path("relative/data")
    expected = tmp_path.resolve() / "relative" / "data" / "hq.db"
    assert settings.resolved_hq_database_url == f"sqlite:///{expected}"


# --- environment variables ------------------------------------------------------------------


def test_settings_come_from_vintry_environment_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VINTRY_DATA_DIR", str(tmp_path / "srv"))
    monkeypatch.setenv("VINTRY_HQ_DATABASE_URL", "postgresql+psycopg://app@db/vintry_hq")
    monkeypatch.setenv("VINTRY_SITE_DATABASE_URL", "postgresql+psycopg://app@db/vt_{site}")
    monkeypatch.setenv("VINTRY_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("VINTRY_SITE_ENGINE_CACHE_SIZE", "8")

    settings = VintrySettings()

    assert settings.data_dir == tmp_path / "srv"
    assert settings.resolved_hq_database_url == "postgresql+psycopg://app@db/vintry_hq"
    assert settings.site_database_url_for("east") == "postgresql+psycopg://app@db/vt_east"
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.site_engine_cache_size == 8


def test_data_dir_moves_the_default_sqlite_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VINTRY_DATA_DIR", str(tmp_path / "srv"))
    settings = VintrySettings()
    assert settings.resolved_hq_database_url == f"sqlite:///{tmp_path / 'srv' / 'hq.db'}"
    assert settings.site_database_url_for("west") == (
        f"sqlite:///{tmp_path / 'srv' / 'sites' / 'west.db'}"
    )


def test_schema_per_site_template_substitutes_the_site_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "VINTRY_SITE_DATABASE_URL", "postgresql://app@db/malls?vintry_schema=site_{site}"
    )
    assert VintrySettings().site_database_url_for("east-1") == (
        "postgresql://app@db/malls?vintry_schema=site_east-1"
    )


def test_site_database_url_without_placeholder_is_a_clear_validation_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VINTRY_SITE_DATABASE_URL", "postgresql://app@db/one_for_all")

    with pytest.raises(ValidationError) as raised:
        VintrySettings()

    (error,) = raised.value.errors()
    assert error["loc"] == ("site_database_url",)
    assert "{site}" in error["msg"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("seckill", ["seckill"]),
        ("seckill,groupbuy", ["seckill", "groupbuy"]),
        (" seckill , groupbuy ,, auction ", ["seckill", "groupbuy", "auction"]),
        ('["seckill", "groupbuy"]', ["seckill", "groupbuy"]),
    ],
)
def test_load_plugins_comma_list_becomes_a_list(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("VINTRY_LOAD_PLUGINS", raw)
    assert VintrySettings().load_plugins == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [("VINTRY_SITE_ENGINE_CACHE_SIZE", "0"), ("VINTRY_MAX_REQUEST_BYTES", "10"),
     ("VINTRY_TOKEN_TTL_DAYS", "not-a-number")],
)
def test_out_of_range_numbers_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as raised:
        VintrySettings()
    assert raised.value.errors()[0]["loc"] == (name.removeprefix("VINTRY_").lower(),)


def test_unknown_vintry_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VINTRY_SOMETHING_ELSE", "x")
    assert not hasattr(VintrySettings(), "something_else")


# --- the TOML file --------------------------------------------------------------------------


def test_settings_come_from_the_toml_file_named_by_vintry_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = _toml(
        tmp_path / "vintry.toml",
        f"""
        data_dir = "{tmp_path / 'from-toml'}"
        hq_database_url = "postgresql://app@toml/hq"
        site_database_url = "postgresql://app@toml/vt_{{site}}"
        load_plugins = ["seckill", "auction"]
        site_engine_cache_size = 16
        """.replace("\n        ", "\n"),
    )
    monkeypatch.setenv("VINTRY_CONFIG_FILE", str(config))

    settings = VintrySettings()

    assert settings.config_file == config
    assert settings.data_dir == tmp_path / "from-toml"
    assert settings.resolved_hq_database_url == "postgresql://app@toml/hq"
    assert settings.site_database_url_for("east") == "postgresql://app@toml/vt_east"
    assert settings.load_plugins == ["seckill", "auction"]
    assert settings.site_engine_cache_size == 16


def test_environment_wins_over_the_toml_file_and_arguments_win_over_both(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = _toml(
        tmp_path / "vintry.toml",
        'hq_database_url = "postgresql://app@toml/hq"\n'
        'redis_url = "redis://toml:6379/0"\n'
        'load_plugins = ["from-toml"]\n',
    )
    monkeypatch.setenv("VINTRY_CONFIG_FILE", str(config))
    monkeypatch.setenv("VINTRY_HQ_DATABASE_URL", "postgresql://app@env/hq")
    monkeypatch.setenv("VINTRY_LOAD_PLUGINS", "from-env")

    settings = VintrySettings()
    assert settings.resolved_hq_database_url == "postgresql://app@env/hq"
    assert settings.load_plugins == ["from-env"]
    assert settings.redis_url == "redis://toml:6379/0"  # not in the environment: TOML's

    explicit = VintrySettings(hq_database_url="sqlite:///explicit.db")
    assert explicit.resolved_hq_database_url == "sqlite:///explicit.db"


def test_toml_site_url_without_placeholder_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = _toml(tmp_path / "vintry.toml", 'site_database_url = "postgresql://app@db/shared"\n')
    monkeypatch.setenv("VINTRY_CONFIG_FILE", str(config))
    with pytest.raises(ValidationError, match=r"\{site\}"):
        VintrySettings()


def test_a_config_file_that_does_not_exist_is_an_error_not_the_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VINTRY_CONFIG_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(FileNotFoundError, match=r"VINTRY_CONFIG_FILE.*missing\.toml"):
        VintrySettings()


def test_without_vintry_config_file_no_toml_is_read(tmp_path: Path) -> None:
    _toml(tmp_path / "vintry.toml", 'hq_database_url = "postgresql://app@toml/hq"\n')
    assert VintrySettings().hq_database_url is None
