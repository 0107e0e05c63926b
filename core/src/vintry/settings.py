"""The one settings model of a Vintry deployment.

Values come from ``VINTRY_*`` environment variables and, when ``VINTRY_CONFIG_FILE``
names one, from a TOML file (environment wins). See ``docs/operations/settings.md``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

SITE_PLACEHOLDER = "{site}"


def _default_data_dir() -> Path:
    return Path.cwd() / "var"


class VintrySettings(BaseSettings):
    """Everything a Vintry process needs to know about its deployment."""

    model_config = SettingsConfigDict(
        env_prefix="VINTRY_",
        extra="ignore",
        validate_default=True,
    )

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where SQLite files and generated assets live.",
    )
    hq_database_url: str | None = Field(
        default=None, description="HQ database; unset means SQLite in the data directory."
    )
    site_database_url: str | None = Field(
        default=None,
        description=(
            "Template for site databases containing '{site}'; unset means one SQLite file "
            "per site in the data directory. A 'vintry_schema' query parameter selects "
            "schema-per-site on PostgreSQL."
        ),
    )
    redis_url: str | None = Field(default=None, description="Event stream and hot counters.")
    load_plugins: list[str] | None = Field(
        default=None,
        description="Comma-separated allow-list of plugin names to load; unset loads all.",
    )
    max_request_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body the API accepts."
    )
    token_ttl_days: int = Field(
        default=90, ge=1, le=3650, description="Lifetime of a new API token unless given."
    )
    site_engine_cache_size: int = Field(
        default=64,
        ge=1,
        description="Site database engines kept open at once; the least recently used closes.",
    )
    config_file: Path | None = Field(default=None, description="Optional TOML settings file.")
    test_postgres_url: str | None = Field(default=None)
    test_redis_url: str | None = Field(default=None)

    @field_validator("load_plugins", mode="before")
    @classmethod
    def _split_plugin_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            # An empty variable (as compose files leave them) means "unset": load all.
            names = [name.strip() for name in value.split(",")]
            return [name for name in names if name] or None
        return value

    @field_validator("site_database_url")
    @classmethod
    def _needs_site_placeholder(cls, value: str | None) -> str | None:
        if value is not None and SITE_PLACEHOLDER not in value:
            raise ValueError(f"must contain the placeholder {SITE_PLACEHOLDER}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("VINTRY_CONFIG_FILE")
        if config_file:
            if not Path(config_file).is_file():
                # A typo must not silently fall back to the defaults (a fresh SQLite HQ).
                raise FileNotFoundError(
                    f"VINTRY_CONFIG_FILE names {config_file!r}, which is not a file"
                )
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @property
    def resolved_hq_database_url(self) -> str:
        """The HQ database URL, defaulting to ``hq.db`` in the data directory."""
        if self.hq_database_url:
            return self.hq_database_url
        return f"sqlite:///{self.data_dir.resolve() / 'hq.db'}"

    def site_database_url_for(self, code: str) -> str:
        """The database URL of the site *code* under the configured template."""
        if self.site_database_url:
            return self.site_database_url.replace(SITE_PLACEHOLDER, code)
        return f"sqlite:///{self.data_dir.resolve() / 'sites' / f'{code}.db'}"
