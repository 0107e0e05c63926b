"""The analytics reports, each declared once: what it takes, computes and shows.

A report is one entry of :data:`REPORTS` — its name and path, its parameter model, the
function that computes it over a set of sites, the tables its text and CSV show, and its chart
if it has one. The API (:mod:`vintry_analytics.api`) serves every entry as ``GET <path>`` (and
``GET <path>.svg`` for a chart) and the CLI (:mod:`vintry_analytics.cli`) as
``vintry analytics <name>``, both by walking the registry: adding a report is adding an entry.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, Field
from vintry.errors import InvalidInput
from vintry.platform import Platform
from vintry_sdk import SiteContext

from vintry_analytics import insights
from vintry_analytics.charts import funnel_svg, trend_svg
from vintry_analytics.config import settings_for
from vintry_analytics.dealer_stock import stock_at_sites
from vintry_analytics.fanout import OnSite, Window
from vintry_analytics.reports import funnel_report, parse_breakdown, parse_steps, trend_report
from vintry_analytics.schemas import (
    BlockedDemandReport,
    DealerSlowdownReport,
    DealerStockReport,
    FunnelReport,
    KpiReport,
    ReturnOutlierReport,
    SlowMoverReport,
    TrendReport,
)
from vintry_analytics.vocabulary import DEFAULT_FUNNEL, EventType

# --- parameters ------------------------------------------------------------------------------


class ReportParams(BaseModel):
    """What a report is asked: the base of every report's parameter model (a report that
    takes nothing, like dealers' stock, uses it as it is)."""


class PeriodParams(ReportParams):
    """A period: ``days`` ending at ``end`` (now by default), or ``start`` to ``end``."""

    days: int | None = Field(None, ge=1, le=730, description="Period length; default: config.")
    start: AwareDatetime | None = Field(None, description="Period start (overrides days).")
    end: AwareDatetime | None = Field(None, description="Period end (default: now).")


class FunnelChartParams(PeriodParams):
    """A funnel's steps, window and period (its chart shows the overall funnel)."""

    steps: str | None = Field(
        None,
        max_length=400,
        description=f"Comma-separated event types, in order (default {','.join(DEFAULT_FUNNEL)}).",
    )
    window_hours: int | None = Field(None, ge=1, le=24 * 90, description="Conversion window.")


class FunnelParams(FunnelChartParams):
    """A funnel, optionally broken down."""

    breakdown: str | None = Field(None, description="site, tier or sku.")


class TrendParams(PeriodParams):
    """One event type over a period."""

    type: str = Field(
        EventType.PRODUCT_VIEW.value, max_length=32, description="A registered event type."
    )


class KpiParams(PeriodParams):
    """The KPIs over a period, of one campaign or all."""

    campaign: str | None = Field(None, max_length=100, description="One campaign only.")


# --- where a report runs ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReportScope:
    """Where a report runs: the addressed site (its configuration gives the defaults), the
    sites it covers (already limited to the caller's tenant and to where the plugin is on),
    the current time, and whom to tell as each site is done."""

    platform: Platform
    site: SiteContext
    sites: Sequence[SiteContext]
    now: datetime
    on_site: OnSite = None

    @property
    def codes(self) -> list[str]:
        """The covered sites' codes."""
        return [site.code for site in self.sites]

    def window(self, params: PeriodParams) -> Window:
        """The period *params* ask for, with the one before it, or a clear error."""
        until = params.end or self.now
        if params.start is not None:
            if params.start >= until:
                raise InvalidInput("start must be before end", code="invalid_period", field="start")
            return Window(
                start=params.start, end=until, previous_start=params.start - (until - params.start)
            )
        return Window.ending(until, params.days or settings_for(self.site).insight_days)


# --- what a report shows ---------------------------------------------------------------------


