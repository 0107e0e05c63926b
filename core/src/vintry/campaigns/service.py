"""Creating and running campaigns, and HQ's templates: the logic behind the routes.

A campaign belongs to the site whose database holds it and is made by that site's operator
with no HQ approval, of a type whose plugin is enabled there; its configuration is
validated by the type's model and held against HQ's price floors (:mod:`.guardrails`).
Every change is audited in HQ's log (who, when, before and after); the audit entry and the
change commit together as far as two databases allow: the site transaction commits inside
the HQ one, so a refused change leaves neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from vintry.accounts.principal import Actor
from vintry.audit.service import record_change
from vintry.campaigns import published
from vintry.campaigns.guardrails import check_campaign
from vintry.campaigns.models import Campaign, CampaignState, CampaignStatus, CampaignTemplate
from vintry.campaigns.registry import config_json, find_type, usable_type, validate_config
from vintry.campaigns.schemas import (
    Budget,
    BudgetOut,
    CampaignCreate,
    CampaignOut,
    CampaignPage,
    CampaignTransition,
    CampaignUpdate,
    Targeting,
    TargetingOut,
    TemplateCopy,
    TemplateCreate,
    TemplateOut,
)
from vintry.campaigns.selection import state_of
from vintry.clock import ensure_utc
from vintry.dealers.models import Dealer
from vintry.errors import Conflict, InvalidInput, NotFound
from vintry.money import from_fen, to_fen
from vintry.platform import Platform, SiteContext

EDITABLE = frozenset({CampaignState.DRAFT, CampaignState.SCHEDULED})
TRANSITIONS: dict[str, frozenset[CampaignState]] = {
    CampaignStatus.SCHEDULED.value: frozenset({CampaignState.DRAFT}),
    CampaignStatus.CANCELLED.value: frozenset(
        {CampaignState.DRAFT, CampaignState.SCHEDULED, CampaignState.LIVE}
    ),
    CampaignStatus.ENDED.value: frozenset({CampaignState.LIVE}),
}
"""Stored status an operator may move a campaign to → the states it may start from."""


# --- views ---------------------------------------------------------------------------


def _budget_out(row: Campaign | CampaignTemplate) -> BudgetOut:
    used_units = row.used_units if isinstance(row, Campaign) else 0
    used_fen = row.used_amount_fen if isinstance(row, Campaign) else 0
    return BudgetOut(
        units=row.budget_units,
        amount=None if row.budget_amount_fen is None else from_fen(row.budget_amount_fen),
        uses_per_dealer=row.uses_per_dealer,
        used_units=used_units,
        used_amount=from_fen(used_fen),
    )


def campaign_out(campaign: Campaign, now: datetime) -> CampaignOut:
    """The API view of *campaign* at *now*."""
    return CampaignOut(
        code=campaign.code,
        type=campaign.type,
        plugin=campaign.plugin,
        name=campaign.name,
        description=campaign.description,
        config=campaign.config,
        state=state_of(campaign, now),
        starts_at=ensure_utc(campaign.starts_at),
        ends_at=ensure_utc(campaign.ends_at),
        priority=campaign.priority,
        stacking_group=campaign.stacking_group,
        targeting=TargetingOut(
            tiers=list(campaign.target_tiers),
            tags=list(campaign.target_tags),
            dealers=list(campaign.target_dealers),
        ),
        budget=_budget_out(campaign),
        template=campaign.template,
        created_by=campaign.created_by,
        created_at=ensure_utc(campaign.created_at),
        updated_at=ensure_utc(campaign.updated_at),
    )


def template_out(template: CampaignTemplate) -> TemplateOut:
    """The API view of *template*."""
    return TemplateOut(
        code=template.code,
        type=template.type,
        name=template.name,
        description=template.description,
        config=template.config,
        priority=template.priority,
        stacking_group=template.stacking_group,
        targeting=TargetingOut(
            tiers=list(template.target_tiers), tags=list(template.target_tags), dealers=[]
        ),
        budget=_budget_out(template),
        created_by=template.created_by,
        created_at=ensure_utc(template.created_at),
        updated_at=ensure_utc(template.updated_at),
    )


def _snapshot(campaign: Campaign) -> dict[str, Any]:
    """What the audit log records of a campaign, before and after a change."""
    return {
        "type": campaign.type,
        "name": campaign.name,
        "description": campaign.description,
        "config": campaign.config,
        "status": campaign.status,
        "starts_at": ensure_utc(campaign.starts_at).isoformat(),
        "ends_at": ensure_utc(campaign.ends_at).isoformat(),
        "priority": campaign.priority,
        "stacking_group": campaign.stacking_group,
        "targeting": {
            "tiers": list(campaign.target_tiers),
            "tags": list(campaign.target_tags),
            "dealers": list(campaign.target_dealers),
        },
        "budget": {
            "units": campaign.budget_units,
            "amount_fen": campaign.budget_amount_fen,
            "uses_per_dealer": campaign.uses_per_dealer,
        },
        "template": campaign.template,
    }


# --- checks --------------------------------------------------------------------------


def _check_window(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    if ends_at <= starts_at:
        raise InvalidInput(
            "a campaign ends after it starts", code="invalid_window", field="ends_at"
        )
    if ends_at <= now:
        raise InvalidInput(
            f"the window ends at {ends_at.isoformat()}, which has already passed",
            code="window_in_past",
            field="ends_at",
        )


def _check_dealers(platform: Platform, site: SiteContext, codes: Sequence[str]) -> None:
    if not codes:
        return
    with platform.hq.reading() as session:
        found = set(
            session.scalars(
                select(Dealer.code).where(
                    Dealer.code.in_(list(codes)), Dealer.site_id == site.node.id
                )
            )
        )
    for index, code in enumerate(codes):
        if code not in found:
            raise NotFound(
                f"dealer {code!r} is not a dealer of site {site.code!r}",
                code="dealer_not_found",
                field=f"targeting.dealers.{index}",
            )


def _find(session: Session, code: str, *, for_update: bool = False) -> Campaign:
    query = select(Campaign).where(Campaign.code == code)
    if for_update:
        query = query.with_for_update()
    campaign = session.scalar(query)
    if campaign is None:
        raise NotFound(f"campaign {code!r} does not exist", code="campaign_not_found", field="code")
    return campaign


def _audit(
    session: Session,
    site: SiteContext,
    actor: Actor,
    action: str,
    code: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    now: datetime,
    object_type: str = "campaign",
) -> None:
    record_change(
        session,
        at=now,
        site_id=site.node.id,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=code,
        before=before,
        after=after,
    )


def _apply_budget(row: Campaign | CampaignTemplate, budget: Budget) -> None:
    row.budget_units = budget.units
    row.budget_amount_fen = None if budget.amount is None else to_fen(budget.amount)
    row.uses_per_dealer = budget.uses_per_dealer


def _apply_targeting(campaign: Campaign, targeting: Targeting) -> None:
    campaign.target_tiers = [tier.value for tier in targeting.tiers]
    campaign.target_tags = list(dict.fromkeys(targeting.tags))
    campaign.target_dealers = list(dict.fromkeys(targeting.dealers))


# --- campaigns -----------------------------------------------------------------------


def create_campaign(
    site: SiteContext, request: CampaignCreate, *, actor: Actor, template: str | None = None
) -> CampaignOut:
    """Create a draft campaign at *site* (the operator's own decision; audited).

    Refused with 422 when the type's plugin is not enabled here, the configuration is
    invalid, the window is empty or past, a targeted dealer is not the site's, or the
    campaign could price a SKU under HQ's floor; 409 ``campaign_exists`` for a taken code.
    """
    platform = site.platform
    now = platform.clock.now()
    plugin, campaign_type = usable_type(site, request.type)
    config = validate_config(campaign_type, request.config)
    _check_window(request.starts_at, request.ends_at, now)
    _check_dealers(platform, site, request.targeting.dealers)
    check_campaign(site, campaign_type, config)
    with platform.hq.transaction() as hq, site.database.transaction() as session:
        if session.scalar(select(Campaign.id).where(Campaign.code == request.code)) is not None:
            raise Conflict(
                f"campaign {request.code!r} already exists at site {site.code!r}",
                code="campaign_exists",
                field="code",
            )
        campaign = Campaign(
            code=request.code,
            type=request.type,
            plugin=plugin,
            name=request.name,
            description=request.description,
            config=config_json(config),
            status=CampaignStatus.DRAFT.value,
            starts_at=request.starts_at,
            ends_at=request.ends_at,
            priority=request.priority,
            stacking_group=request.stacking_group,
            used_units=0,
            used_amount_fen=0,
            template=template,
            created_by=actor.name,
            created_at=now,
            updated_at=now,
        )
        _apply_targeting(campaign, request.targeting)
        _apply_budget(campaign, request.budget)
        session.add(campaign)
        session.flush()
        _audit(hq, site, actor, "campaign.create", campaign.code, None, _snapshot(campaign), now)
        out = campaign_out(campaign, now)
    platform.emit("campaign.changed", site.code, {"campaign": out.code, "action": "create"})
    return out


def update_campaign(
    site: SiteContext, code: str, request: CampaignUpdate, *, actor: Actor
) -> CampaignOut:
    """Change a draft or not yet started campaign; only the fields sent change.

    A campaign that is live, ended or cancelled is refused with 409
    ``campaign_not_editable`` (end or cancel it instead); the result is validated like a
    new campaign. An empty change changes nothing and is not audited.
    """
    platform = site.platform
    now = platform.clock.now()
    sent = request.model_fields_set
    with site.database.reading() as session:
        current = _find(session, code)
    if not sent:
        return campaign_out(current, now)
    state = state_of(current, now)
    if state not in EDITABLE:
        raise Conflict(
            f"campaign {code!r} is {state.value}; only a draft or scheduled campaign changes",
            code="campaign_not_editable",
            details={"state": state.value},
        )
    _, campaign_type = usable_type(site, current.type)
    config = validate_config(
        campaign_type, request.config if request.config is not None else current.config
    )
    starts_at = request.starts_at or ensure_utc(current.starts_at)
    ends_at = request.ends_at or ensure_utc(current.ends_at)
    _check_window(starts_at, ends_at, now)
    if request.targeting is not None:
        _check_dealers(platform, site, request.targeting.dealers)
    check_campaign(site, campaign_type, config)
    with platform.hq.transaction() as hq, site.database.transaction() as session:
        campaign = _find(session, code, for_update=True)
        if campaign.status != current.status or state_of(campaign, now) not in EDITABLE:
            raise Conflict(
                f"campaign {code!r} changed state meanwhile; read it again",
                code="campaign_not_editable",
            )
        before = _snapshot(campaign)
        if "name" in sent and request.name is not None:
            campaign.name = request.name
        if "description" in sent:
            campaign.description = request.description
        campaign.config = config_json(config)
        campaign.starts_at, campaign.ends_at = starts_at, ends_at
        if "priority" in sent and request.priority is not None:
            campaign.priority = request.priority
        if "stacking_group" in sent:
            campaign.stacking_group = request.stacking_group
        if request.targeting is not None:
            _apply_targeting(campaign, request.targeting)
        if request.budget is not None:
            _apply_budget(campaign, request.budget)
        after = _snapshot(campaign)
        if after != before:
            campaign.updated_at = now
            _audit(hq, site, actor, "campaign.update", code, before, after, now)
        out = campaign_out(campaign, now)
    platform.emit("campaign.changed", site.code, {"campaign": code, "action": "update"})
    return out


def transition_campaign(
    site: SiteContext, code: str, request: CampaignTransition, *, actor: Actor
) -> CampaignOut:
    """Publish (``scheduled``: live once its window opens), cancel, or end a live campaign
    early. Anything else is 409 ``illegal_transition`` with ``details.from``/``to``.

    Publishing checks the campaign again as it would be created (type enabled here,
    configuration, floors), since prices and floors may have moved since it was drafted.
    """
    platform = site.platform
    now = platform.clock.now()
    target = request.to
    with site.database.reading() as session:
        current = _find(session, code)
    state = state_of(current, now)
    if state not in TRANSITIONS[target]:
        raise Conflict(
            f"campaign {code!r} is {state.value} and cannot become {target}",
            code="illegal_transition",
            details={"from": state.value, "to": target},
        )
    if target == CampaignStatus.SCHEDULED.value:
        _, campaign_type = usable_type(site, current.type)
        config = validate_config(campaign_type, current.config)
        _check_window(ensure_utc(current.starts_at), ensure_utc(current.ends_at), now)
        check_campaign(site, campaign_type, config)
    with platform.hq.transaction() as hq, site.database.transaction() as session:
        campaign = _find(session, code, for_update=True)
        before = _snapshot(campaign)
        values: dict[str, Any] = {"status": target, "updated_at": now}
        if target == CampaignStatus.ENDED.value:
            # Ended now: the window closes, so the stored row says what happened.
            values["ends_at"] = max(now, ensure_utc(campaign.starts_at) + timedelta(microseconds=1))
        moved = session.execute(
            update(Campaign)
            .where(Campaign.id == campaign.id, Campaign.status == current.status)
            .values(**values)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(
                f"campaign {code!r} changed state meanwhile; read it again",
                code="illegal_transition",
                details={"from": campaign.status, "to": target},
            )
        published.bump(session)
        session.refresh(campaign)
        after = _snapshot(campaign)
        if request.reason:
            after["reason"] = request.reason
        _audit(hq, site, actor, f"campaign.{target}", code, before, after, now)
        out = campaign_out(campaign, now)
    platform.emit(
        "campaign.changed",
        site.code,
        {"campaign": code, "action": target, "from": state.value, "to": out.state.value},
    )
    return out


def get_campaign(site: SiteContext, code: str) -> CampaignOut:
    """Campaign *code* of *site* (404 ``campaign_not_found``)."""
    with site.database.reading() as session:
        return campaign_out(_find(session, code), site.platform.clock.now())


def _state_condition(state: CampaignState, now: datetime) -> ColumnElement[bool]:
    scheduled = Campaign.status == CampaignStatus.SCHEDULED.value
    match state:
        case CampaignState.DRAFT:
            return Campaign.status == CampaignStatus.DRAFT.value
        case CampaignState.CANCELLED:
            return Campaign.status == CampaignStatus.CANCELLED.value
        case CampaignState.SCHEDULED:
            return and_(scheduled, Campaign.starts_at > now)
        case CampaignState.LIVE:
            return and_(scheduled, Campaign.starts_at <= now, Campaign.ends_at > now)
        case CampaignState.ENDED:
            return or_(
                Campaign.status == CampaignStatus.ENDED.value,
                and_(scheduled, Campaign.ends_at <= now),
            )


def list_campaigns(
    site: SiteContext,
    *,
    state: CampaignState | None = None,
    type_name: str | None = None,
    after: str | None = None,
    limit: int = 100,
) -> CampaignPage:
    """The site's campaigns by code, a page at a time, optionally in one state or type."""
    now = site.platform.clock.now()
    query = select(Campaign).order_by(Campaign.code).limit(limit + 1)
    if state is not None:
        query = query.where(_state_condition(state, now))
    if type_name is not None:
        query = query.where(Campaign.type == type_name)
    if after is not None:
        query = query.where(Campaign.code > after)
    with site.database.reading() as session:
        rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return CampaignPage(
        items=[campaign_out(row, now) for row in rows],
        next_after=rows[-1].code if more else None,
    )


# --- HQ's templates --------------------------------------------------------------------


def _find_template(session: Session, code: str) -> CampaignTemplate:
    template = session.scalar(select(CampaignTemplate).where(CampaignTemplate.code == code))
    if template is None:
        raise NotFound(
            f"campaign template {code!r} does not exist",
            code="campaign_template_not_found",
            field="template",
        )
    return template


def create_template(platform: Platform, request: TemplateCreate, *, actor: Actor) -> TemplateOut:
    """Publish a template for every site to copy (HQ's; kept in the root site's database).

    The configuration is validated by the type and held against the floors set at HQ,
    which bind every site; each copy is checked again against its own site's floors.
    """
    root = platform.root_site()
    now = platform.clock.now()
    _, campaign_type = find_type(platform, request.type)
    config = validate_config(campaign_type, request.config)
    check_campaign(root, campaign_type, config)
    with platform.hq.transaction() as hq, root.database.transaction() as session:
        taken = select(CampaignTemplate.id).where(CampaignTemplate.code == request.code)
        if session.scalar(taken) is not None:
            raise Conflict(
                f"campaign template {request.code!r} already exists",
                code="campaign_template_exists",
                field="code",
            )
        template = CampaignTemplate(
            code=request.code,
            type=request.type,
            name=request.name,
            description=request.description,
            config=config_json(config),
            priority=request.priority,
            stacking_group=request.stacking_group,
            target_tiers=[tier.value for tier in request.targeting.tiers],
            target_tags=list(dict.fromkeys(request.targeting.tags)),
            created_by=actor.name,
            created_at=now,
            updated_at=now,
        )
        _apply_budget(template, request.budget)
        session.add(template)
        session.flush()
        out = template_out(template)
        _audit(
            hq,
            root,
            actor,
            "campaign_template.create",
            template.code,
            None,
            out.model_dump(mode="json"),
            now,
            object_type="campaign_template",
        )
    return out


def list_templates(platform: Platform) -> list[TemplateOut]:
    """Every template HQ published, by code."""
    with platform.root_site().database.reading() as session:
        rows = session.scalars(select(CampaignTemplate).order_by(CampaignTemplate.code))
        return [template_out(row) for row in rows]


def get_template(platform: Platform, code: str) -> TemplateOut:
    """Template *code* (404 ``campaign_template_not_found``)."""
    with platform.root_site().database.reading() as session:
        return template_out(_find_template(session, code))


def copy_template(
    site: SiteContext, code: str, request: TemplateCopy, *, actor: Actor
) -> CampaignOut:
    """A draft campaign of *site* made from template *code*, with the window and any
    overrides sent; checked like any new campaign (the type must be enabled here)."""
    with site.platform.root_site().database.reading() as session:
        template = _find_template(session, code)
    budget = request.budget or Budget(
        units=template.budget_units,
        amount=None if template.budget_amount_fen is None else from_fen(template.budget_amount_fen),
        uses_per_dealer=template.uses_per_dealer,
    )
    targeting = request.targeting or Targeting.model_validate(
        {"tiers": template.target_tiers, "tags": template.target_tags}
    )
    create = CampaignCreate(
        code=request.code,
        type=template.type,
        name=request.name or template.name,
        description=template.description,
        config=template.config,
        starts_at=request.starts_at,
        ends_at=request.ends_at,
        priority=template.priority if request.priority is None else request.priority,
        stacking_group=template.stacking_group,
        targeting=targeting,
        budget=budget,
    )
    return create_campaign(site, create, actor=actor, template=template.code)
