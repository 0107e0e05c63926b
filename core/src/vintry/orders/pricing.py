"""The pricing pipeline: base price → site price → plugins' candidates → the kernel's
choice → totals, with a breakdown that names the source of every adjustment.

Candidates with no stacking group are exclusive; candidates of one group stack together.
Each exclusive candidate and each group is a *combination*; the kernel applies the
combination worth most to the dealer (ties: higher priority, then name), caps every line
at HQ's floor, and records why each other candidate lost. Plugins also report the campaigns
they considered that do not apply (``CampaignSkip``), so the breakdown explains every
campaign considered: applied, or why not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Any, cast

from sqlalchemy.orm import Session

from vintry.catalog import price_book
from vintry.catalog.price_book import BookEntry
from vintry.catalog.pricing import EffectivePrice
from vintry.contracts import (
    AdjustmentCandidate,
    CampaignSkip,
    CartDraft,
    DealerView,
    PricedLine,
)
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
    gift_quantity: int = 0
    """Units of ``quantity`` given free by an applied campaign."""


@dataclass(frozen=True)
class GiftGrant:
    """Units of a SKU an applied campaign gives free, resolved against the catalog."""

    sku_id: int
    sku: str
    name: str
    quantity: int
    base_unit_fen: int
    unit_fen: int


@dataclass
class Considered:
    """One campaign the pipeline considered for a cart, and what became of it.

    ``code`` is ``applied`` or why not: a plugin's skip (``not_targeted``,
    ``outside_window``, ``threshold_not_met``, ``budget_exhausted``, ``sold_out``,
    ``not_applicable``), ``lost_to_exclusive``, ``lost_to_stacking_group`` or ``invalid``.
    """

    source: str
    campaign: str
    name: str | None
    reason: str
    code: str
    why: str | None = None
    candidate: AdjustmentCandidate | None = None
    proposed_lines: list[int] = field(default_factory=list)
    applied_lines: list[int] = field(default_factory=list)
    gifts: tuple[GiftGrant, ...] = ()
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of_candidate(cls, source: str, candidate: AdjustmentCandidate) -> Considered:
        """A candidate, not yet chosen or refused."""
        return cls(
            source=source,
            campaign=candidate.campaign,
            name=candidate.name,
            reason=candidate.reason,
            code="candidate",
            candidate=candidate,
        )

    @classmethod
    def of_skip(cls, source: str, skip: CampaignSkip) -> Considered:
        """A campaign the plugin found not to apply."""
        return cls(
            source=source,
            campaign=skip.campaign,
            name=skip.name,
            reason=skip.message,
            code=skip.code,
            why=skip.message,
        )

    @property
    def label(self) -> str:
        """``'CODE' (Name)`` for messages."""
        return f"{self.campaign!r}" + (f" ({self.name})" if self.name else "")

    @property
    def priority(self) -> int:
        """The candidate's priority (0 for a skip)."""
        return self.candidate.priority if self.candidate is not None else 0

    @property
    def gift_value_fen(self) -> int:
        """What the resolved gifts are worth at the site's prices."""
        return sum(gift.unit_fen * gift.quantity for gift in self.gifts)

    @property
    def proposed_fen(self) -> int:
        """The discount the plugin proposed."""
        return to_fen(self.candidate.amount) if self.candidate is not None else 0

    @property
    def applied_fen(self) -> int:
        """The discount it gave after the floors (0 unless applied)."""
        return sum(self.applied_lines)

    def entry(self) -> dict[str, Any]:
        """The JSON form shown in a cart's and an order's explanation."""
        applied = self.code == "applied"
        entry: dict[str, Any] = {
            "source": self.source,
            "campaign": self.campaign,
            "name": self.name,
            "reason": self.reason,
            "applied": applied,
            "code": self.code,
            "why": self.why,
            "amount": str(from_fen(self.proposed_fen)),
            "applied_amount": str(from_fen(self.applied_fen)),
            "stacking_group": self.candidate.stacking_group if self.candidate else None,
            "priority": self.priority,
        }
        if not applied and self.why is not None:
            entry["lost_because"] = self.why
        if applied and self.applied_fen < self.proposed_fen:
            entry["capped_by_floor"] = True
        if self.gifts:
            entry["gifts"] = [
                {
                    "sku": gift.sku,
                    "quantity": gift.quantity,
                    "value": str(from_fen(gift.unit_fen * gift.quantity)),
                }
                for gift in self.gifts
            ]
        if self.notes:
            entry["notes"] = list(self.notes)
        return entry

    def adjustment(self) -> AdjustmentCandidate | None:
        """The applied adjustment as it really applied (floors taken into account), or None
        when it gave nothing."""
        if self.candidate is None or self.code != "applied":
            return None
        if self.applied_fen == 0 and not self.gifts:
            return None
        return self.candidate.model_copy(
            update={
                "amount": from_fen(self.applied_fen),
                "line_amounts": {
                    index: from_fen(fen) for index, fen in enumerate(self.applied_lines) if fen
                },
            }
        )


