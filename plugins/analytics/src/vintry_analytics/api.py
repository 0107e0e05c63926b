"""The analytics routes, served under ``/api/v1/x/analytics/`` on sites where it is enabled.

Every route declares its permission like the kernel's:

- dealers send their own events and sell-out (``orders:place``, which only the dealer role
  holds: nobody can report behaviour or sales in a dealer's name);
- reports need ``stock:read`` (site operators and HQ; dealers never see other dealers'
  behaviour), and cover the addressed site's subtree inside the caller's tenant, only the
  sites where the plugin is enabled;
- a dealer's own stock needs ``dealers:read``: the dealer itself, its site's operators, HQ.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime
from sqlalchemy import select
from vintry.dealers.models import Dealer
from vintry.errors import InvalidInput, NotFound
from vintry_sdk import Permission, RequestScope, SiteContext, authorize

from vintry_analytics import insights
from vintry_analytics.charts import funnel_svg, trend_svg
from vintry_analytics.config import PLUGIN_NAME, settings_for
from vintry_analytics.dealer_stock import (
    dealer_stock,
    parse_sellout_csv,
    record_sellout,
    stock_at_sites,
)
from vintry_analytics.fanout import Window, sites_in_scope
from vintry_analytics.ingestion import ingest_batch
from vintry_analytics.reports import funnel_report, parse_breakdown, parse_steps, trend_report
from vintry_analytics.schemas import (
    BlockedDemandReport,
    DealerSlowdownReport,
    DealerStockOut,
    DealerStockReport,
    EventBatch,
    FunnelReport,
    IngestReport,
    KpiReport,
    ReturnOutlierReport,
    SellOutBatch,
    SellOutReceipt,
    SlowMoverReport,
    TrendReport,
)
from vintry_analytics.vocabulary import DEFAULT_FUNNEL, SPECS, EventType

router = APIRouter(tags=[PLUGIN_NAME])

Dealer_ = Annotated[RequestScope, Depends(authorize(Permission.ORDERS_PLACE))]
Reader = Annotated[RequestScope, Depends(authorize(Permission.STOCK_READ))]
Everyone = Annotated[RequestScope, Depends(authorize(Permission.SITES_READ))]
DealerReader = Annotated[RequestScope, Depends(authorize(Permission.DEALERS_READ))]

Days = Annotated[int | None, Query(ge=1, le=730, description="Period length; default: config.")]
Start = Annotated[AwareDatetime | None, Query(description="Period start (overrides days).")]
End = Annotated[AwareDatetime | None, Query(description="Period end (default: now).")]
SVG = "image/svg+xml"


def _own_dealer(scope: RequestScope) -> str:
    dealer = scope.principal.dealer
    if dealer is None or not scope.principal.dealer_active:
        raise InvalidInput(
            "only an active dealer reports its own events", code="dealer_inactive", field="dealer"
        )
    return dealer.code


def _window(
    scope: RequestScope, days: int | None, start: datetime | None, end: datetime | None
) -> Window:
    settings = settings_for(scope.site)
    until = end or scope.platform.clock.now()
    if start is not None:
        if start >= until:
            raise InvalidInput("start must be before end", code="invalid_period", field="start")
        return Window(start=start, end=until, previous_start=start - (until - start))
    return Window.ending(until, days or settings.insight_days)


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


# --- funnels and trends ----------------------------------------------------------------------


def _funnel(
    scope: RequestScope,
    steps: str | None,
    window_hours: int | None,
    days: int | None,
    start: datetime | None,
    end: datetime | None,
    breakdown: str | None,
) -> FunnelReport:
    settings = settings_for(scope.site)
    period = _window(scope, days, start, end)
    return funnel_report(
        sites_in_scope(scope),
        parse_steps(steps) if steps is not None else DEFAULT_FUNNEL,
        window=timedelta(hours=window_hours or settings.conversion_window_hours),
        start=period.start,
        end=period.end,
        breakdown=parse_breakdown(breakdown),
    )


FunnelSteps = Annotated[
    str | None, Query(max_length=400, description="Comma-separated event types, in order.")
]
WindowHours = Annotated[int | None, Query(ge=1, le=24 * 90, description="Conversion window.")]
BreakdownParam = Annotated[str | None, Query(description="site, tier or sku.")]


@router.get("/funnel", response_model=FunnelReport, summary="An exact funnel")
def get_funnel(
    scope: Reader,
    steps: FunnelSteps = None,
    window_hours: WindowHours = None,
    days: Days = None,
    start: Start = None,
    end: End = None,
    breakdown: BreakdownParam = None,
) -> FunnelReport:
    """Conversion and drop-off per step, median time between steps, optionally broken down
    by site, dealer tier or SKU, across the sites the caller sees."""
    return _funnel(scope, steps, window_hours, days, start, end, breakdown)


@router.get("/funnel.svg", summary="A funnel chart", response_class=Response)
def get_funnel_svg(
    scope: Reader,
    steps: FunnelSteps = None,
    window_hours: WindowHours = None,
    days: Days = None,
    start: Start = None,
    end: End = None,
) -> Response:
    """The overall funnel as an SVG bar chart."""
    report = _funnel(scope, steps, window_hours, days, start, end, None)
    title = f"Funnel at {scope.site.code}: {report.start:%Y-%m-%d} to {report.end:%Y-%m-%d}"
    return Response(content=funnel_svg(report.overall, title), media_type=SVG)


EventTypeParam = Annotated[str, Query(max_length=32, description="A registered event type.")]


@router.get("/trend", response_model=TrendReport, summary="Daily events of one type")
def get_trend(
    scope: Reader,
    type: EventTypeParam = EventType.PRODUCT_VIEW.value,
    days: Days = None,
    start: Start = None,
    end: End = None,
) -> TrendReport:
    """Events and distinct dealers per UTC day across the sites the caller sees."""
    period = _window(scope, days, start, end)
    return trend_report(sites_in_scope(scope), type, start=period.start, end=period.end)


@router.get("/trend.svg", summary="A trend chart", response_class=Response)
def get_trend_svg(
    scope: Reader,
    type: EventTypeParam = EventType.PRODUCT_VIEW.value,
    days: Days = None,
    start: Start = None,
    end: End = None,
) -> Response:
    """Daily events of one type as an SVG line chart."""
    period = _window(scope, days, start, end)
    report = trend_report(sites_in_scope(scope), type, start=period.start, end=period.end)
    return Response(
        content=trend_svg(report.points, f"{type} per day at {scope.site.code}"), media_type=SVG
    )


# --- insights ------------------------------------------------------------------------------


@router.get(
    "/insights/blocked-demand",
    response_model=BlockedDemandReport,
    summary="High interest, low conversion SKUs",
)
def get_blocked_demand(
    scope: Reader, days: Days = None, start: Start = None, end: End = None
) -> BlockedDemandReport:
    """SKUs many dealers view but few order, per site, with a price-or-stock hint."""
    window = _window(scope, days, start, end)
    sites = sites_in_scope(scope)
    return BlockedDemandReport(
        period=insights.period_of(window),
        sites=[site.code for site in sites],
        items=insights.blocked_demand(scope.platform, sites, window),
    )


@router.get("/insights/slow-movers", response_model=SlowMoverReport, summary="Slow movers")
def get_slow_movers(
    scope: Reader, days: Days = None, start: Start = None, end: End = None
) -> SlowMoverReport:
    """SKUs whose regional stock outlasts their sell-through."""
    window = _window(scope, days, start, end)
    sites = sites_in_scope(scope)
    return SlowMoverReport(
        period=insights.period_of(window),
        sites=[site.code for site in sites],
        items=insights.slow_movers(scope.platform, sites, window),
    )


@router.get(
    "/insights/dealer-slowdown",
    response_model=DealerSlowdownReport,
    summary="Dealers ordering less",
)
def get_dealer_slowdown(
    scope: Reader, days: Days = None, start: Start = None, end: End = None
) -> DealerSlowdownReport:
    """Dealers whose order frequency dropped, with their own stock where known."""
    window = _window(scope, days, start, end)
    sites = sites_in_scope(scope)
    return DealerSlowdownReport(
        period=insights.period_of(window),
        sites=[site.code for site in sites],
        items=insights.dealer_slowdown(scope.platform, sites, window),
    )


@router.get(
    "/insights/return-outliers", response_model=ReturnOutlierReport, summary="Return-rate outliers"
)
def get_return_outliers(
    scope: Reader, days: Days = None, start: Start = None, end: End = None
) -> ReturnOutlierReport:
    """SKUs a site returns far more than average, with the leading reason."""
    window = _window(scope, days, start, end)
    sites = sites_in_scope(scope)
    return ReturnOutlierReport(
        period=insights.period_of(window),
        sites=[site.code for site in sites],
        items=insights.return_outliers(scope.platform, sites, window),
    )


CampaignParam = Annotated[str | None, Query(max_length=100, description="One campaign only.")]


@router.get("/insights/kpis", response_model=KpiReport, summary="The seed's KPIs")
def get_kpis(
    scope: Reader,
    days: Days = None,
    start: Start = None,
    end: End = None,
    campaign: CampaignParam = None,
) -> KpiReport:
    """Self-service ordering rate, campaign participation and uplift, sales against the
    previous period; per site and in total."""
    window = _window(scope, days, start, end)
    total, per_site = insights.kpis(
        scope.platform, sites_in_scope(scope), window, campaign=campaign
    )
    return KpiReport(
        period=insights.period_of(window), campaign=campaign, total=total, sites=per_site
    )


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
def get_dealer_stock(code: str, scope: DealerReader) -> DealerStockOut:
    """What one dealer holds: received minus reported sold, per SKU. A dealer sees only its
    own; an operator the dealers of its subtree; HQ all."""
    principal = scope.principal
    missing = NotFound(f"dealer {code!r} does not exist", code="dealer_not_found", field="code")
    if principal.dealer is not None and principal.dealer.code != code:
        raise missing
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


@router.get("/dealer-stock", response_model=DealerStockReport, summary="Dealers' own stock")
def get_dealer_stock_report(scope: Reader) -> DealerStockReport:
    """Every dealer's own stock in the caller's view, largest holding first."""
    sites = sites_in_scope(scope)
    return DealerStockReport(
        sites=[site.code for site in sites], dealers=stock_at_sites(scope.platform, sites)
    )
