"""The settings of the {{ cookiecutter.plugin_slug }} plugin, configured per site.

HQ sets the defaults for every site; a site overrides only the fields it sets, and deleting an
override restores what it inherits. Every field has a default, so the plugin works on a site
that configured nothing. The kernel validates each merged result with this model (for the
changed site and all its descendants) before accepting a change, and serves the model's JSON
Schema at ``GET /api/v1/plugins/{{ cookiecutter.plugin_slug }}/schema`` for configuration forms.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class {{ cookiecutter.__settings_class }}(BaseModel):
    """What a site can configure."""

    model_config = ConfigDict(frozen=True)

    greeting: str = Field(
        default="Hello",
        max_length=80,
        description="Opening word(s) of the greeting, e.g. 'Welcome' or '欢迎'.",
    )
    exclaim: bool = Field(default=True, description="End the greeting with '!' rather than '.'.")

    @field_validator("greeting")
    @classmethod
    def greeting_is_not_blank(cls, value: str) -> str:
        """Refuse a blank greeting; surrounding spaces are dropped."""
        value = value.strip()
        if not value:
            raise ValueError("the greeting must not be blank")
        return value