def _merge_gifts(lines: list[LinePrice], applied: list[Considered]) -> list[LinePrice]:
    """*lines* with the gifts of *applied* campaigns: more units of a line already there, a
    new line otherwise; every gift unit's price is discounted whole, so it costs nothing."""
    merged = list(lines)
    position = {line.sku: index for index, line in enumerate(merged)}
    for item in applied:
        for gift in item.gifts:
            value = gift.unit_fen * gift.quantity
            at = position.get(gift.sku)
            if at is None:
                position[gift.sku] = len(merged)
                merged.append(
                    LinePrice(
                        index=len(merged),
                        sku_id=gift.sku_id,
                        sku=gift.sku,
                        name=gift.name,
                        quantity=gift.quantity,
                        base_unit_fen=gift.base_unit_fen,
                        unit_fen=gift.unit_fen,
                        amount_fen=value,
                        discount_fen=value,
                        total_fen=0,
                        floor_fen=None,
                        gift_quantity=gift.quantity,
                    )
                )
            else:
                line = merged[at]
                merged[at] = replace(
                    line,
                    quantity=line.quantity + gift.quantity,
                    amount_fen=line.amount_fen + value,
                    discount_fen=line.discount_fen + value,
                    gift_quantity=line.gift_quantity + gift.quantity,
                )
    return merged


@dataclass
class PricedCart:
    """The outcome of the pipeline: lines, totals and the explanation.

    ``lines`` are the cart's lines with the gifts of the applied campaigns merged in (more
    units of a line the cart has, or new lines after the cart's), each gift unit
    discounted whole: their stock is held like any line's. ``applied`` and ``rejected``
    together are every campaign considered, each saying what became of it.
    """

    draft: CartDraft
    lines: list[LinePrice]
    applied: list[Considered] = field(default_factory=list)
    rejected: list[Considered] = field(default_factory=list)
    gifts_merged: bool = False

    def __post_init__(self) -> None:
        if not self.gifts_merged:
            self.lines = _merge_gifts(self.lines, self.applied)
            self.gifts_merged = True

    # The lines are final once the gifts are merged: the totals are summed once (placement
    # reads them several times per order, on the order writer's thread).
    @cached_property
    def subtotal_fen(self) -> int:
        """Sum of line amounts at site prices."""
        return sum(line.amount_fen for line in self.lines)

    @cached_property
    def discount_fen(self) -> int:
        """Sum of line discounts."""
        return sum(line.discount_fen for line in self.lines)

    @cached_property
    def total_fen(self) -> int:
        """What the dealer pays."""
        return self.subtotal_fen - self.discount_fen

    @property
    def adjustments(self) -> tuple[AdjustmentCandidate, ...]:
        """The applied adjustments as they applied (after the floors): what an order's
        ``OrderDraft.adjustments`` carries to ``vintry_claim_resources``."""
        return tuple(
            adjustment
            for adjustment in (item.adjustment() for item in self.applied)
            if adjustment is not None
        )

    def breakdown(self) -> dict[str, Any]:
        """The explanation stored with an order and shown with a cart (JSON-ready).

        ``campaigns`` lists every campaign considered — applied first, then by priority —
        each with ``applied``, ``code`` (``applied`` or why not) and ``why``; ``applied``
        and ``rejected`` are the same entries split in two.
        """
        everything = sorted(
            [*self.applied, *self.rejected],
            key=lambda item: (item.code != "applied", -item.priority, item.campaign),
        )
        return {
            "lines": [_line_entry(line) for line in self.lines],
            "applied": [item.entry() for item in self.applied],
            "rejected": [item.entry() for item in self.rejected],
            "campaigns": [item.entry() for item in everything],
            "subtotal": yuan_text(self.subtotal_fen),
            "discount": yuan_text(self.discount_fen),
            "total": yuan_text(self.total_fen),
        }


def yuan_text(fen: int) -> str:
    """``str(from_fen(fen))`` — yuan with two places, as the API writes amounts — without
    Decimal arithmetic: an order's breakdown, row and response write about fifty amounts."""
    sign, units = ("-", -fen) if fen < 0 else ("", fen)
    yuan, cents = divmod(units, 100)
    return f"{sign}{yuan}.{cents:02d}"


