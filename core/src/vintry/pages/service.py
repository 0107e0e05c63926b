"""Layouts, their publication and rollback, HQ's templates: the logic behind the routes.

Every change is the site operator's own (no HQ approval) and is audited in HQ like any
other. Saving checks the whole layout at once and refuses it naming the first problem's
section, block and field, with every problem listed (:mod:`vintry.pages.layouts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vintry.accounts.principal import Actor
from vintry.audit.service import record_change
from vintry.clock import ensure_utc
from vintry.errors import Conflict, InvalidInput, NotFound
from vintry.pages.layouts import checked, inspect, refuse, sections_in, sections_out
from vintry.pages.models import PageLayout, PageTemplate, PageVersion
from vintry.pages.products import SiteCatalog, site_catalog
from vintry.pages.render import serving_row
from vintry.pages.schemas import (
    BlockTypeOut,
    LayoutCreate,
    LayoutOut,
    LayoutSummary,
    LayoutUpdate,
    PageStatus,
    Problem,
    PublishRequest,
    SectionIn,
    TemplateCopy,
    TemplateCreate,
    TemplateOut,
    TemplateUpdate,
    VersionOut,
    VersionState,
    VersionSummary,
)
from vintry.platform import Platform, SiteContext

PUBLISH_ATTEMPTS = 3


# --- block types -----------------------------------------------------------------------


def block_types(site: SiteContext) -> list[BlockTypeOut]:
    """Every installed block type, whether usable at *site*, and its form's schema."""
    return [
        BlockTypeOut(
            name=name,
            title=block_type.title,
            description=block_type.description,
            plugin=plugin,
            enabled_here=site.is_enabled(plugin),
            config_schema=block_type.config_model.model_json_schema(),
        )
        for name, (plugin, block_type) in sorted(site.platform.plugins.page_blocks().items())
    ]


def block_type(site: SiteContext, name: str) -> BlockTypeOut:
    """Block type *name* (404 ``block_type_not_found``)."""
    for found in block_types(site):
        if found.name == name:
            return found
    raise NotFound(
        f"block type {name!r} does not exist (is its plugin installed?)",
        code="block_type_not_found",
        field="type",
    )


# --- helpers ---------------------------------------------------------------------------


def _catalog(site: SiteContext) -> SiteCatalog:
    directory = site.platform.directory()
    with site.platform.hq.reading() as hq:
        return site_catalog(hq, site, directory)


def _audit(
    hq: Session,
    site: SiteContext,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    now: datetime,
) -> None:
    record_change(
        hq,
        at=now,
        site_id=site.node.id,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
    )


def _stale(site: SiteContext, raw: Sequence[dict[str, Any]]) -> list[Problem]:
    """What no longer holds in stored sections (they were valid when saved)."""
    _, problems = inspect(site.platform, sections_in(raw), _catalog(site), site=site)
    return problems


def _check_revision(current: int, sent: int | None, what: str) -> None:
    if sent is not None and sent != current:
        raise Conflict(
            f"{what} was saved by someone else since revision {sent} (now {current}): "
            "read it again",
            code="layout_changed",
            field="revision",
            details={"revision": current},
        )


# --- layouts ---------------------------------------------------------------------------


def _layout_out(layout: PageLayout, problems: list[Problem]) -> LayoutOut:
    return LayoutOut(
        code=layout.code,
        page=layout.page,
        title=layout.title,
        template=layout.template,
        revision=layout.revision,
        sections=sections_out(layout.sections),
        problems=problems,
        created_by=layout.created_by,
        created_at=ensure_utc(layout.created_at),
        updated_by=layout.updated_by,
        updated_at=ensure_utc(layout.updated_at),
    )


def _find_layout(session: Session, code: str, *, for_update: bool = False) -> PageLayout:
    query = select(PageLayout).where(PageLayout.code == code)
    if for_update:
        query = query.with_for_update()
    layout = session.scalar(query)
    if layout is None:
        raise NotFound(f"layout {code!r} does not exist", code="layout_not_found", field="layout")
    return layout


def list_layouts(site: SiteContext, page: str | None = None) -> list[LayoutSummary]:
    """The site's draft layouts by code (optionally of one page)."""
    with site.database.reading() as session:
        query = select(PageLayout).order_by(PageLayout.code)
        if page is not None:
            query = query.where(PageLayout.page == page)
        return [
            LayoutSummary(
                code=layout.code,
                page=layout.page,
                title=layout.title,
                template=layout.template,
                revision=layout.revision,
                blocks=sum(len(section.get("blocks", ())) for section in layout.sections),
                updated_by=layout.updated_by,
                updated_at=ensure_utc(layout.updated_at),
            )
            for layout in session.scalars(query)
        ]


