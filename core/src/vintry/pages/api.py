"""Routes of page decoration: operators design their site's pages, HQ publishes templates,
dealers get their home page rendered in one call. A thin layer over
:mod:`vintry.pages.service` and :mod:`vintry.pages.render`."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic_core import to_json
from sqlalchemy import select

from vintry.accounts.permissions import Permission
from vintry.api.security import RequestScope, authorize
from vintry.clock import ensure_utc
from vintry.contracts import DealerView, PageEvent
from vintry.dealers.models import Dealer
from vintry.errors import InvalidInput, NotFound, PermissionDenied
from vintry.pages import service
from vintry.pages.layouts import ParsedLayout, parse
from vintry.pages.models import PageLayout, PageVersion
from vintry.pages.render import (
    Serving,
    default_template,
    render_layout,
    serving,
    version_layout,
)
from vintry.pages.schemas import (
    BlockTypeOut,
    LayoutCreate,
    LayoutOut,
    LayoutSummary,
    LayoutUpdate,
    PageEventsIn,
    PageEventsOut,
    PageStatus,
    PublishRequest,
    RejectedEvent,
    RenderedPage,
    RollbackRequest,
    TemplateCopy,
    TemplateCreate,
    TemplateOut,
    TemplateUpdate,
    VersionOut,
)

log = logging.getLogger("vintry.pages")
router = APIRouter(prefix="/api/v1", tags=["pages"])

CodeParam = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
PageParam = Annotated[str, Path(max_length=32, pattern=r"^[a-z][a-z0-9-]{0,31}$")]
TypeParam = Annotated[str, Path(max_length=64, pattern=r"^[a-z][a-z0-9-]{1,63}$")]
NumberParam = Annotated[int, Path(ge=1)]
RevisionParam = Annotated[
    int, Query(ge=1, description="The revision read: refused if it was saved since.")
]
AsDealer = Annotated[
    str | None,
    Query(
        max_length=32,
        pattern=r"^[A-Z0-9][A-Z0-9-]{2,31}$",
        description="Render as this dealer of the site sees it (operators previewing).",
    ),
]

Reader = Annotated[RequestScope, Depends(authorize(Permission.PAGES_READ))]
Writer = Annotated[RequestScope, Depends(authorize(Permission.PAGES_WRITE))]
TemplateWriter = Annotated[RequestScope, Depends(authorize(Permission.PAGE_TEMPLATES_WRITE))]
Viewer = Annotated[RequestScope, Depends(authorize(Permission.CATALOG_READ))]
DealerScope = Annotated[RequestScope, Depends(authorize(Permission.ORDERS_PLACE))]


# --- the rendered page ------------------------------------------------------------------
# First of the module's routes: it is every dealer's landing call, and routes are matched
# in the order they were declared.


def _dealer_view(dealer: Dealer, site: str) -> DealerView:
    return DealerView(
        code=dealer.code,
        name=dealer.name,
        tier=dealer.tier.value,
        tags=tuple(dealer.tags),
        site=site,
    )


def _named_dealer(scope: RequestScope, code: str | None) -> DealerView | None:
    if code is None:
        return None
    with scope.platform.hq.reading() as session:
        dealer = session.scalar(select(Dealer).where(Dealer.code == code))
    if dealer is None or dealer.site_id != scope.site.node.id:
        raise NotFound(
            f"dealer {code!r} does not exist at site {scope.site.code!r}",
            code="dealer_not_found",
            field="as_dealer",
        )
    return _dealer_view(dealer, scope.site.code)


def _audience(scope: RequestScope, as_dealer: str | None) -> DealerView | None:
    """The dealer the page is rendered for: the caller if a dealer, else whom an operator
    names (``as_dealer`` needs ``pages:read``), else nobody (no targeted campaigns)."""
    if as_dealer is not None:
        if not scope.principal.can(Permission.PAGES_READ):
            raise PermissionDenied(
                "rendering the page as another dealer needs pages:read",
                code="permission_denied",
                field="as_dealer",
            )
        return _named_dealer(scope, as_dealer)
    return scope.principal.dealer


def _rendered(
    scope: RequestScope, page: str, shown: Serving, dealer: DealerView | None
) -> Response:
    now = scope.platform.clock.now()
    # HQ is read through a session only on a cache miss (shelves, serving warehouses); the
    # live stock is a read of its own.
    with scope.platform.hq.reading_on_demand() as hq:
        sections = render_layout(
            scope.site,
            scope.directory,
            hq,
            shown.layout,
            dealer=dealer,
            now=now,
            campaigns_version=shown.campaigns_version,
        )
    body: dict[str, Any] = {
        "site": scope.site.code,
        "page": page,
        "source": shown.source,
        "version": shown.version,
        "template": shown.template,
        "title": shown.layout.title,
        "dealer": None if dealer is None else dealer.code,
        "rendered_at": ensure_utc(now).isoformat(),
        "sections": sections,
    }
    # Encoded once, in Rust: the body is JSON values already, no model to validate.
    return Response(content=to_json(body), media_type="application/json")


@router.get("/pages/{page}", response_model=RenderedPage, summary="A page, rendered")
async def render_page(page: PageParam, scope: Viewer, as_dealer: AsDealer = None) -> Response:
    """The addressed site's page (``home`` is the landing page) resolved for the calling
    dealer in one call: the version serving now (or HQ's default template), every block
    filled — products with the site's price and live available stock, only the campaigns
    targeted at this dealer and live now. Blocks of plugins not enabled here are left out."""
    # A coroutine: on SQLite the page's reads are library calls on local files that never
    # wait for writers (WAL), cheaper than the hop to a worker thread and back — as long
    # as every block renders from its data alone. Anything else runs on a worker thread.
    local = scope.platform.hq.backend == "sqlite" and scope.site.database.backend == "sqlite"
    if not local:
        return await run_in_threadpool(_render_page, scope, page, as_dealer)
    dealer = _audience(scope, as_dealer)
    shown = serving(scope.site, page, scope.platform.clock.now())
    if not shown.layout.pure:
        return await run_in_threadpool(_rendered, scope, page, shown, dealer)
    return _rendered(scope, page, shown, dealer)


def _render_page(scope: RequestScope, page: str, as_dealer: str | None) -> Response:
    dealer = _audience(scope, as_dealer)
    shown = serving(scope.site, page, scope.platform.clock.now())
    return _rendered(scope, page, shown, dealer)


# --- block types -----------------------------------------------------------------------


@router.get("/page-blocks", response_model=list[BlockTypeOut], summary="Page block types")
def list_block_types(scope: Reader) -> list[BlockTypeOut]:
    """Every block type installed, whether usable at the addressed site, and its form."""
    return service.block_types(scope.site)


@router.get("/page-blocks/{type_name}", response_model=BlockTypeOut, summary="One block type")
def get_block_type(type_name: TypeParam, scope: Reader) -> BlockTypeOut:
    """A block type with the JSON Schema of its configuration (for the console's forms)."""
    return service.block_type(scope.site, type_name)


# --- layouts (drafts) ------------------------------------------------------------------


@router.get("/layouts", response_model=list[LayoutSummary], summary="The site's layouts")
def list_layouts(
    scope: Reader,
    page: Annotated[str | None, Query(max_length=32)] = None,
) -> list[LayoutSummary]:
    """Draft layouts of the addressed site, by code (optionally of one page)."""
    return service.list_layouts(scope.site, page)


@router.post(
    "/layouts",
    response_model=LayoutOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a draft layout",
)
def create_layout(request: LayoutCreate, scope: Writer) -> LayoutOut:
    """A new draft: refused with 422 naming the section, block and field of the first
    problem (unknown block type, plugin not enabled here, invalid configuration, SKU not
    offered here), every problem listed in ``details.problems``."""
    return service.create_layout(scope.site, request, actor=scope.actor)


@router.get("/layouts/{code}", response_model=LayoutOut, summary="One layout")
def get_layout(code: CodeParam, scope: Reader) -> LayoutOut:
    """A draft, with the references that went stale since it was saved."""
    return service.get_layout(scope.site, code)


@router.patch("/layouts/{code}", response_model=LayoutOut, summary="Change a layout")
def update_layout(code: CodeParam, request: LayoutUpdate, scope: Writer) -> LayoutOut:
    """Save the title and/or sections (checked like a new layout); send the ``revision``
    read to be refused 409 ``layout_changed`` if someone saved in between."""
    return service.update_layout(scope.site, code, request, actor=scope.actor)


@router.delete("/layouts/{code}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a layout")
def delete_layout(code: CodeParam, revision: RevisionParam, scope: Writer) -> Response:
    """Delete a draft at the revision read (409 ``layout_changed`` if saved since);
    versions published from it stay and keep serving."""
    service.delete_layout(scope.site, code, revision, actor=scope.actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/layouts/{code}/publish",
    response_model=VersionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Publish a layout",
)
def publish_layout(
    code: CodeParam, scope: Writer, request: PublishRequest | None = None
) -> VersionOut:
    """Publish the draft as the next version of its page: now, from ``starts_at``, or in
    a window (``ends_at``: a festival layout serving over the regular one until then)."""
    return service.publish(scope.site, code, request or PublishRequest(), actor=scope.actor)


@router.get(
    "/layouts/{code}/preview", response_model=RenderedPage, summary="Preview a draft layout"
)
def preview_layout(code: CodeParam, scope: Reader, as_dealer: AsDealer = None) -> Response:
    """The draft rendered as the page would be, for a dealer of the site if named."""
    with scope.site.database.reading() as session:
        layout = session.scalar(select(PageLayout).where(PageLayout.code == code))
    if layout is None:
        raise NotFound(f"layout {code!r} does not exist", code="layout_not_found", field="layout")
    parsed = parse(scope.platform, layout.title, layout.sections)
    shown = Serving(source="preview", version=None, template=None, layout=parsed)
    return _rendered(scope, layout.page, shown, _named_dealer(scope, as_dealer))


# --- pages -----------------------------------------------------------------------------


@router.get("/pages/{page}/status", response_model=PageStatus, summary="What a page serves")
def page_status(page: PageParam, scope: Reader) -> PageStatus:
    """The version serving now (or HQ's default), when that changes next (a scheduled
    layout starting or ending), and every version ever published."""
    return service.page_status(scope.site, page)


@router.get(
    "/pages/{page}/versions/{number}", response_model=VersionOut, summary="One published version"
)
def get_version(page: PageParam, number: NumberParam, scope: Reader) -> VersionOut:
    """A published version as it was published, with what went stale in it since."""
    return service.get_version(scope.site, page, number)


@router.post("/pages/{page}/rollback", response_model=PageStatus, summary="Roll back a page")
def rollback(page: PageParam, request: RollbackRequest, scope: Writer) -> PageStatus:
    """Withdraw the version serving now, named in ``version``: the one before it serves
    again (HQ's default when none). 409 ``page_changed`` when another version serves (a
    second click rolls back nothing more), ``nothing_to_roll_back`` when none does."""
    return service.rollback(
        scope.site, page, request.version, actor=scope.actor, reason=request.reason
    )


@router.post(
    "/pages/{page}/versions/{number}/withdraw",
    response_model=PageStatus,
    summary="Withdraw a version",
)
def withdraw(page: PageParam, number: NumberParam, scope: Writer) -> PageStatus:
    """Withdraw a version for good (a scheduled festival layout called off, say)."""
    return service.withdraw(scope.site, page, number, actor=scope.actor)


@router.post(
    "/pages/{page}/versions/{number}/republish",
    response_model=VersionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Publish an old version again",
)
def republish(
    page: PageParam, number: NumberParam, scope: Writer, request: PublishRequest | None = None
) -> VersionOut:
    """A new version with an old one's sections (checked again against today's catalog)."""
    return service.republish(
        scope.site, page, number, request or PublishRequest(), actor=scope.actor
    )


def _version_layout(scope: RequestScope, page: str, number: int | None) -> ParsedLayout:
    if number is None:
        return default_template(scope.site, page).layout
    with scope.site.database.reading() as session:
        version_id = session.scalar(
            select(PageVersion.id).where(PageVersion.page == page, PageVersion.number == number)
        )
        if version_id is None:
            raise InvalidInput(
                f"page {page!r} has no version {number}",
                code="page_version_not_found",
                field="version",
            )
        return version_layout(scope.site, session, version_id)


@router.post(
    "/pages/{page}/events", response_model=PageEventsOut, summary="Block impressions and clicks"
)
def record_events(page: PageParam, request: PageEventsIn, scope: DealerScope) -> PageEventsOut:
    """Record what the calling dealer saw and clicked on a page version (``version`` as the
    page answered; none for HQ's default). Events naming a block the version does not
    hold are rejected one by one; the rest go to every enabled plugin that records them
    (the analytics plugin counts them)."""
    layout = _version_layout(scope, page, request.version)
    keys = layout.block_keys()
    now = scope.platform.clock.now()
    dealer = scope.principal.dealer
    accepted: list[PageEvent] = []
    rejected: list[RejectedEvent] = []
    for index, event in enumerate(request.events):
        if event.block not in keys:
            rejected.append(
                RejectedEvent(
                    index=index,
                    field=f"events.{index}.block",
                    code="unknown_block",
                    message=f"version {request.version} of page {page!r} has no block "
                    f"{event.block!r}",
                )
            )
            continue
        occurred = now if event.occurred_at is None else ensure_utc(event.occurred_at)
        if occurred > now:
            rejected.append(
                RejectedEvent(
                    index=index,
                    field=f"events.{index}.occurred_at",
                    code="in_the_future",
                    message="an event cannot happen after the server's time",
                )
            )
            continue
        accepted.append(
            PageEvent(
                kind=event.kind,
                page=page,
                version=request.version,
                block=event.block,
                block_type=keys[event.block],
                sku=event.sku,
                dealer=None if dealer is None else dealer.code,
                session=event.session,
                occurred_at=occurred,
            )
        )
    if accepted:
        for impl in scope.site.hooks.implementations("vintry_record_page_events"):
            try:
                impl.function(
                    **{
                        name: {"events": accepted, "site": scope.site}[name]
                        for name in impl.argnames
                    }
                )
            except Exception:
                scope.platform.plugin_faults[impl.plugin_name] += 1
                log.exception("plugin %s failed to record page events", impl.plugin_name)
    return PageEventsOut(accepted=len(accepted), rejected=rejected)


# --- HQ's templates --------------------------------------------------------------------


@router.get("/page-templates", response_model=list[TemplateOut], summary="HQ's page templates")
def list_templates(scope: Reader) -> list[TemplateOut]:
    """Every page template HQ published, by code."""
    return service.list_templates(scope.platform)


@router.post(
    "/page-templates",
    response_model=TemplateOut,
    status_code=status.HTTP_201_CREATED,
    summary="Publish a page template",
)
def create_template(request: TemplateCreate, scope: TemplateWriter) -> TemplateOut:
    """A layout for every site to copy; ``is_default`` makes it what sites without a
    published layout of their own show."""
    return service.create_template(scope.platform, request, actor=scope.actor)


@router.get("/page-templates/{code}", response_model=TemplateOut, summary="One page template")
def get_template(code: CodeParam, scope: Reader) -> TemplateOut:
    """A template (404 ``page_template_not_found``)."""
    return service.get_template(scope.platform, code)


@router.patch("/page-templates/{code}", response_model=TemplateOut, summary="Change a template")
def update_template(code: CodeParam, request: TemplateUpdate, scope: TemplateWriter) -> TemplateOut:
    """Change a template; sites showing it as HQ's default see it at once, copies do not."""
    return service.update_template(scope.platform, code, request, actor=scope.actor)


@router.delete(
    "/page-templates/{code}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a template",
)
def delete_template(code: CodeParam, revision: RevisionParam, scope: TemplateWriter) -> Response:
    """Delete a template at the revision read (copies stay the sites')."""
    service.delete_template(scope.platform, code, revision, actor=scope.actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/page-templates/{code}/copy",
    response_model=LayoutOut,
    status_code=status.HTTP_201_CREATED,
    summary="Copy a template into a draft here",
)
def copy_template(code: CodeParam, request: TemplateCopy, scope: Writer) -> LayoutOut:
    """A draft layout of the addressed site from an HQ template, checked for this site."""
    return service.copy_template(scope.site, code, request, actor=scope.actor)