def _line_entry(line: LinePrice) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "sku": line.sku,
        "quantity": line.quantity,
        "base_unit_price": yuan_text(line.base_unit_fen),
        "unit_price": yuan_text(line.unit_fen),
        "amount": yuan_text(line.amount_fen),
        "discount": yuan_text(line.discount_fen),
        "total": yuan_text(line.total_fen),
    }
    if line.gift_quantity:
        entry["gift_quantity"] = line.gift_quantity
    return entry


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
        draft_line(index, entry, line.quantity)
        for index, (entry, line) in enumerate(zip(entries, lines, strict=True))
    ]
    draft = CartDraft(
        site=site.code,
        dealer=dealer,
        lines=tuple(priced),
        subtotal=sum((p.amount for p in priced), start=from_fen(0)),
    )
    candidates = _collect_candidates(site, draft, dealer, now, session, directory)
    amounts = [
        price.price_fen * line.quantity for price, line in zip(effective, lines, strict=True)
    ]
    caps = [
        max(0, amount - (price.lowest_allowed_fen or 0) * line.quantity)
        for amount, price, line in zip(amounts, effective, lines, strict=True)
    ]
    discounts, applied, rejected = _choose(candidates, amounts, caps)
    line_prices = [
        line_price(index, entries[index], line.quantity, discounts[index])
        for index, line in enumerate(lines)
    ]
    return PricedCart(draft=draft, lines=line_prices, applied=applied, rejected=rejected)


def draft_line(index: int, entry: BookEntry, quantity: int) -> PricedLine:
    """Line *index* of a cart as ``vintry_price_cart`` sees it: the SKU's facts and the
    site's prices, before campaigns."""
    return PricedLine(
        index=index,
        sku=entry.code,
        product=entry.product,
        brand=entry.brand,
        category=entry.category,
        tags=entry.tags,
        quantity=quantity,
        base_unit_price=from_fen(entry.price.base_fen),
        unit_price=from_fen(entry.price.price_fen),
        amount=from_fen(entry.price.price_fen * quantity),
    )


def line_price(index: int, entry: BookEntry, quantity: int, discount_fen: int) -> LinePrice:
    """Line *index* at the site's price less *discount_fen*, in fen."""
    amount = entry.price.price_fen * quantity
    return LinePrice(
        index=index,
        sku_id=entry.sku_id,
        sku=entry.code,
        name=entry.name,
        quantity=quantity,
        base_unit_fen=entry.price.base_fen,
        unit_fen=entry.price.price_fen,
        amount_fen=amount,
        discount_fen=discount_fen,
        total_fen=amount - discount_fen,
        floor_fen=entry.price.lowest_allowed_fen,
    )


def _collect_candidates(
    site: SiteContext,
    draft: CartDraft,
    dealer: DealerView,
    now: datetime,
    session: Session,
    directory: SiteDirectory,
) -> list[Considered]:
    """Every plugin's candidates and skips, each as a :class:`Considered`, in call order.

    Gifts are resolved here, against the catalog and the stock of the warehouses serving
    the site: a gift that is not offered, is floored or is out of stock is dropped with a
    message saying so (the whole candidate, ``sold_out``, when the gift was all it gave).
    """
    found: list[Considered] = []
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
        for item in result or []:
            if isinstance(item, AdjustmentCandidate):
                found.append(Considered.of_candidate(impl.plugin_name, item))
            elif isinstance(item, CampaignSkip):
                found.append(Considered.of_skip(impl.plugin_name, item))
            else:
                raise ServiceUnavailable(
                    f"plugin {impl.plugin_name!r} returned {type(item).__name__}, "
                    "not an AdjustmentCandidate or a CampaignSkip",
                    code="pricing_plugin_failed",
                    details={"plugin": impl.plugin_name},
                )
    if any(c.candidate is not None and c.candidate.gifts for c in found):
        _resolve_gifts(site, found, now, session, directory)
    return found


