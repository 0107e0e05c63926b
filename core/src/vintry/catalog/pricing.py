"""Site prices and HQ price floors, resolved down the site tree.

* **Price** — :class:`~vintry.sites.inheritance.NearestWinsRule` over the sites' own prices
  on the path root → site; the SKU's base price where nobody set one. A site's price is an
  absolute override of its parent's, so clearing it restores the parent's.
* **Floor** — :class:`~vintry.sites.inheritance.StrictestFloorRule` over the floors set on
  the path: the highest minimum price and the smallest maximum discount (in basis points of
  the base price) hold together. A floor set at a site holds for its whole subtree.

The invariant kept by every write here (a site price set or cleared, a floor set, a base
price changed): **no site's price in force crosses its floor**. A write is checked against
every site of the subtree it reaches, inheriting sites included, and refused whole — with
the sites and bounds named — if one would cross; nothing is written then. Every pricing
write first locks the SKU's row (PostgreSQL; SQLite serialises writers), so two changes
are never checked against each other's stale state.

:func:`effective_prices` answers for a page of SKUs in one query per table;
:func:`check_floor` is what a site price and, later, the pricing pipeline's final unit
prices are held to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from vintry.accounts.principal import Actor
from vintry.audit.service import record_change
from vintry.catalog.assortment import offered_at
from vintry.catalog.lookup import find_sku
from vintry.catalog.models import PriceFloorRule, SitePrice, Sku
from vintry.catalog.schemas import FloorOut, FloorSet, SitePriceOut, SitePricePage
from vintry.errors import Conflict, InvalidInput, VintryError
from vintry.events.outbox import EventType, record_event
from vintry.money import from_fen, to_fen
from vintry.platform import Platform
from vintry.sites.directory import SiteDirectory
from vintry.sites.inheritance import (
    Layer,
    NearestWinsRule,
    PriceFloor,
    StrictestFloorRule,
    resolve,
)

BASIS_POINTS = 10_000

FloorBounds = tuple[int | None, int | None]
"""One site's own floor: (minimum price in fen, maximum discount in basis points)."""


@dataclass(frozen=True)
class EffectivePrice:
    """A SKU's price in force at a site, where it comes from, and its floor there.

    ``decided_by`` is the site whose own price is in force, ``None`` for the base price.
    ``floor_decided_by`` names the site that set each bound (``min_price``,
    ``max_discount``), ``None`` where no floor bounds it.
    """

    sku_id: int
    price_fen: int
    base_fen: int
    decided_by: str | None
    floor_min_fen: int | None
    floor_max_discount_bp: int | None
    floor_decided_by: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def lowest_allowed_fen(self) -> int | None:
        """The lowest price both bounds allow, or ``None`` without a floor."""
        bounds = []
        if self.floor_min_fen is not None:
            bounds.append(self.floor_min_fen)
        if self.floor_max_discount_bp is not None:
            bounds.append(lowest_after_discount(self.base_fen, self.floor_max_discount_bp))
        return max(bounds) if bounds else None

    def allows(self, price_fen: int) -> bool:
        """Whether *price_fen* respects this floor."""
        lowest = self.lowest_allowed_fen
        return lowest is None or price_fen >= lowest


@dataclass(frozen=True)
class FloorViolation:
    """A price that would cross the floor in force at a site."""

    site: str
    sku: str
    price_fen: int
    lowest_allowed_fen: int
    min_price_fen: int | None
    max_discount_bp: int | None
    floor_decided_by: Mapping[str, str | None]

    def describe(self) -> str:
        """One human sentence naming the site, the SKU, the price and the floor."""
        bounds = []
        if self.min_price_fen is not None:
            bounds.append(
                f"minimum {from_fen(self.min_price_fen)} set by "
                f"{self.floor_decided_by.get('min_price')}"
            )
        if self.max_discount_bp is not None:
            bounds.append(
                f"at most {self.max_discount_bp} bp off the base price set by "
                f"{self.floor_decided_by.get('max_discount')}"
            )
        return (
            f"price {from_fen(self.price_fen)} of SKU {self.sku!r} at site {self.site!r} is "
            f"below its floor of {from_fen(self.lowest_allowed_fen)} ({'; '.join(bounds)})"
        )

    def details(self) -> dict[str, Any]:
        """The violation as JSON-ready error details."""
        return {
            "site": self.site,
            "sku": self.sku,
            "price": str(from_fen(self.price_fen)),
            "lowest_price": str(from_fen(self.lowest_allowed_fen)),
            "min_price": None if self.min_price_fen is None else str(from_fen(self.min_price_fen)),
            "max_discount_bp": self.max_discount_bp,
            "floor_decided_by": dict(self.floor_decided_by),
        }


