"""The inheritance test of the site tree: every kind of setting, one scenario each.

ARCHITECTURE §2 requires one resolution function, tested for every kind of setting. This
module is that test. :data:`SCENARIOS` holds one scenario per kind in
:data:`vintry.sites.inheritance.SETTING_KINDS`, walked on the path ``hq → region → store``:

(a) set on HQ: every level resolves to HQ's value, decided by HQ;
(b) overridden on the region: region and store get the override (page layouts: the store
    keeps HQ's default, never the region's), HQ keeps its own;
(c) the override cleared: back to HQ's value at every level.

``test_every_setting_kind_has_a_scenario`` fails when a kind is added to ``SETTING_KINDS``
without joining :data:`SCENARIOS`: **every later kind of setting must add its row here.**
The kind-specific rules (``required`` enablement, strictest price floors, narrowing
assortments, owned page layouts, field-by-field merge) follow, then Hypothesis properties
that check :class:`FieldMergeRule` and :class:`EnablementRule` against brute-force oracles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vintry.errors import InvalidInput
from vintry.sites.inheritance import (
    SETTING_KINDS,
    Enablement,
    EnablementRule,
    EnablementState,
    FieldMergeRule,
    Layer,
    Narrowing,
    NarrowingRule,
    NearestWinsRule,
    OwnedOrRootRule,
    PriceFloor,
    Resolved,
    StrictestFloorRule,
    resolve,
)

LEVELS = ("hq", "region", "store")
ON = Enablement(EnablementState.ON)
OFF = Enablement(EnablementState.OFF)
INHERIT = Enablement(EnablementState.INHERIT)


@dataclass(frozen=True)
class KindScenario:
    """One kind of setting walked through set on HQ → overridden on region → cleared.

    ``part`` is the ``decided_by`` key the scenario follows (``"*"`` for a whole value, a
    field name or a SKU otherwise). ``store_follows_region`` is False only where a store
    without its own value falls back to HQ rather than its parent (page layouts).
    """

    rule: Any
    hq_value: Any
    region_value: Any
    expected_from_hq: Any
    expected_with_override: Any
    part: str = "*"
    store_follows_region: bool = True


SITE_SETTING_DEFAULTS = {"min_order_amount": "0", "locale": "zh-CN"}
PLUGIN_DEFAULTS = {"bid_step": 10, "max_bidders": 50}

SCENARIOS: dict[str, KindScenario] = {
    "plugin_enablement": KindScenario(
        rule=EnablementRule(),
        hq_value=ON,
        region_value=OFF,
        expected_from_hq=True,
        expected_with_override=False,
    ),
    "plugin_configuration": KindScenario(
        rule=FieldMergeRule(defaults=PLUGIN_DEFAULTS),
        hq_value={"bid_step": 20},
        region_value={"bid_step": 5},
        expected_from_hq={"bid_step": 20, "max_bidders": 50},
        expected_with_override={"bid_step": 5, "max_bidders": 50},
        part="bid_step",
    ),
    "site_settings": KindScenario(
        rule=FieldMergeRule(defaults=SITE_SETTING_DEFAULTS),
        hq_value={"min_order_amount": "5000.00"},
        region_value={"min_order_amount": "3000.00"},
        expected_from_hq={"min_order_amount": "5000.00", "locale": "zh-CN"},
        expected_with_override={"min_order_amount": "3000.00", "locale": "zh-CN"},
        part="min_order_amount",
    ),
    "prices": KindScenario(
        rule=NearestWinsRule[Decimal](),
        hq_value=Decimal("1499.00"),
        region_value=Decimal("1399.00"),
        expected_from_hq=Decimal("1499.00"),
        expected_with_override=Decimal("1399.00"),
    ),
    "price_floors": KindScenario(
        # A region can only tighten a floor: its override is the stricter minimum.
        rule=StrictestFloorRule(),
        hq_value=PriceFloor(min_price=Decimal("1000.00")),
        region_value=PriceFloor(min_price=Decimal("1100.00")),
        expected_from_hq=PriceFloor(min_price=Decimal("1000.00")),
        expected_with_override=PriceFloor(min_price=Decimal("1100.00")),
        part="min_price",
    ),
    "assortment": KindScenario(
        # A region "overrides" by hiding; the hidden SKU's provenance moves to the region.
        rule=NarrowingRule(),
        hq_value=Narrowing(include=frozenset({"MT-53", "MT-43", "WLY-52"})),
        region_value=Narrowing(hide=frozenset({"WLY-52"})),
        expected_from_hq=frozenset({"MT-53", "MT-43", "WLY-52"}),
        expected_with_override=frozenset({"MT-53", "MT-43"}),
        part="WLY-52",
    ),
    "sourcing_rules": KindScenario(
        rule=NearestWinsRule[tuple[str, ...]](),
        hq_value=("nearest-warehouse", "split-allowed"),
        region_value=("single-warehouse",),
        expected_from_hq=("nearest-warehouse", "split-allowed"),
        expected_with_override=("single-warehouse",),
    ),
    "page_layouts": KindScenario(
        rule=OwnedOrRootRule[str](),
        hq_value="hq-default-template",
        region_value="east-spring-layout",
        expected_from_hq="hq-default-template",
        expected_with_override="east-spring-layout",
        store_follows_region=False,
    ),
}


def _resolve_levels(rule: Any, values: Sequence[Any]) -> dict[str, Resolved[Any]]:
    """Resolve at each level of hq → region → store, given each level's own layer value."""
    chain = [Layer(site, value) for site, value in zip(LEVELS, values, strict=True)]
    return {site: resolve(rule, chain[: index + 1]) for index, site in enumerate(LEVELS)}