def _resolve_gifts(
    site: SiteContext,
    considered: list[Considered],
    now: datetime,
    session: Session,
    directory: SiteDirectory,
) -> None:
    from vintry.catalog import price_book
    from vintry.inventory import stock
    from vintry.inventory.service import eligible_warehouse_ids

    wanted = {
        gift.sku
        for item in considered
        if item.candidate is not None
        for gift in item.candidate.gifts
    }
    # On the pricing's own session: a second one here could starve the pool under load.
    book = price_book.lookup(session, site, directory, wanted)
    warehouses = eligible_warehouse_ids(session, directory, site.code)
    units = stock.available(
        session,
        sku_ids=[entry.sku_id for entry in book.values()],
        warehouse_ids=warehouses,
        now=now,
    )
    left = {code: sum(units.get(entry.sku_id, {}).values()) for code, entry in book.items()}
    for item in considered:
        if item.candidate is None or not item.candidate.gifts:
            continue
        grants: list[GiftGrant] = []
        problem: str | None = None
        for gift in item.candidate.gifts:
            entry = book.get(gift.sku)
            if entry is None or not entry.offered:
                problem = f"gift SKU {gift.sku!r} is not offered here"
            elif entry.price.lowest_allowed_fen:
                problem = f"gift SKU {gift.sku!r} has a price floor and cannot be given free"
            elif left.get(gift.sku, 0) < gift.quantity:
                problem = (
                    f"gift SKU {gift.sku!r} is out of stock "
                    f"({left.get(gift.sku, 0)} available, {gift.quantity} needed)"
                )
            else:
                left[gift.sku] -= gift.quantity  # two offers cannot promise the same units
                grants.append(
                    GiftGrant(
                        sku_id=entry.sku_id,
                        sku=entry.code,
                        name=entry.name,
                        quantity=gift.quantity,
                        base_unit_fen=entry.price.base_fen,
                        unit_fen=entry.price.price_fen,
                    )
                )
            if problem is not None:
                break
        if problem is None:
            item.gifts = tuple(grants)
            continue
        for grant in grants:
            left[grant.sku] += grant.quantity
        if item.candidate.amount > 0:
            item.notes.append(f"gift dropped: {problem}")
            item.candidate = item.candidate.model_copy(update={"gifts": ()})
        else:
            item.candidate = None
            item.code, item.why = "sold_out", problem


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


def _combination_key(item: Considered) -> str:
    assert item.candidate is not None
    if item.candidate.stacking_group:
        return f"group:{item.candidate.stacking_group}"
    return f"exclusive:{item.source}:{item.campaign}"


def _describe_combination(key: str, members: list[Considered], value_fen: int) -> str:
    if key.startswith("group:"):
        names = ", ".join(member.label for member in members)
        return f"stacking group {key[6:]!r} ({names}), worth {from_fen(value_fen)} yuan"
    return f"exclusive campaign {members[0].label}, worth {from_fen(value_fen)} yuan"


def _choose(
    considered: list[Considered], amounts: list[int], caps: list[int]
) -> tuple[list[int], list[Considered], list[Considered]]:
    """Apply the combination worth most to the dealer; explain every other campaign.

    Each exclusive candidate is a combination of its own, each stacking group one; a
    combination is worth its line discounts capped at the floors, plus its gifts. Ties go to
    the higher summed priority, then the lower key. The capped discount of each line is
    shared among the winning members in proportion to what each proposed for that line
    (``money.prorate``: to the fen, summing exactly), so each applied campaign records what
    it really gave.
    """
    combos: dict[str, list[Considered]] = defaultdict(list)
    rejected: list[Considered] = []
    for item in considered:
        if item.candidate is None:
            rejected.append(item)
            continue
        split = _split(item.candidate, amounts)
        if isinstance(split, str):
            item.code, item.why = "invalid", split
            rejected.append(item)
            continue
        item.proposed_lines = split
        combos[_combination_key(item)].append(item)
    best_key: str | None = None
    best_rank: tuple[int, int] = (-1, 0)
    best_lines = [0] * len(amounts)
    values: dict[str, int] = {}
    for key, members in sorted(combos.items()):
        raw = [sum(m.proposed_lines[i] for m in members) for i in range(len(amounts))]
        capped = [min(r, c) for r, c in zip(raw, caps, strict=True)]
        values[key] = sum(capped) + sum(m.gift_value_fen for m in members)
        rank = (values[key], sum(m.priority for m in members))
        if rank > best_rank:
            best_key, best_rank, best_lines = key, rank, capped
    applied: list[Considered] = []
    if best_key is not None:
        winners = combos[best_key]
        shares = [
            prorate(best_lines[i], [m.proposed_lines[i] for m in winners])
            for i in range(len(amounts))
        ]
        for position, member in enumerate(winners):
            member.applied_lines = [shares[i][position] for i in range(len(amounts))]
            member.code, member.why = "applied", None
            applied.append(member)
        beaten_by = _describe_combination(best_key, winners, values[best_key])
        loss = "lost_to_stacking_group" if best_key.startswith("group:") else "lost_to_exclusive"
        for key, members in sorted(combos.items()):
            if key == best_key:
                continue
            for member in members:
                member.code, member.why = loss, f"lost to {beaten_by}"
                rejected.append(member)
    return best_lines, applied, rejected