def get_layout(site: SiteContext, code: str) -> LayoutOut:
    """Layout *code* with what went stale in it since it was saved."""
    with site.database.reading() as session:
        layout = _find_layout(session, code)
    return _layout_out(layout, _stale(site, layout.sections))


def create_layout(
    site: SiteContext,
    request: LayoutCreate,
    *,
    actor: Actor,
    template: str | None = None,
) -> LayoutOut:
    """A new draft layout of *site* (422 naming the first problem; 409 ``layout_exists``)."""
    platform = site.platform
    now = platform.clock.now()
    sections = checked(platform, request.sections, _catalog(site), site=site)
    with platform.hq.transaction() as hq, site.database.transaction() as session:
        if session.scalar(select(PageLayout.id).where(PageLayout.code == request.code)):
            raise Conflict(
                f"layout {request.code!r} already exists at site {site.code!r}",
                code="layout_exists",
                field="code",
            )
        layout = PageLayout(
            code=request.code,
            page=request.page,
            title=request.title,
            sections=sections,
            template=template,
            revision=1,
            created_by=actor.name,
            created_at=now,
            updated_by=actor.name,
            updated_at=now,
        )
        session.add(layout)
        session.flush()
        out = _layout_out(layout, [])
        _audit(
            hq,
            site,
            actor,
            "page_layout.create",
            "page_layout",
            layout.code,
            None,
            out.model_dump(mode="json"),
            now,
        )
    return out


def update_layout(
    site: SiteContext, code: str, request: LayoutUpdate, *, actor: Actor
) -> LayoutOut:
    """Save a new title and/or sections of draft *code* (checked like a new layout)."""
    platform = site.platform
    now = platform.clock.now()
    sections = (
        None
        if request.sections is None
        else checked(platform, request.sections, _catalog(site), site=site)
    )
    with platform.hq.transaction() as hq, site.database.transaction() as session:
        layout = _find_layout(session, code, for_update=True)
        _check_revision(layout.revision, request.revision, f"layout {code!r}")
        before = _layout_out(layout, []).model_dump(mode="json")
        if request.title is not None:
            layout.title = request.title
        if sections is not None:
            layout.sections = sections
        layout.revision += 1
        layout.updated_by = actor.name
        layout.updated_at = now
        session.flush()
        out = _layout_out(layout, [])
        _audit(
            hq,
            site,
            actor,
            "page_layout.update",
            "page_layout",
            code,
            before,
            out.model_dump(mode="json"),
            now,
        )
    return out


def delete_layout(site: SiteContext, code: str, revision: int, *, actor: Actor) -> None:
    """Delete draft *code* at *revision* (409 ``layout_changed`` if it was saved since);
    the versions published from it stay (and keep serving)."""
    platform = site.platform
    now = platform.clock.now()
    with platform.hq.transaction() as hq, site.database.transaction() as session:
        layout = _find_layout(session, code, for_update=True)
        _check_revision(layout.revision, revision, f"layout {code!r}")
        before = _layout_out(layout, []).model_dump(mode="json")
        session.delete(layout)
        _audit(hq, site, actor, "page_layout.delete", "page_layout", code, before, None, now)


# --- publication -----------------------------------------------------------------------


def _state(version: PageVersion, serving_id: int | None, now: datetime) -> VersionState:
    if version.withdrawn_at is not None:
        return "withdrawn"
    if version.id == serving_id:
        return "serving"
    if ensure_utc(version.starts_at) > now:
        return "scheduled"
    if version.ends_at is not None and ensure_utc(version.ends_at) <= now:
        return "ended"
    return "superseded"


def _summary(version: PageVersion, state: VersionState) -> VersionSummary:
    return VersionSummary(
        page=version.page,
        number=version.number,
        layout=version.layout,
        title=version.title,
        state=state,
        starts_at=ensure_utc(version.starts_at),
        ends_at=None if version.ends_at is None else ensure_utc(version.ends_at),
        published_by=version.published_by,
        published_at=ensure_utc(version.published_at),
        withdrawn_at=None if version.withdrawn_at is None else ensure_utc(version.withdrawn_at),
        withdrawn_by=version.withdrawn_by,
        withdraw_reason=version.withdraw_reason,
    )