def test_every_setting_kind_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(SETTING_KINDS), (
        "every kind in SETTING_KINDS needs a row in SCENARIOS (and vice versa)"
    )


@pytest.mark.parametrize("kind", sorted(SCENARIOS))
def test_scenario_uses_the_rule_registered_for_its_kind(kind: str) -> None:
    assert isinstance(SCENARIOS[kind].rule, SETTING_KINDS[kind])


@pytest.mark.parametrize("kind", sorted(SCENARIOS))
def test_value_set_on_hq_is_in_force_at_every_level(kind: str) -> None:
    scenario = SCENARIOS[kind]
    resolved = _resolve_levels(scenario.rule, [scenario.hq_value, None, None])
    for site in LEVELS:
        assert resolved[site].value == scenario.expected_from_hq, site
        assert resolved[site].decided_by[scenario.part] == "hq", site


@pytest.mark.parametrize("kind", sorted(SCENARIOS))
def test_region_override_reaches_its_subtree_and_leaves_hq_alone(kind: str) -> None:
    scenario = SCENARIOS[kind]
    resolved = _resolve_levels(scenario.rule, [scenario.hq_value, scenario.region_value, None])

    assert resolved["hq"].value == scenario.expected_from_hq
    assert resolved["hq"].decided_by[scenario.part] == "hq"
    assert resolved["region"].value == scenario.expected_with_override
    assert resolved["region"].decided_by[scenario.part] == "region"
    if scenario.store_follows_region:
        assert resolved["store"].value == scenario.expected_with_override
        assert resolved["store"].decided_by[scenario.part] == "region"
    else:
        assert resolved["store"].value == scenario.expected_from_hq
        assert resolved["store"].decided_by[scenario.part] == "hq"


@pytest.mark.parametrize("kind", sorted(SCENARIOS))
def test_clearing_the_override_restores_hq_value_everywhere(kind: str) -> None:
    scenario = SCENARIOS[kind]
    overridden = _resolve_levels(scenario.rule, [scenario.hq_value, scenario.region_value, None])
    assert overridden["region"].value == scenario.expected_with_override

    cleared = _resolve_levels(scenario.rule, [scenario.hq_value, None, None])
    for site in LEVELS:
        assert cleared[site].value == scenario.expected_from_hq, site
        assert cleared[site].decided_by[scenario.part] == "hq", site


def test_resolve_refuses_an_empty_chain() -> None:
    with pytest.raises(ValueError, match="at least the root"):
        resolve(EnablementRule(), [])


# --- plugin enablement ----------------------------------------------------------------


def test_required_at_hq_beats_a_child_turning_the_plugin_off() -> None:
    required = Enablement(EnablementState.ON, required=True)
    resolved = _resolve_levels(EnablementRule(), [required, OFF, OFF])
    for site in LEVELS:
        assert resolved[site].value is True, site
        assert resolved[site].decided_by == {"*": "hq"}, site


def test_required_holds_even_if_hq_itself_says_inherit() -> None:
    required = Enablement(EnablementState.INHERIT, required=True)
    resolved = _resolve_levels(EnablementRule(), [required, OFF, None])
    assert resolved["region"] == Resolved(True, {"*": "hq"})


def test_root_inherit_means_off_by_default() -> None:
    for root in (None, INHERIT):
        resolved = _resolve_levels(EnablementRule(), [root, None, INHERIT])
        for site in LEVELS:
            assert resolved[site] == Resolved(False, {"*": None}), (root, site)


def test_child_may_turn_on_a_plugin_the_root_leaves_off() -> None:
    resolved = _resolve_levels(EnablementRule(), [None, ON, None])
    assert resolved["hq"].value is False
    assert resolved["region"] == Resolved(True, {"*": "region"})
    assert resolved["store"] == Resolved(True, {"*": "region"})