def lowest_after_discount(base_fen: int, max_discount_bp: int) -> int:
    """The lowest price in fen that is at most *max_discount_bp* off *base_fen*.

    Rounded up: a fen rounded down would be a discount larger than allowed.
    """
    return -((-base_fen * (BASIS_POINTS - max_discount_bp)) // BASIS_POINTS)


def _as_floor(bounds: FloorBounds | None) -> PriceFloor | None:
    if bounds is None:
        return None
    min_fen, bp = bounds
    return PriceFloor(
        min_price=None if min_fen is None else from_fen(min_fen),
        max_discount=None if bp is None else Decimal(bp) / BASIS_POINTS,
    )


def resolve_price(
    sku_id: int,
    path: Sequence[str],
    base_fen: int,
    prices: Mapping[str, int],
    floors: Mapping[str, FloorBounds],
) -> EffectivePrice:
    """The price and floor in force at the last site of *path* (codes, root first), from
    the sites' own prices and floors by site code."""
    price = resolve(
        NearestWinsRule[int](default=base_fen), [Layer(code, prices.get(code)) for code in path]
    )
    floor = resolve(
        StrictestFloorRule(), [Layer(code, _as_floor(floors.get(code))) for code in path]
    )
    assert price.value is not None, "the base price is the default"
    min_price, max_discount = floor.value.min_price, floor.value.max_discount
    return EffectivePrice(
        sku_id=sku_id,
        price_fen=price.value,
        base_fen=base_fen,
        decided_by=price.decided_by["*"],
        floor_min_fen=None if min_price is None else to_fen(min_price),
        floor_max_discount_bp=None if max_discount is None else int(max_discount * BASIS_POINTS),
        floor_decided_by=dict(floor.decided_by),
    )


def effective_prices(
    session: Session,
    directory: SiteDirectory,
    site_code: str,
    sku_ids: Iterable[int],
    *,
    base_fen: Mapping[int, int] | None = None,
) -> dict[int, EffectivePrice]:
    """Prices and floors in force at site *site_code* for *sku_ids*, keyed by SKU id.

    One query per table for the whole batch (site prices, floors, and the base prices
    unless *base_fen* already gives them by SKU id). Unknown SKUs are left out.
    """
    ids = sorted(set(sku_ids))
    if not ids:
        return {}
    path = directory.path(site_code)
    path_ids = [node.id for node in path]
    codes = [node.code for node in path]
    code_of = {node.id: node.code for node in path}
    if base_fen is None:
        query = select(Sku.id, Sku.base_price_fen).where(Sku.id.in_(ids))
        base_fen = {sku_id: fen for sku_id, fen in session.execute(query)}
    prices: dict[int, dict[str, int]] = {}
    for site_id, sku_id, price_fen in session.execute(
        select(SitePrice.site_id, SitePrice.sku_id, SitePrice.price_fen).where(
            SitePrice.site_id.in_(path_ids), SitePrice.sku_id.in_(ids)
        )
    ):
        prices.setdefault(sku_id, {})[code_of[site_id]] = price_fen
    floors: dict[int, dict[str, FloorBounds]] = {}
    for site_id, sku_id, min_fen, bp in session.execute(
        select(
            PriceFloorRule.site_id,
            PriceFloorRule.sku_id,
            PriceFloorRule.min_price_fen,
            PriceFloorRule.max_discount_bp,
        ).where(PriceFloorRule.site_id.in_(path_ids), PriceFloorRule.sku_id.in_(ids))
    ):
        floors.setdefault(sku_id, {})[code_of[site_id]] = (min_fen, bp)
    return {
        sku_id: resolve_price(
            sku_id, codes, base_fen[sku_id], prices.get(sku_id, {}), floors.get(sku_id, {})
        )
        for sku_id in ids
        if sku_id in base_fen
    }


def floor_violation(
    effective: EffectivePrice, price_fen: int, *, sku: str, site: str
) -> FloorViolation | None:
    """How *price_fen* would cross the floor of *effective*, or ``None`` if it does not."""
    lowest = effective.lowest_allowed_fen
    if lowest is None or price_fen >= lowest:
        return None
    return FloorViolation(
        site=site,
        sku=sku,
        price_fen=price_fen,
        lowest_allowed_fen=lowest,
        min_price_fen=effective.floor_min_fen,
        max_discount_bp=effective.floor_max_discount_bp,
        floor_decided_by=effective.floor_decided_by,
    )


def check_floor(effective: EffectivePrice, price_fen: int, *, sku: str, site: str) -> None:
    """Refuse *price_fen* for *sku* at *site* with 422 ``below_price_floor`` if it crosses
    the floor of *effective* (the SKU's :func:`effective_prices` entry at that site)."""
    violation = floor_violation(effective, price_fen, sku=sku, site=site)
    if violation is not None:
        raise _below_floor([violation])


def _below_floor(violations: Sequence[FloorViolation], cause: str = "") -> InvalidInput:
    first = violations[0]
    return InvalidInput(
        f"{cause}{first.describe()}",
        code="below_price_floor",
        field="price",
        details={"violations": [v.details() for v in violations]},
    )


# --- one SKU across the tree (the checks behind every write) -------------------------


@dataclass
class SkuLayers:
    """Every site's own price and floor for one SKU, by site code."""

    sku: Sku
    prices: dict[str, int]
    floors: dict[str, FloorBounds]

    @classmethod
    def load(cls, session: Session, directory: SiteDirectory, sku: Sku) -> SkuLayers:
        """Read them: two small queries (at most one row per site each)."""
        known = {node.id: node.code for node in directory.nodes.values()}
        prices = {
            known[site_id]: price_fen
            for site_id, price_fen in session.execute(
                select(SitePrice.site_id, SitePrice.price_fen).where(SitePrice.sku_id == sku.id)
            )
            if site_id in known
        }
        floors = {
            known[site_id]: (min_fen, bp)
            for site_id, min_fen, bp in session.execute(
                select(
                    PriceFloorRule.site_id,
                    PriceFloorRule.min_price_fen,
                    PriceFloorRule.max_discount_bp,
                ).where(PriceFloorRule.sku_id == sku.id)
            )
            if site_id in known
        }
        return cls(sku=sku, prices=prices, floors=floors)

    def effective(
        self, directory: SiteDirectory, site_code: str, base_fen: int | None = None
    ) -> EffectivePrice:
        """The price and floor in force at *site_code* (with *base_fen* instead of the SKU's)."""
        path = [node.code for node in directory.path(site_code)]
        base = self.sku.base_price_fen if base_fen is None else base_fen
        return resolve_price(self.sku.id, path, base, self.prices, self.floors)

    def violations(
        self, directory: SiteDirectory, top: str, base_fen: int | None = None
    ) -> list[FloorViolation]:
        """Every site from *top* down whose price in force would cross its floor."""
        found = []
        for node in directory.subtree(top):
            effective = self.effective(directory, node.code, base_fen)
            violation = floor_violation(
                effective, effective.price_fen, sku=self.sku.code, site=node.code
            )
            if violation is not None:
                found.append(violation)
        return found


def check_base_price_change(
    session: Session, directory: SiteDirectory, sku: Sku, new_base_fen: int
) -> None:
    """Refuse (409 ``floor_conflicts_with_prices``) a base price under which some site's
    price in force would cross its floor: a lower base can fall under a minimum, a higher
    one makes a maximum discount reach higher. Call with *sku* locked."""
    root = directory.root
    assert root is not None
    violations = SkuLayers.load(session, directory, sku).violations(
        directory, root.code, new_base_fen
    )
    if violations:
        raise Conflict(
            f"with base price {from_fen(new_base_fen)}, {violations[0].describe()}",
            code="floor_conflicts_with_prices",
            field="base_price",
            details={"violations": [v.details() for v in violations]},
        )


# --- outputs --------------------------------------------------------------------------


def floor_out(effective: EffectivePrice) -> FloorOut:
    """The API view of the floor in force."""
    lowest = effective.lowest_allowed_fen
    return FloorOut(
        min_price=None if effective.floor_min_fen is None else from_fen(effective.floor_min_fen),
        max_discount_bp=effective.floor_max_discount_bp,
        lowest_price=None if lowest is None else from_fen(lowest),
        decided_by=dict(effective.floor_decided_by),
    )


def _price_out(
    site_code: str, sku: Sku, effective: EffectivePrice, own_fen: int | None, offered: bool
) -> SitePriceOut:
    return SitePriceOut(
        site=site_code,
        sku=sku.code,
        name=sku.name,
        active=sku.active,
        offered=offered,
        base_price=from_fen(effective.base_fen),
        price=from_fen(effective.price_fen),
        decided_by=effective.decided_by,
        own_price=None if own_fen is None else from_fen(own_fen),
        floor=floor_out(effective),
    )


def site_price_out(
    session: Session, directory: SiteDirectory, site_code: str, sku: Sku
) -> SitePriceOut:
    """One SKU's price, floor and offer at site *site_code*."""
    return list_site_prices(session, directory, site_code, only=sku).items[0]


def list_site_prices(
    session: Session,
    directory: SiteDirectory,
    site_code: str,
    *,
    after: str | None = None,
    limit: int = 100,
    only: Sku | None = None,
) -> SitePricePage:
    """The pricing worksheet of a site: every SKU of the library by code, a page at a time
    (``after`` the last code seen), with its price, provenance, floor and offer there.

    Four queries per page whatever its size.
    """
    if only is not None:
        skus = [only]
    else:
        query = select(Sku).order_by(Sku.code).limit(limit + 1)
        if after is not None:
            query = query.where(Sku.code > after)
        skus = list(session.scalars(query))
    more = len(skus) > limit
    skus = skus[:limit]
    by_id = {sku.id: sku for sku in skus}
    effective = effective_prices(
        session, directory, site_code, by_id, base_fen={s.id: s.base_price_fen for s in skus}
    )
    offered = offered_at(session, directory, site_code, {s.id: (s.code, s.active) for s in skus})
    site_id = directory.get(site_code).id
    own: dict[int, int] = {}
    if skus:
        own_prices = select(SitePrice.sku_id, SitePrice.price_fen).where(
            SitePrice.site_id == site_id, SitePrice.sku_id.in_(list(by_id))
        )
        own = {sku_id: fen for sku_id, fen in session.execute(own_prices)}
    return SitePricePage(
        items=[
            _price_out(site_code, s, effective[s.id], own.get(s.id), s.code in offered.value)
            for s in skus
        ],
        next_after=skus[-1].code if more else None,
    )


# --- writes ---------------------------------------------------------------------------


def _price_json(fen: int | None) -> dict[str, Any] | None:
    return None if fen is None else {"price": str(from_fen(fen))}


def _floor_json(bounds: FloorBounds | None) -> dict[str, Any] | None:
    if bounds is None:
        return None
    min_fen, bp = bounds
    return {
        "min_price": None if min_fen is None else str(from_fen(min_fen)),
        "max_discount_bp": bp,
    }


V = TypeVar("V")


@dataclass(frozen=True)
class _OwnValue(Generic[V]):
    """What tells a site's own price from its own floor when either is set or cleared.

    Both are one row per (site, SKU), checked against the floors of the subtree they reach,
    audited as ``<subject>.set`` / ``<subject>.clear``; :func:`_change_own` does the rest.
    """

    subject: str
    """The audit object type, and the prefix of its actions."""
    model: type[SitePrice] | type[PriceFloorRule]
    layer: Callable[[SkuLayers], dict[str, V]]
    """The sites' own values of this kind, in the SKU's layers."""
    columns: Callable[[V], dict[str, Any]]
    """The row's columns for a value."""
    as_json: Callable[[V | None], dict[str, Any] | None]
    """The audit form of a value (``None``: not set)."""
    refusal: Callable[[SkuLayers, SiteDirectory, str, V | None], VintryError | None]
    """Why the layers, with the site's new value, cannot stand; ``None`` if they can."""
    event: EventType | None
    """The outbox event a change writes, for the site whose value it is."""


def _price_refusal(
    layers: SkuLayers, directory: SiteDirectory, site_code: str, price_fen: int | None
) -> VintryError | None:
    # Clearing a price can refuse too: the inherited price may be under a floor set below.
    violations = layers.violations(directory, site_code)
    if not violations:
        return None
    cause = "" if price_fen is not None else f"without site {site_code!r}'s own price, "
    return _below_floor(violations, cause)


def _floor_refusal(
    layers: SkuLayers, directory: SiteDirectory, site_code: str, bounds: FloorBounds | None
) -> VintryError | None:
    if bounds is None:
        return None  # clearing a floor only loosens
    violations = layers.violations(directory, site_code)
    if not violations:
        return None
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    return Conflict(
        f"the floor would be crossed by prices already in force: {violations[0].describe()}{more}",
        code="floor_conflicts_with_prices",
        field="floor",
        details={"violations": [v.details() for v in violations]},
    )


_SITE_PRICE = _OwnValue[int](
    subject="site_price",
    model=SitePrice,
    layer=lambda layers: layers.prices,
    columns=lambda price_fen: {"price_fen": price_fen},
    as_json=_price_json,
    refusal=_price_refusal,
    event=EventType.PRICE_CHANGED,
)
# A floor changes no price in force (it refuses prices instead), so the read models, which
# hold the price in force, have nothing to learn from it: no event.
_FLOOR = _OwnValue[FloorBounds](
    subject="price_floor",
    model=PriceFloorRule,
    layer=lambda layers: layers.floors,
    columns=lambda bounds: {"min_price_fen": bounds[0], "max_discount_bp": bounds[1]},
    as_json=_floor_json,
    refusal=_floor_refusal,
    event=None,
)


def _change_own(
    platform: Platform,
    kind: _OwnValue[V],
    site_code: str,
    sku_code: str,
    value: V | None,
    *,
    actor: Actor,
) -> SitePriceOut:
    """Set (or, with ``None``, clear) site *site_code*'s own value of *kind* for a SKU.

    One HQ transaction with the SKU's row locked: the new value is checked against every
    site it reaches and refused whole, or written with its audit entry and its outbox
    event. Setting what is already there writes nothing.
    """
    directory = platform.directory()
    site = directory.get(site_code)
    with platform.hq.transaction() as session:
        sku = find_sku(session, sku_code, for_update=True)
        layers = SkuLayers.load(session, directory, sku)
        own = kind.layer(layers)
        before = own.get(site_code)
        if before != value:
            if value is None:
                del own[site_code]
            else:
                own[site_code] = value
            refused = kind.refusal(layers, directory, site_code, value)
            if refused is not None:
                raise refused
            now = platform.clock.now()
            row = session.get(kind.model, (site.id, sku.id))
            if value is None:
                session.delete(row)
            else:
                columns = {**kind.columns(value), "updated_at": now}
                if row is None:
                    session.add(kind.model(site_id=site.id, sku_id=sku.id, **columns))
                else:
                    for column, column_value in columns.items():
                        setattr(row, column, column_value)
            session.flush()
            record_change(
                session,
                at=now,
                site_id=site.id,
                actor=actor,
                action=f"{kind.subject}.{'clear' if value is None else 'set'}",
                object_type=kind.subject,
                object_id=sku.code,
                before=kind.as_json(before),
                after=kind.as_json(value),
            )
            if kind.event is not None:
                record_event(
                    session, type=kind.event, site=site_code, payload={"sku": sku.code}, now=now
                )
        return site_price_out(session, directory, site_code, sku)


def set_site_price(
    platform: Platform, site_code: str, sku_code: str, price: Decimal, *, actor: Actor
) -> SitePriceOut:
    """Set site *site_code*'s own price of a SKU, for itself and the sites inheriting it.

    Refused with 422 ``below_price_floor`` (nothing written) if the price would cross the
    floor in force at the site or at any descendant that inherits it. A change writes a
    ``price.changed`` event of the site.
    """
    return _change_own(platform, _SITE_PRICE, site_code, sku_code, to_fen(price), actor=actor)


def clear_site_price(
    platform: Platform, site_code: str, sku_code: str, *, actor: Actor
) -> SitePriceOut:
    """Remove site *site_code*'s own price of a SKU: its parent's applies again.

    Idempotent. Refused with 422 ``below_price_floor`` if the inherited price would cross a
    floor set at the site or below it.
    """
    return _change_own(platform, _SITE_PRICE, site_code, sku_code, None, actor=actor)


def set_price_floor(
    platform: Platform, site_code: str, sku_code: str, request: FloorSet, *, actor: Actor
) -> SitePriceOut:
    """Set the floor of a SKU at site *site_code*, holding for its whole subtree.

    Replaces the site's own floor whole (a bound left out is no bound here). Refused with
    409 ``floor_conflicts_with_prices`` (nothing written) while any site of the subtree has
    a price in force below it: those prices are cleared or raised first, by their sites or
    by HQ. A floor never silently changes a price a site has set.
    """
    bounds: FloorBounds = (
        None if request.min_price is None else to_fen(request.min_price),
        request.max_discount_bp,
    )
    return _change_own(platform, _FLOOR, site_code, sku_code, bounds, actor=actor)


def clear_price_floor(
    platform: Platform, site_code: str, sku_code: str, *, actor: Actor
) -> SitePriceOut:
    """Remove the floor set at site *site_code* (idempotent); floors set above still hold."""
    return _change_own(platform, _FLOOR, site_code, sku_code, None, actor=actor)
