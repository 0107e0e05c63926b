"""Dealers' own stock: what they received (delivered orders, less approved returns) minus
what they report having sold on (sell-out), so HQ sees stock building up at dealers.

Sell-out is reported by the dealer itself, as JSON lines or a CSV file, and validated row by
row: every problem of every row is reported (the row, the field, a stable code) and nothing
is stored unless every row is valid, so a corrected file can simply be sent again. A line's
``reference`` (the dealer's invoice or receipt number) makes it idempotent: a reference
reported before is not counted twice.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, time
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from vintry.dealers.models import Dealer
from vintry.errors import InvalidInput
from vintry.orders.models import Order, OrderLine, OrderStatus, Shipment
from vintry.platform import Platform
from vintry.sites.read_models import SiteCatalogItem
from vintry_sdk import SiteContext

from vintry_analytics.fanout import OnSite, tick
from vintry_analytics.models import SellOut
from vintry_analytics.schemas import DealerStockLine, DealerStockOut, SellOutLine, SellOutReceipt
from vintry_analytics.storage import insert_ignoring_duplicates

CSV_COLUMNS = ("sku", "quantity", "sold_on", "reference")
MAX_CSV_BYTES = 2_000_000


def received_units(
    platform: Platform, dealers: Iterable[str], *, since: datetime | None = None
) -> dict[str, dict[str, int]]:
    """Units each dealer received and kept, per SKU: lines of its delivered orders (shipped
    less returned). With *since*, only orders whose last delivery is at or after it."""
    codes = sorted(set(dealers))
    found: dict[str, dict[str, int]] = {code: {} for code in codes}
    if not codes:
        return found
    with platform.hq.reading() as session:
        statement = (
            select(
                Dealer.code,
                OrderLine.sku_code,
                func.sum(OrderLine.shipped_quantity - OrderLine.returned_quantity),
            )
            .join(Order, Order.dealer_id == Dealer.id)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(Dealer.code.in_(codes), Order.status == OrderStatus.DELIVERED.value)
            .group_by(Dealer.code, OrderLine.sku_code)
        )
        if since is not None:
            delivered = (
                select(Shipment.order_id, func.max(Shipment.delivered_at).label("at"))
                .group_by(Shipment.order_id)
                .subquery()
            )
            statement = statement.join(delivered, delivered.c.order_id == Order.id).where(
                delivered.c.at >= since
            )
        for dealer, sku, units in session.execute(statement):
            found[dealer][sku] = int(units or 0)
    return found


def sold_units(
    session: Session, dealers: Iterable[str], *, since: datetime | None = None
) -> dict[str, dict[str, int]]:
    """Units each dealer reported sold, per SKU, from a site's database."""
    codes = sorted(set(dealers))
    found: dict[str, dict[str, int]] = {code: {} for code in codes}
    if not codes:
        return found
    statement = (
        select(SellOut.dealer, SellOut.sku, func.sum(SellOut.quantity))
        .where(SellOut.dealer.in_(codes))
        .group_by(SellOut.dealer, SellOut.sku)
    )
    if since is not None:
        statement = statement.where(SellOut.sold_on >= since)
    for dealer, sku, units in session.execute(statement):
        found[dealer][sku] = int(units or 0)
    return found


def has_reported(session: Session, dealers: Iterable[str]) -> set[str]:
    """The dealers among *dealers* that reported any sell-out at this site."""
    codes = sorted(set(dealers))
    if not codes:
        return set()
    return set(session.scalars(select(SellOut.dealer).where(SellOut.dealer.in_(codes)).distinct()))


def stock_of(
    dealer: str, site: str, received: dict[str, int], sold: dict[str, int], reported: bool
) -> DealerStockOut:
    """Assemble one dealer's own stock from its received and sold units."""
    lines = [
        DealerStockLine(
            sku=sku,
            received=received.get(sku, 0),
            sold=sold.get(sku, 0),
            on_hand=received.get(sku, 0) - sold.get(sku, 0),
        )
        for sku in sorted(set(received) | set(sold))
    ]
    return DealerStockOut(
        dealer=dealer,
        site=site,
        sellout_reported=reported,
        on_hand=sum(line.on_hand for line in lines),
        lines=lines,
    )


def dealer_stock(platform: Platform, site: SiteContext, dealer: str) -> DealerStockOut:
    """One dealer's own stock (the dealer belongs to *site*)."""
    received = received_units(platform, [dealer])[dealer]
    with site.database.reading() as session:
        sold = sold_units(session, [dealer])[dealer]
        reported = dealer in has_reported(session, [dealer])
    return stock_of(dealer, site.code, received, sold, reported)


def dealers_of_site(platform: Platform, site: SiteContext) -> list[str]:
    """Codes of the dealers that belong to *site* itself."""
    with platform.hq.reading() as session:
        return list(
            session.scalars(
                select(Dealer.code).where(Dealer.site_id == site.node.id).order_by(Dealer.code)
            )
        )


def stock_at_sites(
    platform: Platform, sites: Sequence[SiteContext], *, on_site: OnSite = None
) -> list[DealerStockOut]:
    """Own stock of every dealer of *sites*, largest holding first."""
    result: list[DealerStockOut] = []
    for site in sites:
        dealers = dealers_of_site(platform, site)
        received = received_units(platform, dealers)
        with site.database.reading() as session:
            sold = sold_units(session, dealers)
            reported = has_reported(session, dealers)
        for dealer in dealers:
            if received[dealer] or sold[dealer]:
                result.append(
                    stock_of(dealer, site.code, received[dealer], sold[dealer], dealer in reported)
                )
        tick(on_site, site.code)
    result.sort(key=lambda stock: (-stock.on_hand, stock.dealer))
    return result


# --- reporting sell-out -------------------------------------------------------------------


