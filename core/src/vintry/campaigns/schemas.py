"""Request and response bodies of campaigns and campaign templates.

Money crosses the API as ``Decimal`` yuan with at most two places; times are aware
datetimes (a time without an offset is refused: a window must not depend on the server).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from vintry.campaigns.models import CampaignState
from vintry.dealers.models import DealerTier
from vintry.sites.schemas import RequestModel

CampaignCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
TypeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,63}$")]
StackingGroup = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Tag = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]
DealerCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]{2,31}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=2000)]
Priority = Annotated[int, Field(ge=-1000, le=1000, description="Higher wins ties and sorts first.")]
Yuan = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)]


class Targeting(RequestModel):
    """Which dealers of the site a campaign is for.

    Nothing set: every dealer. ``dealers`` are always included; besides them a dealer is
    targeted when its tier is one of ``tiers`` (if any are given) and it carries one of
    ``tags`` (if any are given). Only ``dealers`` given: those dealers alone.
    """

    tiers: list[DealerTier] = Field(default_factory=list, max_length=4)
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    dealers: list[DealerCode] = Field(default_factory=list, max_length=1000)


class Budget(RequestModel):
    """Limits a campaign stops at; each unset one is unlimited.

    ``units``: units discounted (or given) over all orders; ``amount``: discount given in
    yuan over all orders; ``uses_per_dealer``: orders per dealer that may use it.
    """

    units: int | None = Field(default=None, ge=1, le=100_000_000)
    amount: Yuan | None = None
    uses_per_dealer: int | None = Field(default=None, ge=1, le=10_000)


class CampaignCreate(RequestModel):
    """A new campaign of the addressed site; it starts as a draft."""

    code: CampaignCode
    type: TypeName
    name: Name
    description: Description | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    priority: Priority = 0
    stacking_group: StackingGroup | None = Field(
        default=None, description="None: exclusive (applies alone); a name: stacks with its group."
    )
    targeting: Targeting = Field(default_factory=Targeting)
    budget: Budget = Field(default_factory=Budget)


class CampaignUpdate(RequestModel):
    """Changes to a draft or not yet started campaign; only the fields sent change
    (``stacking_group: null`` makes it exclusive)."""

    name: Name | None = None
    description: Description | None = None
    config: dict[str, Any] | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    priority: Priority | None = None
    stacking_group: StackingGroup | None = None
    targeting: Targeting | None = None
    budget: Budget | None = None


class CampaignTransition(RequestModel):
    """Move a campaign: publish it (``scheduled``), ``cancelled`` or end it early (``ended``)."""

    to: Literal["scheduled", "cancelled", "ended"]
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


class BudgetOut(BaseModel):
    """A campaign's budgets and what has been drawn from them."""

    units: int | None
    amount: Decimal | None
    uses_per_dealer: int | None
    used_units: int
    used_amount: Decimal


class TargetingOut(BaseModel):
    """Who a campaign is for."""

    tiers: list[str]
    tags: list[str]
    dealers: list[str]


class CampaignOut(BaseModel):
    """A campaign as operators see it."""

    code: str
    type: str
    plugin: str
    name: str
    description: str | None
    config: dict[str, Any]
    state: CampaignState
    starts_at: datetime
    ends_at: datetime
    priority: int
    stacking_group: str | None
    targeting: TargetingOut
    budget: BudgetOut
    template: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class CampaignPage(BaseModel):
    """Campaigns by code, a page at a time."""

    items: list[CampaignOut]
    next_after: str | None


class CampaignTypeOut(BaseModel):
    """A campaign type, whether operators of the addressed site may use it, and its form."""

    name: str
    title: str
    description: str
    plugin: str
    enabled_here: bool
    config_schema: dict[str, Any]


class ForYouItem(BaseModel):
    """A live campaign targeted at the calling dealer, for its home page (shared by the
    requests a cached list serves, so it cannot be changed)."""

    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    description: str | None
    type: str
    title: str
    summary: str
    priority: int
    stacking_group: str | None
    starts_at: datetime
    ends_at: datetime


class TemplateTargeting(RequestModel):
    """A template's segment: dealers are a site's own, so a template names none."""

    tiers: list[DealerTier] = Field(default_factory=list, max_length=4)
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class TemplateCreate(RequestModel):
    """A campaign HQ publishes for sites to copy."""

    code: CampaignCode
    type: TypeName
    name: Name
    description: Description | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    priority: Priority = 0
    stacking_group: StackingGroup | None = None
    targeting: TemplateTargeting = Field(default_factory=TemplateTargeting)
    budget: Budget = Field(default_factory=Budget)


class TemplateOut(BaseModel):
    """A template as every operator sees it."""

    code: str
    type: str
    name: str
    description: str | None
    config: dict[str, Any]
    priority: int
    stacking_group: str | None
    targeting: TargetingOut
    budget: BudgetOut
    created_by: str
    created_at: datetime
    updated_at: datetime


class TemplateCopy(RequestModel):
    """Copy a template into a draft campaign of the addressed site; fields sent here replace
    the template's."""

    code: CampaignCode
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    name: Name | None = None
    priority: Priority | None = None
    targeting: Targeting | None = None
    budget: Budget | None = None