def test_store_turning_off_overrides_region_on_without_required() -> None:
    resolved = _resolve_levels(EnablementRule(), [ON, ON, OFF])
    assert resolved["region"] == Resolved(True, {"*": "region"})
    assert resolved["store"] == Resolved(False, {"*": "store"})


# --- field merge ----------------------------------------------------------------------


def test_field_merge_replaces_only_the_fields_a_child_sets() -> None:
    rule = FieldMergeRule(defaults={"a": 1, "b": 2, "c": 3})
    resolved = _resolve_levels(rule, [{"a": 10, "b": 20}, {"b": 200}, {"c": 3000}])

    assert resolved["region"].value == {"a": 10, "b": 200, "c": 3}
    assert resolved["region"].decided_by == {"a": "hq", "b": "region", "c": None}
    assert resolved["store"].value == {"a": 10, "b": 200, "c": 3000}
    assert resolved["store"].decided_by == {"a": "hq", "b": "region", "c": "store"}


def test_field_merge_with_no_overrides_is_the_defaults_decided_by_nobody() -> None:
    rule = FieldMergeRule(defaults={"a": 1})
    assert _resolve_levels(rule, [None, {}, None])["store"] == Resolved({"a": 1}, {"a": None})


def test_field_merge_does_not_mutate_its_defaults() -> None:
    defaults = {"a": 1}
    _resolve_levels(FieldMergeRule(defaults=defaults), [{"a": 2}, None, None])
    assert defaults == {"a": 1}


# --- price floors ---------------------------------------------------------------------


def test_price_floor_is_the_strictest_along_the_chain() -> None:
    chain_values = [
        PriceFloor(min_price=Decimal("1000"), max_discount=Decimal("0.30")),
        PriceFloor(min_price=Decimal("900"), max_discount=Decimal("0.20")),  # looser min
        PriceFloor(min_price=Decimal("1200"), max_discount=Decimal("0.25")),  # looser discount
    ]
    resolved = _resolve_levels(StrictestFloorRule(), chain_values)

    assert resolved["region"].value == PriceFloor(Decimal("1000"), Decimal("0.20"))
    assert resolved["region"].decided_by == {"min_price": "hq", "max_discount": "region"}
    assert resolved["store"].value == PriceFloor(Decimal("1200"), Decimal("0.20"))
    assert resolved["store"].decided_by == {"min_price": "store", "max_discount": "region"}


def test_a_descendant_cannot_loosen_hq_floor() -> None:
    hq_floor = PriceFloor(min_price=Decimal("1000"), max_discount=Decimal("0.10"))
    loose = PriceFloor(min_price=Decimal("1"), max_discount=Decimal("0.90"))
    resolved = _resolve_levels(StrictestFloorRule(), [hq_floor, loose, loose])
    assert resolved["store"] == Resolved(hq_floor, {"min_price": "hq", "max_discount": "hq"})


def test_no_floor_anywhere_means_unbounded() -> None:
    resolved = _resolve_levels(StrictestFloorRule(), [None, None, None])
    assert resolved["store"] == Resolved(PriceFloor(), {"min_price": None, "max_discount": None})


# --- assortment -----------------------------------------------------------------------


def test_assortment_children_only_hide() -> None:
    root = Narrowing(include=frozenset({"A", "B", "C", "D"}))
    resolved = _resolve_levels(
        NarrowingRule(), [root, Narrowing(hide=frozenset({"B"})), Narrowing(hide=frozenset({"C"}))]
    )
    assert resolved["hq"].value == {"A", "B", "C", "D"}
    assert resolved["region"].value == {"A", "C", "D"}
    assert resolved["store"].value == {"A", "D"}
    assert resolved["store"].decided_by == {"A": "hq", "B": "region", "C": "store", "D": "hq"}


def test_hiding_a_sku_the_parent_does_not_offer_changes_nothing() -> None:
    root = Narrowing(include=frozenset({"A"}))
    resolved = _resolve_levels(NarrowingRule(), [root, Narrowing(hide=frozenset({"Z"})), None])
    assert resolved["store"] == Resolved(frozenset({"A"}), {"A": "hq"})


@pytest.mark.parametrize("adder", ["region", "store"])
def test_a_non_root_include_is_refused(adder: str) -> None:
    adding = Narrowing(include=frozenset({"EXTRA"}))
    values = [Narrowing(include=frozenset({"A"})), None, None]
    values[LEVELS.index(adder)] = adding
    chain = [Layer(site, value) for site, value in zip(LEVELS, values, strict=True)]

    with pytest.raises(InvalidInput) as raised:
        resolve(NarrowingRule(), chain)
    assert raised.value.code == "assortment_add_not_allowed"
    assert raised.value.field == "include"
    assert adder in raised.value.message