def _window(request: PublishRequest, now: datetime) -> tuple[datetime, datetime | None]:
    starts_at = now if request.starts_at is None else ensure_utc(request.starts_at)
    ends_at = None if request.ends_at is None else ensure_utc(request.ends_at)
    if ends_at is not None and ends_at <= starts_at:
        raise InvalidInput(
            "ends_at must be after starts_at", code="invalid_window", field="ends_at"
        )
    if ends_at is not None and ends_at <= now:
        raise InvalidInput("the window is already over", code="invalid_window", field="ends_at")
    return starts_at, ends_at


def _new_version(
    site: SiteContext,
    *,
    page: str,
    layout: str,
    title: str,
    sections: list[dict[str, Any]],
    request: PublishRequest,
    actor: Actor,
) -> VersionOut:
    platform = site.platform
    now = platform.clock.now()
    starts_at, ends_at = _window(request, now)
    for attempt in range(PUBLISH_ATTEMPTS):
        try:
            with platform.hq.transaction() as hq, site.database.transaction() as session:
                last = session.scalar(
                    select(func.max(PageVersion.number)).where(PageVersion.page == page)
                )
                version = PageVersion(
                    page=page,
                    number=(last or 0) + 1,
                    layout=layout,
                    title=title,
                    sections=sections,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    published_by=actor.name,
                    published_at=now,
                )
                session.add(version)
                session.flush()
                serving = serving_row(session, page, now)
                out = VersionOut(
                    **_summary(
                        version, _state(version, serving.id if serving else None, now)
                    ).model_dump(),
                    sections=sections_out(sections),
                    problems=[],
                )
                _audit(
                    hq,
                    site,
                    actor,
                    "page.publish",
                    "page_version",
                    f"{page}/{version.number}",
                    None,
                    out.model_dump(mode="json"),
                    now,
                )
            return out
        except IntegrityError:  # two publications took the same number: count again
            if attempt == PUBLISH_ATTEMPTS - 1:
                raise Conflict(
                    f"page {page!r} is being published by someone else: try again",
                    code="publish_conflict",
                ) from None
    raise AssertionError("unreachable")


def publish(site: SiteContext, code: str, request: PublishRequest, *, actor: Actor) -> VersionOut:
    """Publish draft *code* as the next version of its page, now or in a window.

    The draft is checked again (it may have gone stale since it was saved): a published
    version is always valid when it is published.
    """
    with site.database.reading() as session:
        layout = _find_layout(session, code)
    sections = checked(site.platform, sections_in(layout.sections), _catalog(site), site=site)
    return _new_version(
        site,
        page=layout.page,
        layout=layout.code,
        title=layout.title,
        sections=sections,
        request=request,
        actor=actor,
    )


def _versions(session: Session, page: str) -> list[PageVersion]:
    return list(
        session.scalars(
            select(PageVersion).where(PageVersion.page == page).order_by(PageVersion.number.desc())
        )
    )


def _next_change(versions: Sequence[PageVersion], now: datetime) -> datetime | None:
    moments = [
        moment
        for version in versions
        if version.withdrawn_at is None
        for moment in (
            ensure_utc(version.starts_at),
            None if version.ends_at is None else ensure_utc(version.ends_at),
        )
        if moment is not None and moment > now
    ]
    return min(moments, default=None)


def page_status(site: SiteContext, page: str) -> PageStatus:
    """Which version of *page* serves now (or HQ's default), when that changes next, and
    every version published, newest first."""
    now = site.platform.clock.now()
    with site.database.reading() as session:
        serving = serving_row(session, page, now)
        versions = _versions(session, page)
    serving_id = serving.id if serving else None
    template = None
    if serving is None:
        template = _default_template_code(site.platform, page)
    return PageStatus(
        page=page,
        source="site" if serving else ("hq_default" if template else "none"),
        serving=None if serving is None else _summary(serving, "serving"),
        template=template,
        next_change_at=_next_change(versions, now),
        versions=[_summary(v, _state(v, serving_id, now)) for v in versions],
    )


def _find_version(session: Session, page: str, number: int) -> PageVersion:
    version = session.scalar(
        select(PageVersion).where(PageVersion.page == page, PageVersion.number == number)
    )
    if version is None:
        raise NotFound(
            f"page {page!r} has no version {number}",
            code="page_version_not_found",
            field="number",
        )
    return version


def get_version(site: SiteContext, page: str, number: int) -> VersionOut:
    """Version *number* of *page* as published, with what went stale in it since."""
    now = site.platform.clock.now()
    with site.database.reading() as session:
        version = _find_version(session, page, number)
        serving = serving_row(session, page, now)
    state = _state(version, serving.id if serving else None, now)
    return VersionOut(
        **_summary(version, state).model_dump(),
        sections=sections_out(version.sections),
        problems=_stale(site, version.sections),
    )


