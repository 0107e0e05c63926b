"""The analytics routes, served under ``/api/v1/x/analytics/`` on sites where it is enabled.

Every route declares its permission like the kernel's:

- dealers send their own events and sell-out (``orders:place``, which only the dealer role
  holds: nobody can report behaviour or sales in a dealer's name);
- everything read from the analytics — funnels, trends, insights, dealers' stock — needs
  ``analytics:read`` (site operators and HQ administrators; dealers never see behaviour or
  stock figures), and covers the addressed site's subtree inside the caller's tenant, only
  the sites where the plugin is enabled; one dealer's stock is found only inside it (404).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from vintry.dealers.models import Dealer
from vintry.errors import InvalidInput, NotFound
from vintry_sdk import Permission, RequestScope, SiteContext, authorize

from vintry_analytics.config import PLUGIN_NAME, settings_for
from vintry_analytics.dealer_stock import dealer_stock, parse_sellout_csv, record_sellout
from vintry_analytics.fanout import sites_in_scope
from vintry_analytics.ingestion import ingest_batch
from vintry_analytics.registry import REPORTS, Report, ReportParams, ReportScope
from vintry_analytics.schemas import (
    DealerStockOut,
    EventBatch,
    IngestReport,
    SellOutBatch,
    SellOutReceipt,
)
from vintry_analytics.vocabulary import SPECS

router = APIRouter(tags=[PLUGIN_NAME])

Dealer_ = Annotated[RequestScope, Depends(authorize(Permission.ORDERS_PLACE))]
Reader = Annotated[RequestScope, Depends(authorize(Permission.ANALYTICS_READ))]
Everyone = Annotated[RequestScope, Depends(authorize(Permission.SITES_READ))]
SVG = "image/svg+xml"


def _own_dealer(scope: RequestScope) -> str:
    dealer = scope.principal.dealer
    if dealer is None or not scope.principal.dealer_active:
        raise InvalidInput(
            "only an active dealer reports its own events", code="dealer_inactive", field="dealer"
        )
    return dealer.code


# --- ingestion -------------------------------------------------------------------------------


@router.post("/events", response_model=IngestReport, summary="Send a batch of tracked events")
def post_events(batch: EventBatch, scope: Dealer_) -> IngestReport:
    """Store a dealer's events at the addressed site; every refused event comes back with
    its index, a stable code, the field at fault and a message."""
    dealer = _own_dealer(scope)
    return ingest_batch(
        scope.site,
        dealer,
        batch.events,
        settings=settings_for(scope.site),
        now=scope.platform.clock.now(),
    )


@router.get("/tracker.js", summary="The JavaScript tracker", response_class=Response)
def tracker_script(scope: Everyone) -> Response:
    """The small tracker a mall's pages load to send their dealer's events in batches."""
    script = files("vintry_analytics").joinpath("static/tracker.js").read_text(encoding="utf-8")
    return Response(
        content=script,
        media_type="application/javascript",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/vocabulary", summary="The registered event types")
def vocabulary(scope: Everyone) -> list[dict[str, object]]:
    """Every event type: whether clients may send it, whether it names a SKU, and the JSON
    Schema of its properties."""
    return [
        {
            "type": spec.event_type.value,
            "client": spec.client,
            "sku": spec.sku,
            "properties": spec.properties.model_json_schema(),
        }
        for spec in SPECS.values()
    ]


# --- the reports ----------------------------------------------------------------------------


def _report_scope(scope: RequestScope) -> ReportScope:
    return ReportScope(
        platform=scope.platform,
        site=scope.site,
        sites=sites_in_scope(scope),
        now=scope.platform.clock.now(),
    )


def _endpoint(params: type[ReportParams], answer: Callable[[RequestScope, Any], Any]) -> Any:
    """A route function taking the caller's scope and *params* from the query string.

    FastAPI reads a route's parameters from its function's signature; a report's come from
    its parameter model, so the signature is set here rather than written per report.
    """

    def endpoint(scope: RequestScope, params: ReportParams) -> Any:
        return answer(scope, params)

    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("scope", inspect.Parameter.KEYWORD_ONLY, annotation=Reader),
            inspect.Parameter(
                "params", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[params, Query()]
            ),
        ]
    )
    return endpoint


def _serve(report: Report[Any, Any]) -> None:
    """Route *report* (and its chart): JSON at its path, SVG at its path + ``.svg``."""

    def answer(scope: RequestScope, params: ReportParams) -> Any:
        return report.run(_report_scope(scope), params)

    router.add_api_route(
        report.path,
        _endpoint(report.params, answer),
        methods=["GET"],
        response_model=report.response,
        summary=report.summary,
        description=report.description,
        name=f"get_{report.name.replace('-', '_')}",
    )
    chart = report.chart
    if chart is None:
        return

    def draw(scope: RequestScope, params: ReportParams) -> Response:
        asked = report.params.model_validate(params.model_dump())
        svg = chart.render(report.run(_report_scope(scope), asked), scope.site.code)
        return Response(content=svg, media_type=SVG)

    router.add_api_route(
        f"{report.path}.svg",
        _endpoint(chart.params, draw),
        methods=["GET"],
        response_class=Response,
        summary=chart.summary,
        description=chart.description,
        name=f"get_{report.name.replace('-', '_')}_svg",
    )


for _report in REPORTS:
    _serve(_report)


# --- dealers' own stock -----------------------------------------------------------------------


@router.post("/sellout", response_model=SellOutReceipt, summary="Report sell-out")
def post_sellout(batch: SellOutBatch, scope: Dealer_) -> SellOutReceipt:
    """A dealer reports units it sold on; every line is validated, all stored or none."""
    return record_sellout(
        scope.platform,
        scope.site,
        _own_dealer(scope),
        batch.lines,
        source="api",
        now=scope.platform.clock.now(),
    )


@router.post(
    "/sellout/csv",
    response_model=SellOutReceipt,
    summary="Upload sell-out as CSV",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "sku,quantity,sold_on,reference\nFT-500,3,2026-01-05,INV-0001\n",
                }
            },
        }
    },
)
async def post_sellout_csv(request: Request, scope: Dealer_) -> SellOutReceipt:
    """The same as ``/sellout`` from a CSV file (columns ``sku, quantity, sold_on,
    reference``); each bad row is reported with its line number."""
    dealer = _own_dealer(scope)
    lines = parse_sellout_csv(await request.body())
    return record_sellout(
        scope.platform,
        scope.site,
        dealer,
        lines,
        source="csv",
        now=scope.platform.clock.now(),
        where="csv",
    )


@router.get("/dealers/{code}/stock", response_model=DealerStockOut, summary="A dealer's stock")
def get_dealer_stock(code: str, scope: Reader) -> DealerStockOut:
    """What one dealer holds: received minus reported sold, per SKU. An operator sees the
    dealers of its subtree; HQ all."""
    principal = scope.principal
    missing = NotFound(f"dealer {code!r} does not exist", code="dealer_not_found", field="code")
    with scope.platform.hq.reading() as session:
        site_id = session.scalar(select(Dealer.site_id).where(Dealer.code == code))
    if site_id is None:
        raise missing
    site_code = scope.directory.by_id(site_id).code
    if not scope.directory.is_within(site_code, scope.site.code) or not principal.reaches_site(
        scope.directory, site_code
    ):
        raise missing
    site: SiteContext = scope.platform.site(site_code)
    return dealer_stock(scope.platform, site, code)
