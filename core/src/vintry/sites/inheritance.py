"""The one answer to "what is in force for site X": inheritance down the site tree.

Every kind of inherited setting (ARCHITECTURE §2) is resolved here by one function,
:func:`resolve`, from the *chain* of values the sites on the path root → X have set
themselves. A rule decides how the chain folds; the result carries its provenance (which
site decided each part), so the API and the console can say why a value is what it is.

==========================  ==========================================================
kind                        rule
==========================  ==========================================================
``plugin_enablement``       :class:`EnablementRule`: inherit / on / off, ``required``
``plugin_configuration``    :class:`FieldMergeRule`: a child overrides only its fields
``site_settings``           :class:`FieldMergeRule`
``prices``                  :class:`NearestWinsRule`: absolute override
``price_floors``            :class:`StrictestFloorRule`: no descendant can cross
``assortment``              :class:`NarrowingRule`: children only hide
``sourcing_rules``          :class:`NearestWinsRule`: inherited whole
``page_layouts``            :class:`OwnedOrRootRule`: own, else HQ's default
==========================  ==========================================================
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

from vintry.errors import InvalidInput

V = TypeVar("V")
R = TypeVar("R")


@dataclass(frozen=True)
class Layer(Generic[V]):
    """What one site on the path sets itself; ``None`` means nothing (inherit)."""

    site: str
    value: V | None


@dataclass(frozen=True)
class Resolved(Generic[R]):
    """The value in force, and the site that decided each part of it.

    ``decided_by`` maps a part (a field name, a SKU, or ``"*"`` for the whole value) to
    the code of the site whose layer decided it; ``None`` means the built-in default.
    """

    value: R
    decided_by: Mapping[str, str | None] = field(default_factory=dict)


class InheritanceRule(Protocol[V, R]):
    """How a chain of layers, root first, folds into the value in force at its last site."""

    def resolve(self, chain: Sequence[Layer[V]]) -> Resolved[R]:
        """Fold *chain* (root first, the site asked about last)."""
        ...


def resolve(rule: InheritanceRule[V, R], chain: Sequence[Layer[V]]) -> Resolved[R]:
    """The value in force at the last site of *chain* under *rule*.

    *chain* runs from the root to the site asked about; it must not be empty.
    """
    if not chain:
        raise ValueError("an inheritance chain needs at least the root")
    return rule.resolve(chain)


# --- plugin enablement ----------------------------------------------------------------


class EnablementState(enum.StrEnum):
    """What a site says about a plugin."""

    INHERIT = "inherit"
    ON = "on"
    OFF = "off"


@dataclass(frozen=True)
class Enablement:
    """One site's enablement setting; ``required`` forces the plugin on below it."""

    state: EnablementState = EnablementState.INHERIT
    required: bool = False


@dataclass(frozen=True)
class EnablementRule:
    """``inherit`` takes the parent's answer; the root's ``inherit`` means off.

    A site (HQ, in practice) that marks a plugin ``required`` turns it on for its whole
    subtree, whatever the descendants say.
    """

    def resolve(self, chain: Sequence[Layer[Enablement]]) -> Resolved[bool]:
        """Whether the plugin is enabled at the last site of *chain*."""
        enabled, decided_by = False, None
        for layer in chain:
            setting = layer.value
            if setting is None:
                continue
            if setting.required:
                return Resolved(True, {"*": layer.site})
            if setting.state is not EnablementState.INHERIT:
                enabled, decided_by = setting.state is EnablementState.ON, layer.site
        return Resolved(enabled, {"*": decided_by})


# --- field merge (plugin configuration, site settings) --------------------------------


@dataclass(frozen=True)
class FieldMergeRule:
    """Each site's override replaces only the top-level fields it sets.

    ``defaults`` are the values in force where nobody set anything (a settings model's
    defaults). Removing a site's override restores what its parent has.
    """

    defaults: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self, chain: Sequence[Layer[Mapping[str, Any]]]) -> Resolved[dict[str, Any]]:
        """The merged fields at the last site of *chain*."""
        merged = dict(self.defaults)
        decided_by: dict[str, str | None] = dict.fromkeys(merged)
        for layer in chain:
            for name, value in (layer.value or {}).items():
                merged[name] = value
                decided_by[name] = layer.site
        return Resolved(merged, decided_by)


