"""The pricing pipeline: base price → site price → plugins' candidates → the kernel's
choice → totals, with a breakdown that names the source of every adjustment.

Candidates with no stacking group are exclusive; candidates of one group stack together.
Each exclusive candidate and each group is a *combination*; the kernel applies the
combination worth most to the dealer (ties: higher priority, then name), caps every line
at HQ's floor, and records why each other candidate lost.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy.orm import Session

from vintry.catalog import price_book
from vintry.catalog.pricing import EffectivePrice
from vintry.contracts import AdjustmentCandidate, CartDraft, DealerView, PricedLine
from vintry.errors import InvalidInput, NotFound, ServiceUnavailable
from vintry.money import from_fen, prorate, to_fen
from vintry.platform import SiteContext
from vintry.sites.directory import SiteDirectory


@dataclass(frozen=True)
class LineInput:
    """A SKU code and a quantity, as a cart or an order request gives them."""

    sku: str
    quantity: int


@dataclass(frozen=True)
class LinePrice:
    """One priced line, in fen."""

    index: int
    sku_id: int
    sku: str
    name: str
    quantity: int
    base_unit_fen: int
    unit_fen: int
    amount_fen: int
    discount_fen: int
    total_fen: int
    floor_fen: int | None


@dataclass
class PricedCart:
    """The outcome of the pipeline: lines, totals and the explanation."""

    draft: CartDraft
    lines: list[LinePrice]
    applied: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    @property
    def subtotal_fen(self) -> int:
        """Sum of line amounts at site prices."""
        return sum(line.amount_fen for line in self.lines)

    @property
    def discount_fen(self) -> int:
        """Sum of line discounts."""
        return sum(line.discount_fen for line in self.lines)

    @property
    def total_fen(self) -> int:
        """What the dealer pays."""
        return self.subtotal_fen - self.discount_fen

    @property
    def adjustments(self) -> tuple[AdjustmentCandidate, ...]:
        """The applied adjustments (what ``OrderDraft.adjustments`` carries to claims)."""
        return ()

    def breakdown(self) -> dict[str, Any]:
        """The explanation stored with an order and shown with a cart (JSON-ready)."""
        return {
            "lines": [
                {
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "base_unit_price": str(from_fen(line.base_unit_fen)),
                    "unit_price": str(from_fen(line.unit_fen)),
                    "amount": str(from_fen(line.amount_fen)),
                    "discount": str(from_fen(line.discount_fen)),
                    "total": str(from_fen(line.total_fen)),
                }
                for line in self.lines
            ],
            "applied": self.applied,
            "rejected": self.rejected,
            "subtotal": str(from_fen(self.subtotal_fen)),
            "discount": str(from_fen(self.discount_fen)),
            "total": str(from_fen(self.total_fen)),
        }


def price_lines(
    session: Session,
    site: SiteContext,
    dealer: DealerView,
    lines: Sequence[LineInput],
    now: datetime,
    *,
    directory: SiteDirectory,
) -> PricedCart:
    """Price *lines* for *dealer* at *site*; unknown or unoffered SKUs are refused (422/404)."""
    if not lines:
        raise InvalidInput("an order has at least one line", code="empty_order", field="lines")
    codes = [line.sku for line in lines]
    if len(set(codes)) != len(codes):
        raise InvalidInput("a SKU appears on two lines", code="duplicate_sku", field="lines")
    # *directory* comes from the caller: reading it here would open a second session (and
    # take a second pooled connection) while *session* holds one — a pool-starvation stall.
    book = price_book.lookup(session, site, directory, codes)
    for index, line in enumerate(lines):
        if line.sku not in book:
            raise NotFound(
                f"SKU {line.sku!r} does not exist", code="sku_not_found", field=f"lines.{index}.sku"
            )
    for index, line in enumerate(lines):
        if not book[line.sku].offered:
            raise InvalidInput(
                f"SKU {line.sku!r} is not offered at site {site.code!r}",
                code="sku_not_offered",
                field=f"lines.{index}.sku",
            )
    entries = [book[line.sku] for line in lines]
    effective: list[EffectivePrice] = [entry.price for entry in entries]
    priced = [
        PricedLine(
            index=index,
            sku=entry.code,
            product=entry.product,
            brand=entry.brand,
            category=entry.category,
            tags=entry.tags,
            quantity=line.quantity,
            base_unit_price=from_fen(entry.price.base_fen),
            unit_price=from_fen(entry.price.price_fen),
            amount=from_fen(entry.price.price_fen * line.quantity),
        )
        for index, (entry, line) in enumerate(zip(entries, lines, strict=True))
    ]
    draft = CartDraft(
        site=site.code,
        dealer=dealer,
        lines=tuple(priced),
        subtotal=sum((p.amount for p in priced), start=from_fen(0)),
    )
    candidates = _collect_candidates(site, draft, dealer, now)
    amounts = [
        price.price_fen * line.quantity for price, line in zip(effective, lines, strict=True)
    ]
    caps = [
        max(0, amount - (price.lowest_allowed_fen or 0) * line.quantity)
        for amount, price, line in zip(amounts, effective, lines, strict=True)
    ]
    discounts, applied, rejected = _choose(candidates, amounts, caps)
    line_prices = [
        LinePrice(
            index=index,
            sku_id=entries[index].sku_id,
            sku=line.sku,
            name=entries[index].name,
            quantity=line.quantity,
            base_unit_fen=effective[index].base_fen,
            unit_fen=effective[index].price_fen,
            amount_fen=amounts[index],
            discount_fen=discounts[index],
            total_fen=amounts[index] - discounts[index],
            floor_fen=effective[index].lowest_allowed_fen,
        )
        for index, line in enumerate(lines)
    ]
    return PricedCart(draft=draft, lines=line_prices, applied=applied, rejected=rejected)


def _collect_candidates(
    site: SiteContext, draft: CartDraft, dealer: DealerView, now: datetime
) -> list[tuple[str, AdjustmentCandidate]]:
    found: list[tuple[str, AdjustmentCandidate]] = []
    arguments = {"cart": draft, "site": site, "dealer": dealer, "now": now}
    for impl in site.hooks.implementations("vintry_price_cart"):
        try:
            result = cast(
                "list[object] | None",
                impl.function(**{name: arguments[name] for name in impl.argnames}),
            )
        except Exception as error:
            raise ServiceUnavailable(
                f"plugin {impl.plugin_name!r} failed while pricing: "
                f"{type(error).__name__}: {error}",
                code="pricing_plugin_failed",
                details={"plugin": impl.plugin_name},
            ) from error
        for candidate in result or []:
            if not isinstance(candidate, AdjustmentCandidate):
                raise ServiceUnavailable(
                    f"plugin {impl.plugin_name!r} returned {type(candidate).__name__}, "
                    "not an AdjustmentCandidate",
                    code="pricing_plugin_failed",
                    details={"plugin": impl.plugin_name},
                )
            found.append((impl.plugin_name, candidate))
    return found


def _split(candidate: AdjustmentCandidate, amounts: list[int]) -> list[int] | str:
    """Per-line fen of *candidate*, or why it is invalid."""
    total = to_fen(candidate.amount)
    if total > sum(amounts):
        return "discount larger than the cart"
    if candidate.line_amounts is None:
        return prorate(total, amounts)
    parts = [0] * len(amounts)
    for index, value in candidate.line_amounts.items():
        if not 0 <= index < len(amounts):
            return f"names line {index}, which the cart does not have"
        parts[index] = to_fen(value)
    if sum(parts) != total or any(p < 0 or p > a for p, a in zip(parts, amounts, strict=True)):
        return "line amounts do not add up to the amount, or exceed a line"
    return parts


def _choose(
    candidates: list[tuple[str, AdjustmentCandidate]], amounts: list[int], caps: list[int]
) -> tuple[list[int], list[dict[str, Any]], list[dict[str, Any]]]:
    rejected: list[dict[str, Any]] = []
    combos: dict[str, list[tuple[str, AdjustmentCandidate, list[int]]]] = defaultdict(list)
    for source, candidate in candidates:
        split = _split(candidate, amounts)
        if isinstance(split, str):
            rejected.append(_entry(source, candidate, reason=f"invalid: {split}"))
            continue
        key = (
            f"group:{candidate.stacking_group}"
            if candidate.stacking_group
            else (f"exclusive:{source}:{candidate.campaign}")
        )
        combos[key].append((source, candidate, split))
    best_key, best_value, best_lines = None, (-1, 0, ""), [0] * len(amounts)
    for key, members in sorted(combos.items()):
        raw = [sum(split[i] for _, _, split in members) for i in range(len(amounts))]
        capped = [min(r, c) for r, c in zip(raw, caps, strict=True)]
        value = (sum(capped), sum(c.priority for _, c, _ in members), key)
        if (value[0], value[1]) > (best_value[0], best_value[1]) or (
            (value[0], value[1]) == (best_value[0], best_value[1]) and key < best_value[2]
        ):
            best_key, best_value, best_lines = key, value, capped
    applied: list[dict[str, Any]] = []
    for key, members in sorted(combos.items()):
        for source, candidate, split in members:
            if key == best_key:
                entry = _entry(source, candidate)
                if sum(split) > sum(min(s, c) for s, c in zip(split, caps, strict=True)):
                    entry["capped_by_floor"] = True
                applied.append(entry)
            else:
                rejected.append(
                    _entry(
                        source,
                        candidate,
                        reason=f"worth less than the applied {best_key} "
                        f"({from_fen(best_value[0])} yuan)",
                    )
                )
    return best_lines, applied, rejected


def _entry(
    source: str, candidate: AdjustmentCandidate, *, reason: str | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "source": source,
        "campaign": candidate.campaign,
        "reason": candidate.reason,
        "amount": str(candidate.amount),
        "stacking_group": candidate.stacking_group,
        "priority": candidate.priority,
    }
    if reason is not None:
        entry["lost_because"] = reason
    return entry
