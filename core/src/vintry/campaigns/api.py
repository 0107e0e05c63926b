"""Routes of campaigns: operators manage their site's, dealers see theirs, HQ publishes
templates. A thin layer over :mod:`vintry.campaigns.service`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from vintry.accounts.permissions import Permission
from vintry.api.security import RequestScope, authorize
from vintry.campaigns import service
from vintry.campaigns.models import CampaignState
from vintry.campaigns.registry import find_type
from vintry.campaigns.schemas import (
    CampaignCreate,
    CampaignOut,
    CampaignPage,
    CampaignTransition,
    CampaignTypeOut,
    CampaignUpdate,
    ForYouItem,
    TemplateCopy,
    TemplateCreate,
    TemplateOut,
)
from vintry.campaigns.selection import campaigns_for_you
from vintry.contracts import DealerView
from vintry.dealers.models import Dealer
from vintry.errors import InvalidInput

router = APIRouter(prefix="/api/v1", tags=["campaigns"])
CodeParam = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
TypeParam = Annotated[str, Path(max_length=64, pattern=r"^[a-z][a-z0-9-]{1,63}$")]


def _type_out(scope: RequestScope, name: str) -> CampaignTypeOut:
    plugin, campaign_type = find_type(scope.platform, name)
    return CampaignTypeOut(
        name=name,
        title=campaign_type.title,
        description=campaign_type.description,
        plugin=plugin,
        enabled_here=scope.site.is_enabled(plugin),
        config_schema=campaign_type.config_model.model_json_schema(),
    )


@router.get(
    "/campaign-types", response_model=list[CampaignTypeOut], summary="Campaign types installed"
)
def list_types(
    scope: RequestScope = Depends(authorize(Permission.CAMPAIGNS_READ)),
) -> list[CampaignTypeOut]:
    """Every campaign type, whether it is usable at the addressed site, and its form."""
    return [_type_out(scope, name) for name in sorted(scope.platform.plugins.campaign_types())]


@router.get("/campaign-types/{type_name}", response_model=CampaignTypeOut, summary="One type")
def get_type(
    type_name: TypeParam, scope: RequestScope = Depends(authorize(Permission.CAMPAIGNS_READ))
) -> CampaignTypeOut:
    """A campaign type with the JSON Schema of its configuration (for forms)."""
    return _type_out(scope, type_name)


@router.get(
    "/campaigns/for-you",
    response_model=list[ForYouItem],
    summary="Live campaigns for the calling dealer",
)
def for_you(
    scope: RequestScope = Depends(authorize(Permission.ORDERS_PLACE)),
) -> list[ForYouItem]:
    """The addressed site's live campaigns targeted at the caller, highest priority first:
    what its home page pushes."""
    if scope.principal.dealer_id is None:
        raise InvalidInput("only a dealer has campaigns for it", code="dealer_required")
    with scope.platform.hq.reading() as session:
        dealer = session.get(Dealer, scope.principal.dealer_id)
        assert dealer is not None
        view = DealerView(
            code=dealer.code,
            name=dealer.name,
            tier=dealer.tier.value,
            tags=tuple(dealer.tags),
            site=scope.site.code,
        )
    return campaigns_for_you(scope.site, view, scope.platform.clock.now())


@router.get("/campaigns", response_model=CampaignPage, summary="The site's campaigns")
def list_campaigns(
    state: CampaignState | None = Query(default=None),
    type_name: str | None = Query(default=None, alias="type", max_length=64),
    after: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=100, ge=1, le=500),
    scope: RequestScope = Depends(authorize(Permission.CAMPAIGNS_READ)),
) -> CampaignPage:
    """Campaigns of the addressed site by code, optionally in one state or of one type."""
    return service.list_campaigns(
        scope.site, state=state, type_name=type_name, after=after, limit=limit
    )


@router.post(
    "/campaigns",
    response_model=CampaignOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a draft campaign here",
)
def create_campaign(
    body: CampaignCreate, scope: RequestScope = Depends(authorize(Permission.CAMPAIGNS_WRITE))
) -> CampaignOut:
    """The site's own decision, no HQ approval; refused (422) under HQ's price floors."""
    return service.create_campaign(scope.site, body, actor=scope.actor)


@router.get("/campaigns/{code}", response_model=CampaignOut, summary="One campaign")
def get_campaign(
    code: CodeParam, scope: RequestScope = Depends(authorize(Permission.CAMPAIGNS_READ))
) -> CampaignOut:
    """A campaign of the addressed site, with its state now and its budgets' use."""
    return service.get_campaign(scope.site, code)


@router.patch("/campaigns/{code}", response_model=CampaignOut, summary="Change a campaign")
def update_campaign(
    code: CodeParam,
    body: CampaignUpdate,
    scope: RequestScope = Depends(authorize(Permission.CAMPAIGNS_WRITE)),
) -> CampaignOut:
    """Change a draft or scheduled campaign (409 ``campaign_not_editable`` once live)."""
    return service.update_campaign(scope.site, code, body, actor=scope.actor)


@router.post(
    "/campaigns/{code}/transition",
    response_model=CampaignOut,
    summary="Publish, cancel or end a campaign",
)
def transition_campaign(
    code: CodeParam,
    body: CampaignTransition,
    scope: RequestScope = Depends(authorize(Permission.CAMPAIGNS_WRITE)),
) -> CampaignOut:
    """``{"to": "scheduled"}`` publishes, ``"cancelled"`` cancels, ``"ended"`` ends early."""
    return service.transition_campaign(scope.site, code, body, actor=scope.actor)


@router.get(
    "/campaign-templates", response_model=list[TemplateOut], summary="HQ's campaign templates"
)
def list_templates(
    scope: RequestScope = Depends(authorize(Permission.CAMPAIGNS_READ)),
) -> list[TemplateOut]:
    """Every template HQ published, for sites to copy."""
    return service.list_templates(scope.platform)


@router.post(
    "/campaign-templates",
    response_model=TemplateOut,
    status_code=status.HTTP_201_CREATED,
    summary="Publish a campaign template (HQ)",
)
def create_template(
    body: TemplateCreate,
    scope: RequestScope = Depends(authorize(Permission.CAMPAIGN_TEMPLATES_WRITE)),
) -> TemplateOut:
    """A template every site's operators can copy into a campaign of their own."""
    return service.create_template(scope.platform, body, actor=scope.actor)


@router.get("/campaign-templates/{template}", response_model=TemplateOut, summary="One template")
def get_template(
    template: CodeParam, scope: RequestScope = Depends(authorize(Permission.CAMPAIGNS_READ))
) -> TemplateOut:
    """A template HQ published."""
    return service.get_template(scope.platform, template)


@router.post(
    "/campaign-templates/{template}/copy",
    response_model=CampaignOut,
    status_code=status.HTTP_201_CREATED,
    summary="Copy a template into a draft campaign here",
)
def copy_template(
    template: CodeParam,
    body: TemplateCopy,
    scope: RequestScope = Depends(authorize(Permission.CAMPAIGNS_WRITE)),
) -> CampaignOut:
    """A draft campaign of the addressed site from HQ's template, checked like any other."""
    return service.copy_template(scope.site, template, body, actor=scope.actor)