def _withdraw(
    site: SiteContext,
    page: str,
    pick: Any,
    *,
    actor: Actor,
    reason: str,
    action: str,
) -> PageStatus:
    platform = site.platform
    now = platform.clock.now()
    with platform.hq.transaction() as hq, site.database.transaction() as session:
        version: PageVersion = pick(session, now)
        done = session.execute(
            update(PageVersion)
            .where(PageVersion.id == version.id, PageVersion.withdrawn_at.is_(None))
            .values(withdrawn_at=now, withdrawn_by=actor.name, withdraw_reason=reason)
        )
        if done.rowcount:  # type: ignore[attr-defined]  # (0: already withdrawn, a no-op)
            _audit(
                hq,
                site,
                actor,
                action,
                "page_version",
                f"{page}/{version.number}",
                {"state": "published"},
                {"state": "withdrawn", "reason": reason},
                now,
            )
    return page_status(site, page)


def rollback(
    site: SiteContext, page: str, version: int, *, actor: Actor, reason: str
) -> PageStatus:
    """Withdraw version *version* of *page*, which must be the one serving now: the one it
    replaced serves again (HQ's default when there is none). 409 ``nothing_to_roll_back``
    when no version serves, ``page_changed`` when another one does."""

    def serving_now(session: Session, now: datetime) -> PageVersion:
        serving = serving_row(session, page, now)
        if serving is None:
            raise Conflict(
                f"no version of page {page!r} serves at this site: nothing to roll back",
                code="nothing_to_roll_back",
            )
        if serving.number != version:
            raise Conflict(
                f"version {serving.number} of page {page!r} serves now, not {version}: "
                "read the page's status again",
                code="page_changed",
                field="version",
                details={"serving": serving.number},
            )
        return serving

    return _withdraw(site, page, serving_now, actor=actor, reason=reason, action="page.rollback")


def withdraw(site: SiteContext, page: str, number: int, *, actor: Actor) -> PageStatus:
    """Withdraw version *number* (a scheduled festival layout called off, say); withdrawing
    it again changes nothing (idempotent)."""
    return _withdraw(
        site,
        page,
        lambda session, _now: _find_version(session, page, number),
        actor=actor,
        reason="withdrawn",
        action="page.withdraw",
    )


def republish(
    site: SiteContext, page: str, number: int, request: PublishRequest, *, actor: Actor
) -> VersionOut:
    """Publish version *number*'s sections again as a new version (checked again)."""
    with site.database.reading() as session:
        old = _find_version(session, page, number)
    sections = checked(site.platform, sections_in(old.sections), _catalog(site), site=site)
    return _new_version(
        site,
        page=page,
        layout=old.layout,
        title=old.title,
        sections=sections,
        request=request,
        actor=actor,
    )


# --- HQ's templates --------------------------------------------------------------------


def _template_out(template: PageTemplate) -> TemplateOut:
    return TemplateOut(
        code=template.code,
        page=template.page,
        title=template.title,
        description=template.description,
        is_default=template.is_default,
        revision=template.revision,
        sections=sections_out(template.sections),
        created_by=template.created_by,
        created_at=ensure_utc(template.created_at),
        updated_at=ensure_utc(template.updated_at),
    )


def _find_template(session: Session, code: str, *, for_update: bool = False) -> PageTemplate:
    query = select(PageTemplate).where(PageTemplate.code == code)
    if for_update:
        query = query.with_for_update()
    template = session.scalar(query)
    if template is None:
        raise NotFound(
            f"page template {code!r} does not exist",
            code="page_template_not_found",
            field="template",
        )
    return template


def _default_template_code(platform: Platform, page: str) -> str | None:
    with platform.root_site().database.reading() as session:
        return session.scalar(
            select(PageTemplate.code).where(
                PageTemplate.page == page, PageTemplate.is_default.is_(True)
            )
        )


def _template_sections(platform: Platform, sections: Sequence[SectionIn]) -> list[dict[str, Any]]:
    """Templates are checked against what HQ offers; block types need only be installed
    (each site's copy is checked against its own plugins and assortment)."""
    root = platform.root_site()
    return checked(platform, sections, _catalog(root), site=None)


def _only_default(session: Session, template: PageTemplate) -> None:
    if template.is_default:
        session.execute(
            update(PageTemplate)
            .where(PageTemplate.page == template.page, PageTemplate.id != template.id)
            .values(is_default=False)
        )