def _problem(where: str, field: str, code: str, message: str) -> dict[str, Any]:
    return {"field": f"{where}.{field}", "code": code, "message": message}


def parse_sellout_csv(content: bytes) -> list[SellOutLine]:
    """Sell-out lines from a CSV file (UTF-8, a header row naming the columns).

    Every row is checked; one ``InvalidInput`` lists the problem of each bad row with its
    line number in the file (the header is line 1).
    """
    if len(content) > MAX_CSV_BYTES:
        raise InvalidInput(
            f"the file is larger than {MAX_CSV_BYTES} bytes",
            code="file_too_large",
            field="body",
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(
            "the file is not UTF-8 text",
            code="validation_failed",
            field="body",
            details={
                "errors": [
                    {"field": "body", "code": "not_utf8", "message": "the file is not UTF-8 text"}
                ]
            },
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = [column for column in CSV_COLUMNS if column not in header]
    unknown = [column for column in header if column not in CSV_COLUMNS]
    problems: list[dict[str, Any]] = []
    if missing or unknown:
        problems.extend(
            _problem("line1", column, "missing_column", f"the header lacks {column!r}")
            for column in missing
        )
        problems.extend(
            _problem("line1", column, "unknown_column", f"{column!r} is not a column")
            for column in unknown
        )
        raise _validation_failed(problems)
    lines: list[SellOutLine] = []
    for number, row in enumerate(reader, start=2):
        values = {(key or "").strip(): (value or "").strip() for key, value in row.items()}
        if None in row:
            problems.append(
                _problem(f"line{number}", "row", "extra_values", "more values than columns")
            )
            continue
        try:
            lines.append(SellOutLine.model_validate({key: values.get(key) for key in CSV_COLUMNS}))
        except ValidationError as error:
            for item in error.errors():
                field = ".".join(str(part) for part in item["loc"]) or "row"
                code = "missing_field" if item["type"] == "missing" else "invalid_value"
                if values.get(field) == "":
                    code = "missing_field"
                problems.append(_problem(f"line{number}", field, code, item["msg"]))
    if not lines and not problems:
        problems.append(_problem("line2", "row", "empty_file", "the file holds no sell-out rows"))
    if problems:
        raise _validation_failed(problems)
    return lines


def _validation_failed(problems: list[dict[str, Any]]) -> InvalidInput:
    first = problems[0]
    return InvalidInput(
        f"{first['field']}: {first['message']}"
        + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
        code="validation_failed",
        field=first["field"],
        details={"errors": problems},
    )


def record_sellout(
    platform: Platform,
    site: SiteContext,
    dealer: str,
    lines: Sequence[SellOutLine],
    *,
    source: str,
    now: datetime,
    where: str = "lines",
) -> SellOutReceipt:
    """Validate every line, then store them all (or none) for *dealer* at *site*.

    Checked per line: the SKU is in the site's catalogue, the sale is not dated in the
    future, a reference appears once, and the dealer never reports more units of a SKU sold
    than it received. *where* names lines in errors (``lines.3`` or, for a CSV, ``line5``).
    """
    received = received_units(platform, [dealer])[dealer]
    today = now.date()
    problems: list[dict[str, Any]] = []
    with site.database.transaction() as session:
        skus = {line.sku for line in lines}
        known = set(
            session.scalars(
                select(SiteCatalogItem.sku).where(SiteCatalogItem.sku.in_(sorted(skus)))
            )
        )
        uids = [f"{dealer}:{line.reference}" for line in lines]
        existing = set(session.scalars(select(SellOut.uid).where(SellOut.uid.in_(uids))))
        sold = defaultdict(int, sold_units(session, [dealer])[dealer])
        seen: set[str] = set()
        fresh: list[tuple[str, SellOutLine]] = []
        duplicates: list[str] = []
        for index, (uid, line) in enumerate(zip(uids, lines, strict=True)):
            label = _line_label(where, index)
            if line.sku not in known:
                problems.append(
                    _problem(
                        label,
                        "sku",
                        "unknown_sku",
                        f"SKU {line.sku!r} is not in this site's catalogue",
                    )
                )
                continue
            if line.sold_on > today:
                problems.append(
                    _problem(
                        label, "sold_on", "in_future", f"{line.sold_on} is after today ({today})"
                    )
                )
                continue
            if line.reference in seen:
                problems.append(
                    _problem(
                        label,
                        "reference",
                        "duplicate_reference",
                        f"reference {line.reference!r} appears twice",
                    )
                )
                continue
            seen.add(line.reference)
            if uid in existing:
                duplicates.append(line.reference)
                continue
            sold[line.sku] += line.quantity
            if sold[line.sku] > received.get(line.sku, 0):
                problems.append(
                    _problem(
                        label,
                        "quantity",
                        "exceeds_received",
                        f"{sold[line.sku]} units of {line.sku} reported sold, "
                        f"but only {received.get(line.sku, 0)} were received",
                    )
                )
                continue
            fresh.append((uid, line))
        if problems:
            raise _validation_failed(problems)
        rows = [
            {
                "uid": uid,
                "dealer": dealer,
                "sku": line.sku,
                "quantity": line.quantity,
                "sold_on": datetime.combine(line.sold_on, time(0), tzinfo=UTC),
                "reported_at": now,
                "source": source,
                "reference": line.reference,
            }
            for uid, line in fresh
        ]
        recorded = insert_ignoring_duplicates(session, SellOut, rows, ["uid"])
    return SellOutReceipt(dealer=dealer, recorded=recorded, duplicates=duplicates)


def _line_label(where: str, index: int) -> str:
    # A CSV's data rows start on line 2 of the file (line 1 is the header).
    return f"line{index + 2}" if where == "csv" else f"{where}.{index}"