def test_a_non_root_include_of_nothing_is_still_refused() -> None:
    chain = [
        Layer("hq", Narrowing(include=frozenset({"A"}))),
        Layer("region", Narrowing(include=frozenset())),
    ]
    with pytest.raises(InvalidInput, match="cannot add SKUs"):
        resolve(NarrowingRule(), chain)


# --- page layouts ---------------------------------------------------------------------


def test_store_without_a_layout_gets_hq_default_never_the_region_layout() -> None:
    resolved = _resolve_levels(OwnedOrRootRule[str](), ["hq-default", "region-layout", None])
    assert resolved["store"] == Resolved("hq-default", {"*": "hq"})


def test_store_with_its_own_layout_renders_it() -> None:
    resolved = _resolve_levels(OwnedOrRootRule[str](), ["hq-default", "region-layout", "mine"])
    assert resolved["store"] == Resolved("mine", {"*": "store"})


def test_no_layout_at_hq_or_the_store_resolves_to_nothing() -> None:
    resolved = _resolve_levels(OwnedOrRootRule[str](), [None, "region-layout", None])
    assert resolved["store"] == Resolved(None, {"*": None})


# --- properties against brute-force oracles --------------------------------------------

FIELD_NAMES = ("a", "b", "c", "d")
site_codes = st.lists(
    st.text(alphabet="abcdefgh", min_size=1, max_size=4), min_size=1, max_size=6, unique=True
)
field_layers = st.none() | st.dictionaries(
    st.sampled_from(FIELD_NAMES), st.integers(-5, 5), max_size=len(FIELD_NAMES)
)
enablements = st.none() | st.builds(
    Enablement, state=st.sampled_from(list(EnablementState)), required=st.booleans()
)


def _oracle_merge(
    defaults: Mapping[str, Any], chain: Sequence[Layer[Mapping[str, Any]]]
) -> tuple[dict[str, Any], dict[str, str | None]]:
    """For each field: the nearest site on the path that set it, else the default."""
    names = set(defaults).union(*((layer.value or {}).keys() for layer in chain))
    values: dict[str, Any] = {}
    decided: dict[str, str | None] = {}
    for name in names:
        setters = [layer for layer in chain if layer.value and name in layer.value]
        if setters:
            assert setters[-1].value is not None
            values[name], decided[name] = setters[-1].value[name], setters[-1].site
        else:
            values[name], decided[name] = defaults[name], None
    return values, decided


def _oracle_enabled(chain: Sequence[Layer[Enablement]]) -> tuple[bool, str | None]:
    """The topmost ``required`` wins; else the nearest explicit on/off; else off."""
    required = [layer.site for layer in chain if layer.value is not None and layer.value.required]
    if required:
        return True, required[0]
    explicit = [
        layer
        for layer in chain
        if layer.value is not None and layer.value.state is not EnablementState.INHERIT
    ]
    if explicit:
        nearest = explicit[-1]
        assert nearest.value is not None
        return nearest.value.state is EnablementState.ON, nearest.site
    return False, None


@given(
    codes=site_codes,
    data=st.data(),
    defaults=st.dictionaries(st.sampled_from(FIELD_NAMES), st.integers(-5, 5)),
)
def test_field_merge_matches_the_brute_force_oracle(
    codes: list[str], data: st.DataObject, defaults: dict[str, int]
) -> None:
    chain: list[Layer[Mapping[str, Any]]] = [
        Layer(code, data.draw(field_layers)) for code in codes
    ]
    resolved = resolve(FieldMergeRule(defaults=defaults), chain)
    expected_values, expected_decided = _oracle_merge(defaults, chain)
    assert resolved.value == expected_values
    assert dict(resolved.decided_by) == expected_decided


@given(codes=site_codes, data=st.data())
def test_enablement_matches_the_brute_force_oracle(codes: list[str], data: st.DataObject) -> None:
    chain = [Layer(code, data.draw(enablements)) for code in codes]
    resolved = resolve(EnablementRule(), chain)
    enabled, decided_by = _oracle_enabled(chain)
    assert resolved.value is enabled
    assert resolved.decided_by == {"*": decided_by}


@given(codes=site_codes, data=st.data())
def test_required_anywhere_above_means_enabled_whatever_follows(
    codes: list[str], data: st.DataObject
) -> None:
    chain = [Layer(code, data.draw(enablements)) for code in codes]
    required_at = data.draw(st.integers(0, len(chain) - 1))
    chain[required_at] = Layer(chain[required_at].site, Enablement(required=True))
    assert resolve(EnablementRule(), chain).value is True