# --- nearest wins (prices, sourcing rules) --------------------------------------------


@dataclass(frozen=True)
class NearestWinsRule(Generic[V]):
    """The value set nearest to the site wins whole; ``default`` where nobody set one."""

    default: V | None = None

    def resolve(self, chain: Sequence[Layer[V]]) -> Resolved[V | None]:
        """The nearest value set on the path, or the default."""
        for layer in reversed(chain):
            if layer.value is not None:
                return Resolved(layer.value, {"*": layer.site})
        return Resolved(self.default, {"*": None})


# --- price floors ---------------------------------------------------------------------


@dataclass(frozen=True)
class PriceFloor:
    """A bound no price may cross: a minimum price and a maximum discount off the base.

    ``max_discount`` is a fraction (``Decimal("0.30")`` for 30 % off at most).
    """

    min_price: Decimal | None = None
    max_discount: Decimal | None = None


@dataclass(frozen=True)
class StrictestFloorRule:
    """Every ancestor's floor holds below it: the highest minimum, the smallest discount."""

    def resolve(self, chain: Sequence[Layer[PriceFloor]]) -> Resolved[PriceFloor]:
        """The tightest floor along *chain*."""
        min_price: Decimal | None = None
        max_discount: Decimal | None = None
        decided_by: dict[str, str | None] = {"min_price": None, "max_discount": None}
        for layer in chain:
            floor = layer.value
            if floor is None:
                continue
            if floor.min_price is not None and (min_price is None or floor.min_price > min_price):
                min_price, decided_by["min_price"] = floor.min_price, layer.site
            if floor.max_discount is not None and (
                max_discount is None or floor.max_discount < max_discount
            ):
                max_discount, decided_by["max_discount"] = floor.max_discount, layer.site
        return Resolved(PriceFloor(min_price, max_discount), decided_by)


# --- assortment -----------------------------------------------------------------------


@dataclass(frozen=True)
class Narrowing:
    """A site's assortment layer: the root lists what exists, others only hide."""

    include: frozenset[str] | None = None
    hide: frozenset[str] = frozenset()


@dataclass(frozen=True)
class NarrowingRule:
    """The root's set minus everything hidden on the path; only the root may add."""

    def resolve(self, chain: Sequence[Layer[Narrowing]]) -> Resolved[frozenset[str]]:
        """The SKUs offered at the last site of *chain*."""
        root = chain[0].value or Narrowing()
        offered = set(root.include or ())
        decided_by: dict[str, str | None] = dict.fromkeys(offered, chain[0].site)
        for layer in chain:
            if layer.value is None:
                continue
            if layer is not chain[0] and layer.value.include is not None:
                raise InvalidInput(
                    f"site {layer.site!r} cannot add SKUs: adding to the assortment is HQ's",
                    code="assortment_add_not_allowed",
                    field="include",
                )
            for sku in layer.value.hide:
                if sku in offered:
                    offered.discard(sku)
                    decided_by[sku] = layer.site
        return Resolved(frozenset(offered), decided_by)


# --- owned by the site (page layouts) -------------------------------------------------


@dataclass(frozen=True)
class OwnedOrRootRule(Generic[V]):
    """A site's own value, else the root's (HQ's default), never a middle ancestor's."""

    def resolve(self, chain: Sequence[Layer[V]]) -> Resolved[V | None]:
        """The site's own value or the root's."""
        own = chain[-1]
        if own.value is not None:
            return Resolved(own.value, {"*": own.site})
        return Resolved(
            chain[0].value, {"*": chain[0].site if chain[0].value is not None else None}
        )


SETTING_KINDS: dict[str, type[Any]] = {
    "plugin_enablement": EnablementRule,
    "plugin_configuration": FieldMergeRule,
    "site_settings": FieldMergeRule,
    "prices": NearestWinsRule,
    "price_floors": StrictestFloorRule,
    "assortment": NarrowingRule,
    "sourcing_rules": NearestWinsRule,
    "page_layouts": OwnedOrRootRule,
}
"""Every kind of inherited setting and the rule that resolves it (tests walk this table)."""
