"""Campaign types: which exist (global, from installed plugins) and which a site may use."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from vintry.contracts import CampaignType
from vintry.errors import InvalidInput, NotFound
from vintry.platform import Platform, SiteContext


def find_type(platform: Platform, name: str, *, field: str = "type") -> tuple[str, CampaignType]:
    """Campaign type *name* and the plugin that registered it, or 404
    ``campaign_type_not_found``."""
    found = platform.plugins.campaign_types().get(name)
    if found is None:
        raise NotFound(
            f"campaign type {name!r} does not exist (is its plugin installed?)",
            code="campaign_type_not_found",
            field=field,
        )
    return found


def usable_type(site: SiteContext, name: str, *, field: str = "type") -> tuple[str, CampaignType]:
    """Campaign type *name*, refused with 422 ``campaign_type_not_enabled`` unless its plugin
    is enabled on *site*: operators use only the types enabled where they work."""
    plugin, campaign_type = find_type(site.platform, name, field=field)
    if not site.is_enabled(plugin):
        raise InvalidInput(
            f"campaign type {name!r} belongs to plugin {plugin!r}, which is not enabled on "
            f"site {site.code!r}",
            code="campaign_type_not_enabled",
            field=field,
            details={"plugin": plugin, "site": site.code},
        )
    return plugin, campaign_type


def validate_config(
    campaign_type: CampaignType, config: dict[str, Any], *, field: str = "config"
) -> BaseModel:
    """*config* validated by the type's model; 422 ``invalid_campaign_config`` naming the
    first offending field (``config.tiers.0.off``) and listing every problem."""
    try:
        return campaign_type.config_model.model_validate(config)
    except ValidationError as error:
        problems = [
            {
                "field": ".".join([field, *(str(part) for part in item["loc"])]),
                "message": item["msg"],
                "type": item["type"],
            }
            for item in error.errors()
        ]
        first = problems[0]
        raise InvalidInput(
            f"{first['field']}: {first['message']}",
            code="invalid_campaign_config",
            field=first["field"],
            details={"type": campaign_type.name, "errors": problems},
        ) from None


def config_json(config: BaseModel) -> dict[str, Any]:
    """The validated configuration as stored and served (JSON values, normalised)."""
    return config.model_dump(mode="json")