def list_templates(platform: Platform) -> list[TemplateOut]:
    """Every page template HQ published, by code."""
    with platform.root_site().database.reading() as session:
        rows = session.scalars(select(PageTemplate).order_by(PageTemplate.code))
        return [_template_out(row) for row in rows]


def get_template(platform: Platform, code: str) -> TemplateOut:
    """Template *code* (404 ``page_template_not_found``)."""
    with platform.root_site().database.reading() as session:
        return _template_out(_find_template(session, code))


def create_template(platform: Platform, request: TemplateCreate, *, actor: Actor) -> TemplateOut:
    """Publish a template for sites to copy; ``is_default`` makes it the page every site
    without a published layout shows (and unmarks the previous default)."""
    root = platform.root_site()
    now = platform.clock.now()
    sections = _template_sections(platform, request.sections)
    with platform.hq.transaction() as hq, root.database.transaction() as session:
        if session.scalar(select(PageTemplate.id).where(PageTemplate.code == request.code)):
            raise Conflict(
                f"page template {request.code!r} already exists",
                code="page_template_exists",
                field="code",
            )
        template = PageTemplate(
            code=request.code,
            page=request.page,
            title=request.title,
            description=request.description,
            sections=sections,
            is_default=request.is_default,
            revision=1,
            created_by=actor.name,
            created_at=now,
            updated_at=now,
        )
        session.add(template)
        session.flush()
        _only_default(session, template)
        out = _template_out(template)
        _audit(
            hq,
            root,
            actor,
            "page_template.create",
            "page_template",
            template.code,
            None,
            out.model_dump(mode="json"),
            now,
        )
    return out


def update_template(
    platform: Platform, code: str, request: TemplateUpdate, *, actor: Actor
) -> TemplateOut:
    """Change template *code*; sites showing it as HQ's default see the change at once,
    copies already made are theirs and do not change."""
    root = platform.root_site()
    now = platform.clock.now()
    sections = None if request.sections is None else _template_sections(platform, request.sections)
    with platform.hq.transaction() as hq, root.database.transaction() as session:
        template = _find_template(session, code, for_update=True)
        _check_revision(template.revision, request.revision, f"page template {code!r}")
        before = _template_out(template).model_dump(mode="json")
        if request.title is not None:
            template.title = request.title
        if "description" in request.model_fields_set:
            template.description = request.description
        if sections is not None:
            template.sections = sections
        if request.is_default is not None:
            template.is_default = request.is_default
        template.revision += 1
        template.updated_at = now
        session.flush()
        _only_default(session, template)
        out = _template_out(template)
        _audit(
            hq,
            root,
            actor,
            "page_template.update",
            "page_template",
            code,
            before,
            out.model_dump(mode="json"),
            now,
        )
    return out


def delete_template(platform: Platform, code: str, revision: int, *, actor: Actor) -> None:
    """Delete template *code* at *revision* (409 ``layout_changed`` if changed since);
    sites' copies stay theirs."""
    root = platform.root_site()
    now = platform.clock.now()
    with platform.hq.transaction() as hq, root.database.transaction() as session:
        template = _find_template(session, code, for_update=True)
        _check_revision(template.revision, revision, f"page template {code!r}")
        before = _template_out(template).model_dump(mode="json")
        session.delete(template)
        _audit(hq, root, actor, "page_template.delete", "page_template", code, before, None, now)


def copy_template(
    site: SiteContext, code: str, request: TemplateCopy, *, actor: Actor
) -> LayoutOut:
    """A draft layout of *site* made from template *code*, checked for this site (its
    plugins, its assortment). With ``drop_unusable``, the blocks that do not hold here are
    left out and listed in ``problems``; without it the copy is refused naming them."""
    with site.platform.root_site().database.reading() as session:
        template = _find_template(session, code)
    sections = sections_in(template.sections)
    _, problems = inspect(site.platform, sections, _catalog(site), site=site)
    if problems and not request.drop_unusable:
        raise refuse(problems)
    dropped = {p.block for p in problems if p.block is not None}
    kept = [
        section.model_copy(update={"blocks": [b for b in section.blocks if b.key not in dropped]})
        for section in sections
    ]
    out = create_layout(
        site,
        LayoutCreate(
            code=request.code,
            title=request.title or template.title,
            page=template.page,
            sections=kept,
        ),
        actor=actor,
        template=template.code,
    )
    return out.model_copy(update={"problems": problems})
