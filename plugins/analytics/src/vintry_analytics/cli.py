"""``vintry analytics ...``: the insight reports at the command line, with their evidence,
charts written to SVG files, and a progress bar while the sites are queried."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import BaseModel
from rich.table import Table
from vintry.cli.console import console, progress_bar
from vintry.cli.platform import initialised_directory, open_platform
from vintry.errors import InvalidInput, NotFound
from vintry.platform import Platform
from vintry_sdk import SiteContext

from vintry_analytics import insights
from vintry_analytics.charts import funnel_svg, trend_svg
from vintry_analytics.config import PLUGIN_NAME, settings_for
from vintry_analytics.dealer_stock import stock_at_sites
from vintry_analytics.fanout import Window, sites_under
from vintry_analytics.reports import funnel_report, parse_breakdown, parse_steps, trend_report
from vintry_analytics.vocabulary import DEFAULT_FUNNEL, EventType

app = typer.Typer(
    help="Behaviour analytics: funnels, insight reports, dealers' stock.", no_args_is_help=True
)

T = TypeVar("T")
SiteOption = typer.Option(None, "--site", help="Report on this site's subtree (default: HQ).")
DaysOption = typer.Option(None, "--days", min=1, max=730, help="Period length in days.")
JsonOption = typer.Option(False, "--json", help="Print the report as JSON instead of a table.")
UntilOption = typer.Option(
    None, "--until", help="End of the period, ISO 8601 with a zone (default: now)."
)


@contextmanager
def _scope(site: str | None) -> Iterator[tuple[Platform, SiteContext, list[SiteContext]]]:
    with open_platform() as platform:
        directory, root = initialised_directory(platform)
        code = site or root.code
        directory.get(code)
        sites = sites_under(platform, code)
        if not sites:
            raise NotFound(
                f"plugin {PLUGIN_NAME!r} is not enabled on {code!r} or any site below it",
                code="plugin_not_enabled",
                field="site",
            )
        yield platform, platform.site(code), sites


def _with_progress(
    label: str, sites: Sequence[SiteContext], work: Callable[[Callable[[str], None]], T]
) -> T:
    with progress_bar() as progress:
        task = progress.add_task(label, total=len(sites))

        def advance(code: str) -> None:
            progress.update(task, advance=1, description=f"{label}: {code}")

        return work(advance)


def _window(
    platform: Platform, site: SiteContext, days: int | None, until: str | None = None
) -> Window:
    end = platform.clock.now()
    if until is not None:
        try:
            end = datetime.fromisoformat(until)
        except ValueError:
            raise InvalidInput(
                f"{until!r} is not an ISO 8601 time", code="invalid_value", field="until"
            ) from None
        if end.tzinfo is None:
            raise InvalidInput("--until needs a time zone", code="invalid_value", field="until")
    return Window.ending(end, days or settings_for(site).insight_days)


def _print_json(model: BaseModel | Sequence[BaseModel]) -> None:
    if isinstance(model, BaseModel):
        payload: Any = model.model_dump(mode="json")
    else:
        payload = [item.model_dump(mode="json") for item in model]
    console.print_json(json.dumps(payload))


def _write(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    console.print(f"written to [bold]{path}[/bold]")


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    if not rows:
        table.caption = "nothing found"
    return table


@app.command("funnel")
def funnel(
    site: str | None = SiteOption,
    steps: str = typer.Option(",".join(DEFAULT_FUNNEL), "--steps", help="Event types, in order."),
    window_hours: int | None = typer.Option(
        None, "--window-hours", min=1, help="Conversion window."
    ),
    days: int | None = DaysOption,
    until: str | None = UntilOption,
    breakdown: str | None = typer.Option(None, "--breakdown", help="site, tier or sku."),
    svg: Path | None = typer.Option(None, "--svg", help="Write the funnel chart to this file."),
    as_json: bool = JsonOption,
) -> None:
    """An exact funnel across the sites of a subtree, with drop-off and median times."""
    with _scope(site) as (platform, addressed, sites):
        period = _window(platform, addressed, days, until)
        hours = window_hours or settings_for(addressed).conversion_window_hours
        report = _with_progress(
            "funnel",
            sites,
            lambda tick: funnel_report(
                sites,
                parse_steps(steps),
                window=timedelta(hours=hours),
                start=period.start,
                end=period.end,
                breakdown=parse_breakdown(breakdown),
                on_site=tick,
            ),
        )
        if as_json:
            _print_json(report)
        else:
            for group in [report.overall, *report.groups]:
                console.print(
                    _table(
                        f"{group.key}: {group.entrants} entrants, window {hours} h",
                        [
                            "step",
                            "type",
                            "reached",
                            "from start",
                            "from previous",
                            "dropped",
                            "median after previous",
                        ],
                        [
                            [
                                s.step,
                                s.type,
                                s.count,
                                f"{s.conversion_from_start:.1%}",
                                f"{s.conversion_from_previous:.1%}",
                                s.drop_off,
                                "-"
                                if s.median_ms_from_previous is None
                                else f"{s.median_ms_from_previous / 1000:.0f} s",
                            ]
                            for s in group.steps
                        ],
                    )
                )
        if svg is not None:
            _write(svg, funnel_svg(report.overall, f"Funnel at {addressed.code}"))


@app.command("trend")
def trend(
    site: str | None = SiteOption,
    type_: str = typer.Option(EventType.PRODUCT_VIEW.value, "--type", help="Event type."),
    days: int | None = DaysOption,
    until: str | None = UntilOption,
    svg: Path | None = typer.Option(None, "--svg", help="Write the trend chart to this file."),
    as_json: bool = JsonOption,
) -> None:
    """Events of one type per day."""
    with _scope(site) as (platform, addressed, sites):
        period = _window(platform, addressed, days, until)
        report = _with_progress(
            "trend",
            sites,
            lambda tick: trend_report(
                sites, type_, start=period.start, end=period.end, on_site=tick
            ),
        )
        if as_json:
            _print_json(report)
        else:
            console.print(
                _table(
                    f"{type_} per day",
                    ["day", "events", "dealers"],
                    [[p.day, p.events, p.dealers] for p in report.points],
                )
            )
        if svg is not None:
            _write(svg, trend_svg(report.points, f"{type_} per day at {addressed.code}"))


@app.command("blocked-demand")
def blocked_demand(
    site: str | None = SiteOption,
    days: int | None = DaysOption,
    until: str | None = UntilOption,
    as_json: bool = JsonOption,
) -> None:
    """High interest, low conversion SKUs per site, with a price-or-stock hint."""
    with _scope(site) as (platform, addressed, sites):
        window = _window(platform, addressed, days, until)
        items = _with_progress(
            "blocked demand",
            sites,
            lambda tick: insights.blocked_demand(platform, sites, window, on_site=tick),
        )
        if as_json:
            _print_json(items)
            return
        console.print(
            _table(
                f"High interest, low conversion ({insights.kpi_period_note(window)})",
                ["site", "sku", "viewers", "ordered", "conversion", "hint", "evidence"],
                [
                    [
                        i.site,
                        i.sku,
                        i.viewers,
                        i.ordering_dealers,
                        f"{i.conversion:.0%}",
                        "+".join(i.hints),
                        i.evidence,
                    ]
                    for i in items
                ],
            )
        )


@app.command("slow-movers")
def slow_movers(
    site: str | None = SiteOption,
    days: int | None = DaysOption,
    until: str | None = UntilOption,
    as_json: bool = JsonOption,
) -> None:
    """SKUs whose regional stock outlasts their sell-through."""
    with _scope(site) as (platform, addressed, sites):
        window = _window(platform, addressed, days, until)
        items = _with_progress(
            "slow movers",
            sites,
            lambda tick: insights.slow_movers(platform, sites, window, on_site=tick),
        )
        if as_json:
            _print_json(items)
            return
        console.print(
            _table(
                "Slow movers",
                ["site", "sku", "on hand", "sold", "per day", "days of cover", "evidence"],
                [
                    [
                        i.site,
                        i.sku,
                        i.on_hand,
                        i.units_sold,
                        i.sold_per_day,
                        "∞" if i.days_of_cover is None else i.days_of_cover,
                        i.evidence,
                    ]
                    for i in items
                ],
            )
        )


@app.command("dealer-slowdown")
def dealer_slowdown(
    site: str | None = SiteOption,
    days: int | None = DaysOption,
    until: str | None = UntilOption,
    as_json: bool = JsonOption,
) -> None:
    """Dealers whose order frequency dropped, with their own stock build-up."""
    with _scope(site) as (platform, addressed, sites):
        window = _window(platform, addressed, days, until)
        items = _with_progress(
            "dealer slowdown",
            sites,
            lambda tick: insights.dealer_slowdown(platform, sites, window, on_site=tick),
        )
        if as_json:
            _print_json(items)
            return
        console.print(
            _table(
                "Dealers ordering less",
                ["site", "dealer", "tier", "before", "now", "drop", "own stock", "evidence"],
                [
                    [
                        i.site,
                        i.dealer,
                        i.tier,
                        i.previous_orders,
                        i.current_orders,
                        f"{i.drop:.0%}",
                        "?" if i.own_stock_units is None else i.own_stock_units,
                        i.evidence,
                    ]
                    for i in items
                ],
            )
        )


@app.command("return-outliers")
def return_outliers(
    site: str | None = SiteOption,
    days: int | None = DaysOption,
    until: str | None = UntilOption,
    as_json: bool = JsonOption,
) -> None:
    """Return-rate outliers by site and SKU, with the leading reason."""
    with _scope(site) as (platform, addressed, sites):
        window = _window(platform, addressed, days, until)
        items = _with_progress(
            "return outliers",
            sites,
            lambda tick: insights.return_outliers(platform, sites, window, on_site=tick),
        )
        if as_json:
            _print_json(items)
            return
        console.print(
            _table(
                "Return-rate outliers",
                ["site", "sku", "rate", "average", "leading reason", "evidence"],
                [
                    [
                        i.site,
                        i.sku,
                        f"{i.rate:.1%}",
                        f"{i.baseline_rate:.1%}",
                        i.leading_reason,
                        i.evidence,
                    ]
                    for i in items
                ],
            )
        )


@app.command("kpis")
def kpis(
    site: str | None = SiteOption,
    days: int | None = DaysOption,
    until: str | None = UntilOption,
    campaign: str | None = typer.Option(None, "--campaign", help="One campaign only."),
    as_json: bool = JsonOption,
) -> None:
    """Self-service ordering rate, campaign participation and uplift, sales."""
    with _scope(site) as (platform, addressed, sites):
        window = _window(platform, addressed, days, until)
        total, per_site = _with_progress(
            "KPIs",
            sites,
            lambda tick: insights.kpis(platform, sites, window, campaign=campaign, on_site=tick),
        )
        if as_json:
            _print_json([total, *per_site])
            return

        def change(value: float | None) -> str:
            return "-" if value is None else f"{value:+.0%}"

        console.print(
            _table(
                f"KPIs ({insights.kpi_period_note(window)})",
                [
                    "site",
                    "self-service",
                    "before",
                    "campaign dealers",
                    "participation",
                    "campaign sales",
                    "uplift",
                    "sales",
                    "change",
                ],
                [
                    [
                        k.site,
                        f"{k.self_service_rate:.0%}",
                        f"{k.previous_self_service_rate:.0%}",
                        k.campaign_dealers,
                        change(k.participation_change),
                        k.campaign_sales,
                        change(k.campaign_uplift),
                        k.sales,
                        change(k.sales_change),
                    ]
                    for k in [*per_site, total]
                ],
            )
        )


@app.command("dealer-stock")
def dealer_stock_report(site: str | None = SiteOption, as_json: bool = JsonOption) -> None:
    """Dealers' own stock (received minus reported sold), largest first."""
    with _scope(site) as (platform, _addressed, sites):
        stocks = _with_progress(
            "dealer stock", sites, lambda tick: _stock_with_ticks(platform, sites, tick)
        )
        if as_json:
            _print_json(stocks)
            return
        console.print(
            _table(
                "Dealers' own stock",
                ["site", "dealer", "on hand", "sell-out reported", "lines"],
                [
                    [
                        s.site,
                        s.dealer,
                        s.on_hand,
                        "yes" if s.sellout_reported else "no",
                        ", ".join(f"{line.sku}:{line.on_hand}" for line in s.lines),
                    ]
                    for s in stocks
                ],
            )
        )


def _stock_with_ticks(
    platform: Platform, sites: Sequence[SiteContext], tick: Callable[[str], None]
) -> list[Any]:
    result = []
    for site in sites:
        result.extend(stock_at_sites(platform, [site]))
        tick(site.code)
    result.sort(key=lambda stock: (-stock.on_hand, stock.dealer))
    return result


@app.command("tracker")
def tracker(
    output: Path | None = typer.Option(None, "--output", help="Write it to this file."),
) -> None:
    """The JavaScript tracker, for hosting with a mall's static files."""
    script = files("vintry_analytics").joinpath("static/tracker.js").read_text(encoding="utf-8")
    if output is None:
        typer.echo(script, nl=False)
    else:
        _write(output, script)
