"""HQ insight: where demand is blocked, what sells slowly, who orders less, where returns
are abnormal, and the seed's KPIs. Each function takes the sites in scope (already limited
to the caller's tenant and to the sites where the plugin is enabled) and the period, reads
behaviour from each site's database and orders, returns, stock and dealers from HQ through
the kernel's models, and returns every finding with its evidence. Thresholds are each
site's own configuration (:class:`~vintry_analytics.config.AnalyticsSettings`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from vintry.catalog.models import Sku
from vintry.dealers.models import Dealer
from vintry.inventory import stock as inventory_stock
from vintry.inventory.models import Stock, Warehouse
from vintry.inventory.service import eligible_warehouse_ids
from vintry.money import from_fen
from vintry.orders.models import Order, OrderLine, OrderStatus, ReturnLine, ReturnRequest
from vintry.platform import Platform
from vintry.sites.read_models import SiteCatalogItem
from vintry_sdk import SiteContext

from vintry_analytics.config import settings_for
from vintry_analytics.dealer_stock import has_reported, received_units, sold_units
from vintry_analytics.fanout import OnSite, Window
from vintry_analytics.fanout import tick as _tick
from vintry_analytics.funnel import median
from vintry_analytics.models import BehaviourEvent
from vintry_analytics.schemas import (
    BlockedDemandItem,
    DealerSlowdownItem,
    KpiOut,
    Period,
    ReturnOutlierItem,
    SlowMoverItem,
    evidence_text,
)
from vintry_analytics.storage import epoch_ms
from vintry_analytics.vocabulary import EventType

_TWO_PLACES = Decimal("0.01")


def period_of(window: Window) -> Period:
    """The API view of a window."""
    return Period(start=window.start, end=window.end, previous_start=window.previous_start)


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _change(current: int, previous: int) -> float | None:
    return round((current - previous) / previous, 4) if previous else None


def _pairs(result: Iterable[Any]) -> dict[Any, Any]:
    """Two-column rows as a dict (first column → second)."""
    return {row[0]: row[1] for row in result}


# --- high interest, low conversion ----------------------------------------------------------

_INTEREST_TYPES = (
    EventType.PRODUCT_VIEW.value,
    EventType.PRICE_COMPARISON.value,
    EventType.ADD_TO_CART.value,
    EventType.ORDER_PLACED.value,
)


def blocked_demand(
    platform: Platform, sites: Sequence[SiteContext], window: Window, *, on_site: OnSite = None
) -> list[BlockedDemandItem]:
    """SKUs many dealers of a site view but few order, with a hint: price or stock.

    Found when at least ``interest_min_viewers`` dealers viewed the SKU in the period and
    the share of them who ordered it is below ``low_conversion_ratio``. The hint says
    *price* when dealers compare its price often (``price_comparison_hint_ratio``
    comparisons per viewer) or the site's price is above HQ's base price by
    ``price_premium_hint_ratio``; *stock* when the units available to the site cover fewer
    than ``stock_hint_days_of_cover`` days of the demand dealers put in their carts (or none
    are available); *unclear* otherwise.
    """
    items: list[BlockedDemandItem] = []
    start_ms, end_ms = epoch_ms(window.start), epoch_ms(window.end)
    for site in sites:
        settings = settings_for(site)
        counts: dict[str, dict[str, tuple[int, int, int]]] = defaultdict(dict)
        with site.database.reading() as session:
            rows = session.execute(
                select(
                    BehaviourEvent.sku,
                    BehaviourEvent.type,
                    func.count(),
                    func.count(BehaviourEvent.dealer.distinct()),
                    func.coalesce(func.sum(BehaviourEvent.quantity), 0),
                )
                .where(
                    BehaviourEvent.type.in_(_INTEREST_TYPES),
                    BehaviourEvent.sku.is_not(None),
                    BehaviourEvent.occurred_ms >= start_ms,
                    BehaviourEvent.occurred_ms < end_ms,
                )
                .group_by(BehaviourEvent.sku, BehaviourEvent.type)
            )
            for sku, type_, events, dealers, units in rows:
                if sku is None:
                    continue
                counts[sku][type_] = (int(events), int(dealers), int(units or 0))
            flagged = []
            for sku, by_type in counts.items():
                viewers = by_type.get(EventType.PRODUCT_VIEW.value, (0, 0, 0))[1]
                ordering = by_type.get(EventType.ORDER_PLACED.value, (0, 0, 0))[1]
                if viewers >= settings.interest_min_viewers and (
                    ordering / viewers < settings.low_conversion_ratio
                ):
                    flagged.append(sku)
            catalog = {
                row.sku: row
                for row in session.scalars(
                    select(SiteCatalogItem).where(SiteCatalogItem.sku.in_(flagged))
                )
            }
            dwell: dict[str, list[int]] = defaultdict(list)
            for sku, value in session.execute(
                select(BehaviourEvent.sku, BehaviourEvent.dwell_ms).where(
                    BehaviourEvent.type == EventType.PRODUCT_VIEW.value,
                    BehaviourEvent.sku.in_(flagged),
                    BehaviourEvent.dwell_ms.is_not(None),
                    BehaviourEvent.occurred_ms >= start_ms,
                    BehaviourEvent.occurred_ms < end_ms,
                )
            ):
                if sku is not None and value is not None:
                    dwell[sku].append(int(value))
        available = _available_units(platform, site, flagged)
        for sku in flagged:
            by_type = counts[sku]
            views, viewers, _ = by_type.get(EventType.PRODUCT_VIEW.value, (0, 0, 0))
            comparisons = by_type.get(EventType.PRICE_COMPARISON.value, (0, 0, 0))[0]
            _, cart_dealers, cart_units = by_type.get(EventType.ADD_TO_CART.value, (0, 0, 0))
            ordering = by_type.get(EventType.ORDER_PLACED.value, (0, 0, 0))[1]
            item = catalog.get(sku)
            units = available.get(sku, 0)
            demand_per_day = Decimal(cart_units) / max(window.days, 1)
            cover = float(round(Decimal(units) / demand_per_day, 1)) if demand_per_day else None
            hints: list[str] = []
            premium = (
                item is not None
                and item.base_price_fen > 0
                and Decimal(item.price_fen)
                >= Decimal(item.base_price_fen)
                * (1 + Decimal(str(settings.price_premium_hint_ratio)))
                and item.price_fen > item.base_price_fen
            )
            if comparisons / viewers >= settings.price_comparison_hint_ratio or premium:
                hints.append("price")
            if units == 0 or (cover is not None and cover < settings.stock_hint_days_of_cover):
                hints.append("stock")
            items.append(
                BlockedDemandItem(
                    site=site.code,
                    sku=sku,
                    name=item.name if item else None,
                    viewers=viewers,
                    views=views,
                    median_dwell_ms=median(dwell.get(sku, [])),
                    price_comparisons=comparisons,
                    cart_dealers=cart_dealers,
                    cart_units=cart_units,
                    ordering_dealers=ordering,
                    conversion=_ratio(ordering, viewers),
                    price=from_fen(item.price_fen) if item else None,
                    base_price=from_fen(item.base_price_fen) if item else None,
                    available_units=units,
                    days_of_cover=cover,
                    hints=hints or ["unclear"],
                    evidence=evidence_text(
                        {
                            "viewers": viewers,
                            "ordered": ordering,
                            "conversion": f"{_ratio(ordering, viewers):.0%}",
                            "comparisons_per_viewer": f"{comparisons / viewers:.2f}",
                            "price": from_fen(item.price_fen) if item else "?",
                            "base_price": from_fen(item.base_price_fen) if item else "?",
                            "available": units,
                            "cart_units": cart_units,
                        }
                    ),
                )
            )
        _tick(on_site, site.code)
    items.sort(key=lambda entry: (entry.site, -entry.viewers, entry.sku))
    return items


def _available_units(platform: Platform, site: SiteContext, skus: Sequence[str]) -> dict[str, int]:
    """Units available to promise to *site*, per SKU code, over the warehouses serving it."""
    if not skus:
        return {}
    directory = platform.directory()
    with platform.hq.reading() as session:
        ids = _pairs(session.execute(select(Sku.id, Sku.code).where(Sku.code.in_(sorted(skus)))))
        warehouses = eligible_warehouse_ids(session, directory, site.code)
        by_sku = inventory_stock.available(
            session, sku_ids=ids, warehouse_ids=warehouses, now=platform.clock.now()
        )
    return {ids[sku_id]: sum(per_warehouse.values()) for sku_id, per_warehouse in by_sku.items()}


# --- slow movers -------------------------------------------------------------------------------


def slow_movers(
    platform: Platform, sites: Sequence[SiteContext], window: Window, *, on_site: OnSite = None
) -> list[SlowMoverItem]:
    """SKUs whose stock in a region's own warehouses outlasts their sell-through.

    For each site with warehouses of its own: units on hand per SKU against the units its
    subtree ordered in the period (orders not cancelled). Slow when the stock covers more
    than ``slow_mover_days_of_cover`` days at that pace, or nothing sold at all.
    """
    directory = platform.directory()
    now = platform.clock.now()
    items: list[SlowMoverItem] = []
    with platform.hq.reading() as session:
        for site in sites:
            settings = settings_for(site)
            warehouses = list(
                session.scalars(
                    select(Warehouse.id).where(
                        Warehouse.region_site_id == site.node.id, Warehouse.active.is_(True)
                    )
                )
            )
            if not warehouses:
                _tick(on_site, site.code)
                continue
            stock_rows = session.execute(
                select(Sku.id, Sku.code, func.sum(Stock.on_hand))
                .join(Stock, Stock.sku_id == Sku.id)
                .where(Stock.warehouse_id.in_(warehouses))
                .group_by(Sku.id, Sku.code)
            ).all()
            on_hand = {code: int(units) for _, code, units in stock_rows if units}
            ids = {sku_id: code for sku_id, code, _ in stock_rows}
            available = inventory_stock.available(
                session, sku_ids=ids, warehouse_ids=warehouses, now=now
            )
            subtree = [node.id for node in directory.subtree(site.code)]
            sold = _pairs(
                session.execute(
                    select(OrderLine.sku_code, func.sum(OrderLine.quantity))
                    .join(Order, Order.id == OrderLine.order_id)
                    .where(
                        Order.site_id.in_(subtree),
                        Order.status != OrderStatus.CANCELLED.value,
                        Order.placed_at >= window.start,
                        Order.placed_at < window.end,
                    )
                    .group_by(OrderLine.sku_code)
                )
            )
            days = Decimal(max(window.days, 1))
            for sku_id, code in sorted(ids.items(), key=lambda pair: pair[1]):
                units = on_hand.get(code, 0)
                if units <= 0:
                    continue
                moved = int(sold.get(code, 0))
                per_day = (Decimal(moved) / days).quantize(_TWO_PLACES, rounding=ROUND_HALF_UP)
                cover = float(round(Decimal(units) * days / moved, 1)) if moved else None
                if cover is not None and cover <= settings.slow_mover_days_of_cover:
                    continue
                items.append(
                    SlowMoverItem(
                        site=site.code,
                        sku=code,
                        on_hand=units,
                        available=sum(available.get(sku_id, {}).values()),
                        units_sold=moved,
                        sold_per_day=per_day,
                        days_of_cover=cover,
                        evidence=evidence_text(
                            {
                                "on_hand": units,
                                "sold_in_period": moved,
                                "per_day": per_day,
                                "days_of_cover": cover if cover is not None else "∞",
                                "threshold_days": settings.slow_mover_days_of_cover,
                            }
                        ),
                    )
                )
            _tick(on_site, site.code)
    items.sort(key=lambda entry: (entry.site, -(entry.days_of_cover or 1e12), entry.sku))
    return items


# --- dealers ordering less ------------------------------------------------------------------


def dealer_slowdown(
    platform: Platform, sites: Sequence[SiteContext], window: Window, *, on_site: OnSite = None
) -> list[DealerSlowdownItem]:
    """Dealers whose order count fell by ``slowdown_drop_ratio`` or more against the previous
    period (having placed at least ``slowdown_min_orders`` then), with their own stock:
    received minus reported sold, overall and over the period, where they report sell-out."""
    items: list[DealerSlowdownItem] = []
    for site in sites:
        settings = settings_for(site)
        with platform.hq.reading() as session:
            dealers = {
                row.id: row
                for row in session.scalars(select(Dealer).where(Dealer.site_id == site.node.id))
            }
            rows = session.execute(
                select(Order.dealer_id, Order.placed_at, Order.total_fen).where(
                    Order.site_id == site.node.id,
                    Order.status != OrderStatus.CANCELLED.value,
                    Order.placed_at >= window.previous_start,
                    Order.placed_at < window.end,
                )
            ).all()
            last = _pairs(
                session.execute(
                    select(Order.dealer_id, func.max(Order.placed_at))
                    .where(
                        Order.site_id == site.node.id, Order.status != OrderStatus.CANCELLED.value
                    )
                    .group_by(Order.dealer_id)
                )
            )
        tallies: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for dealer_id, placed_at, total_fen in rows:
            tally = tallies[dealer_id]
            is_current = placed_at >= window.start
            tally[1 if is_current else 0] += 1
            tally[3 if is_current else 2] += total_fen
        slowing = [
            dealer_id
            for dealer_id, (previous, current, _, _) in tallies.items()
            if previous >= settings.slowdown_min_orders
            and current <= previous * (1 - settings.slowdown_drop_ratio)
        ]
        codes = [dealers[dealer_id].code for dealer_id in slowing]
        received = received_units(platform, codes)
        received_recently = received_units(platform, codes, since=window.start)
        with site.database.reading() as session:
            sold = sold_units(session, codes)
            sold_recently = sold_units(session, codes, since=window.start)
            reported = has_reported(session, codes)
        for dealer_id in slowing:
            dealer = dealers[dealer_id]
            previous, current, previous_fen, current_fen = tallies[dealer_id]
            known = dealer.code in reported
            own = sum(received[dealer.code].values()) - sum(sold[dealer.code].values())
            change = sum(received_recently[dealer.code].values()) - sum(
                sold_recently[dealer.code].values()
            )
            drop = round(1 - current / previous, 4)
            items.append(
                DealerSlowdownItem(
                    site=site.code,
                    dealer=dealer.code,
                    name=dealer.name,
                    tier=dealer.tier.value,
                    previous_orders=previous,
                    current_orders=current,
                    previous_amount=from_fen(previous_fen),
                    current_amount=from_fen(current_fen),
                    drop=drop,
                    last_order_at=last.get(dealer_id),
                    own_stock_units=own if known else None,
                    stock_change_units=change if known else None,
                    sellout_reported=known,
                    evidence=evidence_text(
                        {
                            "orders_before": previous,
                            "orders_now": current,
                            "drop": f"{drop:.0%}",
                            "own_stock": own if known else "unknown (no sell-out reported)",
                            "stock_change": change if known else "unknown",
                        }
                    ),
                )
            )
        _tick(on_site, site.code)
    items.sort(key=lambda entry: (-entry.drop, entry.site, entry.dealer))
    return items


# --- return-rate outliers -------------------------------------------------------------------


def return_outliers(
    platform: Platform, sites: Sequence[SiteContext], window: Window, *, on_site: OnSite = None
) -> list[ReturnOutlierItem]:
    """SKUs a site's dealers return far more than the platform as a whole.

    Over orders placed in the period: units shipped and units asked back (returns not
    rejected), per site and SKU. The baseline is the SKU's rate over every site of the
    platform (an aggregate, naming no other site). An outlier has at least
    ``return_min_units`` returned and a rate of ``return_outlier_factor`` times the baseline
    or more; its leading reason is the reason with the most units.
    """
    directory = platform.directory()
    with platform.hq.reading() as session:
        shipped_rows = session.execute(
            select(Order.site_id, OrderLine.sku_code, func.sum(OrderLine.shipped_quantity))
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.placed_at >= window.start, Order.placed_at < window.end)
            .group_by(Order.site_id, OrderLine.sku_code)
        ).all()
        returned_rows = session.execute(
            select(
                Order.site_id,
                OrderLine.sku_code,
                ReturnRequest.reason_code,
                func.sum(ReturnLine.quantity),
            )
            .join(ReturnRequest, ReturnRequest.id == ReturnLine.return_id)
            .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(
                ReturnRequest.status != "rejected",
                Order.placed_at >= window.start,
                Order.placed_at < window.end,
            )
            .group_by(Order.site_id, OrderLine.sku_code, ReturnRequest.reason_code)
        ).all()
    shipped: dict[tuple[int, str], int] = {(s, k): int(u or 0) for s, k, u in shipped_rows}
    reasons: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    for site_id, sku, reason, units in returned_rows:
        reasons[(site_id, sku)][reason] += int(units or 0)
    total_shipped: Counter[str] = Counter()
    total_returned: Counter[str] = Counter()
    for (_, sku), units in shipped.items():
        total_shipped[sku] += units
    for (_, sku), counter in reasons.items():
        total_returned[sku] += sum(counter.values())
    items: list[ReturnOutlierItem] = []
    for site in sites:
        settings = settings_for(site)
        site_id = directory.get(site.code).id
        for (owner, sku), counter in sorted(reasons.items()):
            if owner != site_id:
                continue
            returned = sum(counter.values())
            sent = shipped.get((owner, sku), 0)
            if returned < settings.return_min_units or not sent or not total_shipped[sku]:
                continue
            rate = returned / sent
            baseline = total_returned[sku] / total_shipped[sku]
            if rate < settings.return_outlier_factor * baseline:
                continue
            leading, leading_units = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]
            items.append(
                ReturnOutlierItem(
                    site=site.code,
                    sku=sku,
                    shipped_units=sent,
                    returned_units=returned,
                    rate=round(rate, 4),
                    baseline_rate=round(baseline, 4),
                    leading_reason=leading,
                    reasons=dict(counter),
                    evidence=evidence_text(
                        {
                            "returned": f"{returned}/{sent}",
                            "rate": f"{rate:.1%}",
                            "average": f"{baseline:.1%}",
                            "leading_reason": f"{leading} ({leading_units} units)",
                        }
                    ),
                )
            )
        _tick(on_site, site.code)
    items.sort(key=lambda entry: (-entry.rate / max(entry.baseline_rate, 1e-9), entry.site))
    return items


# --- KPIs ---------------------------------------------------------------------------------------


def campaigns_of(pricing: dict[str, Any]) -> set[str]:
    applied = pricing.get("applied") if isinstance(pricing, dict) else None
    if not isinstance(applied, list):
        return set()
    return {
        str(entry["campaign"])
        for entry in applied
        if isinstance(entry, dict) and "campaign" in entry
    }


def kpis(
    platform: Platform,
    sites: Sequence[SiteContext],
    window: Window,
    *,
    campaign: str | None = None,
    on_site: OnSite = None,
) -> tuple[KpiOut, list[KpiOut]]:
    """The seed's KPIs per site and in total, this period against the previous one.

    - self-service ordering rate: active dealers who placed an order themselves in the mall
      during the period, over the site's active dealers;
    - campaign participation: dealers with an order a campaign applied to (the order's
      pricing breakdown names it), and its change against the previous period;
    - campaign uplift: sales of those orders against the previous period; sales overall too.
    Cancelled orders count for nothing. With *campaign*, only that campaign counts.
    """
    per_site: list[KpiOut] = []
    totals: dict[str, Any] = defaultdict(int)
    total_dealer_sets: dict[str, set[int]] = defaultdict(set)
    for site in sites:
        with platform.hq.reading() as session:
            active = int(
                session.scalar(
                    select(func.count())
                    .select_from(Dealer)
                    .where(Dealer.site_id == site.node.id, Dealer.active.is_(True))
                )
                or 0
            )
            orders = session.execute(
                select(Order.dealer_id, Order.placed_at, Order.total_fen, Order.pricing).where(
                    Order.site_id == site.node.id,
                    Order.status != OrderStatus.CANCELLED.value,
                    Order.placed_at >= window.previous_start,
                    Order.placed_at < window.end,
                )
            ).all()
        sets: dict[str, set[int]] = defaultdict(set)
        sums: dict[str, int] = defaultdict(int)
        count = 0
        for dealer_id, placed_at, total_fen, pricing in orders:
            period = "current" if placed_at >= window.start else "previous"
            sets[f"{period}_ordering"].add(dealer_id)
            sums[f"{period}_sales"] += total_fen
            if period == "current":
                count += 1
            applied = campaigns_of(pricing)
            if (campaign is None and applied) or (campaign is not None and campaign in applied):
                sets[f"{period}_campaign"].add(dealer_id)
                sums[f"{period}_campaign_sales"] += total_fen
        per_site.append(_kpi_out(site.code, active, count, sets, sums))
        totals["active"] += active
        totals["orders"] += count
        for key, values in sets.items():
            total_dealer_sets[key] |= values
        for key, value in sums.items():
            totals[key] += value
        _tick(on_site, site.code)
    total = _kpi_out("total", totals["active"], totals["orders"], total_dealer_sets, totals)
    return total, per_site


def _kpi_out(
    site: str, active: int, orders: int, sets: dict[str, set[int]], sums: dict[str, Any]
) -> KpiOut:
    ordering = len(sets["current_ordering"])
    before = len(sets["previous_ordering"])
    campaign_now = len(sets["current_campaign"])
    campaign_before = len(sets["previous_campaign"])
    return KpiOut(
        site=site,
        active_dealers=active,
        ordering_dealers=ordering,
        previous_ordering_dealers=before,
        self_service_rate=_ratio(ordering, active),
        previous_self_service_rate=_ratio(before, active),
        orders=orders,
        sales=from_fen(int(sums["current_sales"])),
        previous_sales=from_fen(int(sums["previous_sales"])),
        sales_change=_change(int(sums["current_sales"]), int(sums["previous_sales"])),
        campaign_dealers=campaign_now,
        previous_campaign_dealers=campaign_before,
        participation_change=_change(campaign_now, campaign_before),
        campaign_sales=from_fen(int(sums["current_campaign_sales"])),
        previous_campaign_sales=from_fen(int(sums["previous_campaign_sales"])),
        campaign_uplift=_change(
            int(sums["current_campaign_sales"]), int(sums["previous_campaign_sales"])
        ),
    )


def period_note(period: Period) -> str:
    """How a compared period reads in a report's title."""
    days = (period.end - period.start).days
    return f"{period.start:%Y-%m-%d} → {period.end:%Y-%m-%d} against the {days} days before"