def _shown(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Column:
    """A column of a report's table: its header, where a row's cell comes from (an attribute
    of the row's object, or a function of it), and how the terminal shows the cell. A CSV
    writes the cell itself, so 0.25 stays 0.25 rather than "25%"."""

    header: str
    value: str | Callable[[Any], Any]
    shown: Callable[[Any], str] = _shown

    def cell(self, row: Any) -> Any:
        """This column's cell of *row*."""
        return getattr(row, self.value) if isinstance(self.value, str) else self.value(row)


@dataclass(frozen=True)
class Table:
    """One table of a report, a row per object of *rows*: printed under *title*; in a CSV
    holding several tables, each row starts with the table's *name*."""

    name: str
    title: str
    columns: Sequence[Column]
    rows: Sequence[Any]

    def cells(self) -> list[list[Any]]:
        """The rows' cells, column by column."""
        return [[column.cell(row) for column in self.columns] for row in self.rows]


def csv_text(tables: Sequence[Table]) -> str:
    """*tables* as one CSV document: a header row, then every row; with several tables a
    first column ``table`` names each row's table."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    several = len(tables) > 1
    headers = [column.header for column in tables[0].columns] if tables else []
    writer.writerow(["table", *headers] if several else headers)
    for table in tables:
        for cells in table.cells():
            shown = ["" if cell is None else cell for cell in cells]
            writer.writerow([table.name, *shown] if several else shown)
    return out.getvalue()


def _percent(digits: int) -> Callable[[Any], str]:
    return lambda value: f"{value:.{digits}%}"


def _change(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0%}"


def _or(mark: str) -> Callable[[Any], str]:
    """Show None as *mark* (∞ days of cover, unknown stock)."""
    return lambda value: mark if value is None else str(value)


# --- the entries -----------------------------------------------------------------------------

P = TypeVar("P", bound=ReportParams)
R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class Chart(Generic[R]):
    """A report's SVG chart, served at ``<path>.svg`` with its own (smaller) parameters."""

    params: type[ReportParams]
    summary: str
    description: str
    render: Callable[[R, str], str]
    """(the report, the addressed site's code) → the SVG document."""


@dataclass(frozen=True)
class Report(Generic[P, R]):
    """One report, as both the API and the CLI offer it."""

    name: str
    """The CLI command (``vintry analytics <name>``)."""
    path: str
    """The route, under the plugin's prefix."""
    summary: str
    description: str
    params: type[P]
    response: type[R]
    run: Callable[[ReportScope, P], R]
    tables: Callable[[R], list[Table]]
    chart: Chart[R] | None = None

    @property
    def label(self) -> str:
        """How the CLI's progress bar names it."""
        return self.name.replace("-", " ")


def _funnel(scope: ReportScope, params: FunnelParams) -> FunnelReport:
    period = scope.window(params)
    hours = params.window_hours or settings_for(scope.site).conversion_window_hours
    return funnel_report(
        scope.sites,
        parse_steps(params.steps) if params.steps is not None else DEFAULT_FUNNEL,
        window=timedelta(hours=hours),
        start=period.start,
        end=period.end,
        breakdown=parse_breakdown(params.breakdown),
        on_site=scope.on_site,
    )


_FUNNEL_COLUMNS = (
    Column("step", "step"),
    Column("type", "type"),
    Column("reached", "count"),
    Column("from start", "conversion_from_start", _percent(1)),
    Column("from previous", "conversion_from_previous", _percent(1)),
    Column("dropped", "drop_off"),
    Column(
        "median after previous",
        "median_ms_from_previous",
        lambda ms: "-" if ms is None else f"{ms / 1000:.0f} s",
    ),
)


def _funnel_tables(report: FunnelReport) -> list[Table]:
    """A table per group: all entrants first, then each group of the breakdown."""
    return [
        Table(
            name=group.key,
            title=f"{group.key}: {group.entrants} entrants, window {report.window_hours:g} h",
            columns=_FUNNEL_COLUMNS,
            rows=group.steps,
        )
        for group in [report.overall, *report.groups]
    ]


def _funnel_chart(report: FunnelReport, site: str) -> str:
    title = f"Funnel at {site}: {report.start:%Y-%m-%d} to {report.end:%Y-%m-%d}"
    return funnel_svg(report.overall, title)


def _trend(scope: ReportScope, params: TrendParams) -> TrendReport:
    period = scope.window(params)
    return trend_report(
        scope.sites, params.type, start=period.start, end=period.end, on_site=scope.on_site
    )


def _trend_tables(report: TrendReport) -> list[Table]:
    columns = [Column(name, name) for name in ("day", "events", "dealers")]
    return [Table(report.type, f"{report.type} per day", columns, report.points)]


def _trend_chart(report: TrendReport, site: str) -> str:
    return trend_svg(report.points, f"{report.type} per day at {site}")


def _plain(*names: str) -> list[Column]:
    """Columns shown as they are, each headed by its attribute's name."""
    return [Column(name.replace("_", " "), name) for name in names]


def _kpis(scope: ReportScope, params: KpiParams) -> KpiReport:
    window = scope.window(params)
    total, per_site = insights.kpis(
        scope.platform, scope.sites, window, campaign=params.campaign, on_site=scope.on_site
    )
    return KpiReport(
        period=insights.period_of(window), campaign=params.campaign, total=total, sites=per_site
    )


_KPI_COLUMNS = (
    Column("site", "site"),
    Column("self-service", "self_service_rate", _percent(0)),
    Column("before", "previous_self_service_rate", _percent(0)),
    Column("campaign dealers", "campaign_dealers"),
    Column("participation", "participation_change", _change),
    Column("campaign sales", "campaign_sales"),
    Column("uplift", "campaign_uplift", _change),
    Column("sales", "sales"),
    Column("change", "sales_change", _change),
)


def _kpi_tables(report: KpiReport) -> list[Table]:
    title = f"KPIs ({insights.period_note(report.period)})"
    return [Table("kpis", title, _KPI_COLUMNS, [*report.sites, report.total])]


def _dealer_stock(scope: ReportScope, params: ReportParams) -> DealerStockReport:
    dealers = stock_at_sites(scope.platform, scope.sites, on_site=scope.on_site)
    return DealerStockReport(sites=scope.codes, dealers=dealers)


def _dealer_stock_tables(report: DealerStockReport) -> list[Table]:
    columns = [
        *_plain("site", "dealer", "on_hand"),
        Column("sell-out reported", lambda stock: "yes" if stock.sellout_reported else "no"),
        Column("lines", lambda stock: ", ".join(f"{i.sku}:{i.on_hand}" for i in stock.lines)),
    ]
    return [Table("dealers", "Dealers' own stock", columns, report.dealers)]


def _insight(
    name: str,
    summary: str,
    description: str,
    find: Callable[..., list[Any]],
    response: type[BaseModel],
    *columns: Column,
    dated: bool = False,
) -> Report[PeriodParams, Any]:
    """An insight: its findings over a period (with the period and the sites), at
    ``/insights/<name>``; its table has a row per finding, titled with the summary and, when
    *dated*, the compared periods."""

    def run(scope: ReportScope, params: PeriodParams) -> BaseModel:
        window = scope.window(params)
        items = find(scope.platform, scope.sites, window, on_site=scope.on_site)
        return response(period=insights.period_of(window), sites=scope.codes, items=items)

    def tables(report: Any) -> list[Table]:
        title = f"{summary} ({insights.period_note(report.period)})" if dated else summary
        return [Table("findings", title, columns, report.items)]

    return Report(
        name=name,
        path=f"/insights/{name}",
        summary=summary,
        description=description,
        params=PeriodParams,
        response=response,
        run=run,
        tables=tables,
    )


REPORTS: tuple[Report[Any, Any], ...] = (
    Report(
        name="funnel",
        path="/funnel",
        summary="An exact funnel",
        description="Conversion and drop-off per step, median time between steps, optionally "
        "broken down by site, dealer tier or SKU, across the sites in scope.",
        params=FunnelParams,
        response=FunnelReport,
        run=_funnel,
        tables=_funnel_tables,
        chart=Chart(
            FunnelChartParams,
            "A funnel chart",
            "The overall funnel as an SVG bar chart.",
            _funnel_chart,
        ),
    ),
    Report(
        name="trend",
        path="/trend",
        summary="Daily events of one type",
        description="Events and distinct dealers per UTC day across the sites in scope.",
        params=TrendParams,
        response=TrendReport,
        run=_trend,
        tables=_trend_tables,
        chart=Chart(
            TrendParams,
            "A trend chart",
            "Daily events of one type as an SVG line chart.",
            _trend_chart,
        ),
    ),
    _insight(
        "blocked-demand",
        "High interest, low conversion SKUs",
        "SKUs many dealers view but few order, per site, with a price-or-stock hint.",
        insights.blocked_demand,
        BlockedDemandReport,
        *_plain("site", "sku", "viewers"),
        Column("ordered", "ordering_dealers"),
        Column("conversion", "conversion", _percent(0)),
        Column("hint", lambda item: "+".join(item.hints)),
        *_plain("evidence"),
        dated=True,
    ),
    _insight(
        "slow-movers",
        "Slow movers",
        "SKUs whose regional stock outlasts their sell-through.",
        insights.slow_movers,
        SlowMoverReport,
        *_plain("site", "sku", "on_hand"),
        Column("sold", "units_sold"),
        Column("per day", "sold_per_day"),
        Column("days of cover", "days_of_cover", _or("∞")),
        *_plain("evidence"),
    ),
    _insight(
        "dealer-slowdown",
        "Dealers ordering less",
        "Dealers whose order frequency dropped, with their own stock where known.",
        insights.dealer_slowdown,
        DealerSlowdownReport,
        *_plain("site", "dealer", "tier"),
        Column("before", "previous_orders"),
        Column("now", "current_orders"),
        Column("drop", "drop", _percent(0)),
        Column("own stock", "own_stock_units", _or("?")),
        *_plain("evidence"),
    ),
    _insight(
        "return-outliers",
        "Return-rate outliers",
        "SKUs a site returns far more than average, with the leading reason.",
        insights.return_outliers,
        ReturnOutlierReport,
        *_plain("site", "sku"),
        Column("rate", "rate", _percent(1)),
        Column("average", "baseline_rate", _percent(1)),
        *_plain("leading_reason", "evidence"),
    ),
    Report(
        name="kpis",
        path="/insights/kpis",
        summary="The seed's KPIs",
        description="Self-service ordering rate, campaign participation and uplift, sales "
        "against the previous period; per site and in total.",
        params=KpiParams,
        response=KpiReport,
        run=_kpis,
        tables=_kpi_tables,
    ),
    Report(
        name="dealer-stock",
        path="/dealer-stock",
        summary="Dealers' own stock",
        description="Every dealer's own stock (received minus reported sold) in scope, "
        "largest holding first.",
        params=ReportParams,
        response=DealerStockReport,
        run=_dealer_stock,
        tables=_dealer_stock_tables,
    ),
)
"""Every report, in the order the API documents and the CLI lists them."""
