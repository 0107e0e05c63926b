"""Funnel and trend reports over a set of sites: what the API answers and the CLI prints."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from vintry.errors import InvalidInput
from vintry_sdk import SiteContext

from vintry_analytics.fanout import OnSite, tick
from vintry_analytics.funnel import (
    BREAKDOWNS,
    MAX_STEPS,
    Breakdown,
    FunnelQuery,
    FunnelTally,
    funnel_over_sites,
    median,
)
from vintry_analytics.models import BehaviourEvent
from vintry_analytics.schemas import (
    FunnelGroupOut,
    FunnelReport,
    FunnelStepOut,
    TrendPoint,
    TrendReport,
)
from vintry_analytics.storage import epoch_ms, from_epoch_ms
from vintry_analytics.vocabulary import ALL_TYPES

DAY_MS = 86_400_000


def parse_steps(raw: str) -> tuple[str, ...]:
    """``product_view,add_to_cart,...`` as a tuple of registered types, or a clear error."""
    steps = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not steps:
        raise InvalidInput("name at least one step", code="missing_steps", field="steps")
    if len(steps) > MAX_STEPS:
        raise InvalidInput(
            f"a funnel has at most {MAX_STEPS} steps, not {len(steps)}",
            code="too_many_steps",
            field="steps",
        )
    unknown = [step for step in steps if step not in ALL_TYPES]
    if unknown:
        raise InvalidInput(
            f"{unknown[0]!r} is not a registered event type",
            code="unknown_type",
            field="steps",
            details={"unknown": unknown, "registered": sorted(ALL_TYPES)},
        )
    return steps


def parse_breakdown(raw: str | None) -> Breakdown:
    """``site``, ``tier``, ``sku`` or nothing."""
    if raw is None or raw == "":
        return None
    if raw not in BREAKDOWNS:
        raise InvalidInput(
            f"breakdown is one of {', '.join(BREAKDOWNS)}, not {raw!r}",
            code="invalid_breakdown",
            field="breakdown",
        )
    return raw


def group_out(key: str, tally: FunnelTally, steps: Sequence[str]) -> FunnelGroupOut:
    """A tally as the API shows it: counts, conversions, drop-off, median times."""
    entrants = tally.reached[0] if tally.reached else 0
    out: list[FunnelStepOut] = []
    for index, step in enumerate(steps):
        count = tally.reached[index]
        previous = tally.reached[index - 1] if index else count
        out.append(
            FunnelStepOut(
                step=index + 1,
                type=step,
                count=count,
                conversion_from_start=round(count / entrants, 4) if entrants else 0.0,
                conversion_from_previous=round(count / previous, 4) if previous else 0.0,
                drop_off=previous - count,
                median_ms_from_previous=median(tally.durations[index]) if index else None,
            )
        )
    return FunnelGroupOut(key=key, entrants=entrants, steps=out)


def funnel_report(
    sites: Sequence[SiteContext],
    steps: tuple[str, ...],
    *,
    window: timedelta,
    start: datetime,
    end: datetime,
    breakdown: Breakdown = None,
    on_site: OnSite = None,
) -> FunnelReport:
    """The funnel over *sites*, overall and broken down."""
    if window <= timedelta(0):
        raise InvalidInput(
            "the window must be positive", code="invalid_window", field="window_hours"
        )
    if end <= start:
        raise InvalidInput(
            "the period must end after it starts", code="invalid_period", field="days"
        )
    query = FunnelQuery(
        steps=steps,
        window_ms=int(window.total_seconds() * 1000),
        start_ms=epoch_ms(start),
        end_ms=epoch_ms(end),
    )
    overall, groups = funnel_over_sites(sites, query, breakdown, on_site=on_site)
    return FunnelReport(
        steps=list(steps),
        window_hours=window.total_seconds() / 3600,
        start=start,
        end=end,
        sites=[site.code for site in sites],
        overall=group_out("all", overall, steps),
        breakdown=breakdown,
        groups=[
            group_out(key, tally, steps)
            for key, tally in sorted(groups.items(), key=lambda kv: (-kv[1].reached[0], kv[0]))
        ],
    )


def trend_report(
    sites: Sequence[SiteContext],
    type_: str,
    *,
    start: datetime,
    end: datetime,
    on_site: OnSite = None,
) -> TrendReport:
    """Events of *type_* and distinct dealers per UTC day, every day of the period listed."""
    if type_ not in ALL_TYPES:
        raise InvalidInput(
            f"{type_!r} is not a registered event type", code="unknown_type", field="type"
        )
    start_ms, end_ms = epoch_ms(start), epoch_ms(end)
    events: Counter[int] = Counter()
    dealers: Counter[int] = Counter()
    for site in sites:
        day = BehaviourEvent.occurred_ms // DAY_MS
        with site.database.reading() as session:
            for bucket, count, distinct in session.execute(
                select(day, func.count(), func.count(BehaviourEvent.dealer.distinct()))
                .where(
                    BehaviourEvent.type == type_,
                    BehaviourEvent.occurred_ms >= start_ms,
                    BehaviourEvent.occurred_ms < end_ms,
                )
                .group_by(day)
            ):
                # Dealers belong to one site each, so per-site distinct counts add up.
                events[int(bucket)] += int(count)
                dealers[int(bucket)] += int(distinct)
        tick(on_site, site.code)
    first, last = start_ms // DAY_MS, (end_ms - 1) // DAY_MS
    points = [
        TrendPoint(day=_day(bucket), events=events[bucket], dealers=dealers[bucket])
        for bucket in range(first, last + 1)
    ]
    return TrendReport(type=type_, sites=[site.code for site in sites], points=points)


def _day(bucket: int) -> date:
    return from_epoch_ms(bucket * DAY_MS).astimezone(UTC).date()
