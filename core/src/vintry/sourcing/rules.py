"""Sourcing rules: which strategy sources an order, with which parameters, and why.

A site's **rule set** is declarative data (JSON, or YAML on the command line): ordered
rules, each with conditions on the order and its dealer and the strategy it chooses, and a
default rule. The first rule whose every condition holds wins; none matching, the default
applies. Nothing in a rule is ever evaluated as code: conditions are fixed fields compared
with fixed operators.

::

    {"rules": [{"name": "vip-single-box",
                "when": {"dealer_tiers": ["platinum"], "min_amount": "50000"},
                "strategy": "fewest-splits", "no_split": true}],
     "default": {"strategy": "cost-local-search", "parameters": {"shipment_cost": 400}}}

Rule sets are inherited whole down the site tree (``NearestWinsRule``): a site that set
none uses its nearest ancestor's, and the kernel's :data:`BUILTIN_RULE_SET` applies where
nobody set one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from vintry.errors import InvalidInput

BUILTIN_STRATEGY = "priority-nearest"
"""The kernel's own strategy (``vintry.builtin.sourcing``): the last resort when a rule's
strategy and the site's default both fail."""

RuleName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Code = Annotated[str, StringConstraints(min_length=1, max_length=32)]
ParameterValue = str | int | float | bool | None | list[str | int | float]


class RuleConditions(BaseModel):
    """What must hold for a rule to apply; an unset condition always holds, a list holds
    when the order's value is one of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sites: list[Code] | None = Field(
        default=None, max_length=500, description="The order's site is one of these."
    )
    regions: list[Code] | None = Field(
        default=None, max_length=500, description="The order's region is one of these."
    )
    dealer_tiers: list[Code] | None = Field(default=None, max_length=20)
    dealer_tags: list[Code] | None = Field(
        default=None, max_length=50, description="The dealer has at least one of these tags."
    )
    min_amount: Decimal | None = Field(default=None, ge=0, decimal_places=2)
    max_amount: Decimal | None = Field(default=None, ge=0, decimal_places=2)
    categories: list[Code] | None = Field(
        default=None, max_length=200, description="Some line is of one of these categories."
    )
    min_quantity: int | None = Field(default=None, ge=1, description="Units in the order.")
    max_quantity: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _ranges(self) -> Self:
        if (
            self.min_amount is not None
            and self.max_amount is not None
            and self.min_amount > self.max_amount
        ):
            raise ValueError("min_amount must not exceed max_amount")
        if (
            self.min_quantity is not None
            and self.max_quantity is not None
            and self.min_quantity > self.max_quantity
        ):
            raise ValueError("min_quantity must not exceed max_quantity")
        return self


class StrategyChoice(BaseModel):
    """A strategy, its parameters, and the constraints the kernel enforces around it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,63}$")]
    parameters: dict[
        Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")], ParameterValue
    ] = Field(default_factory=dict, max_length=32)
    warehouses: list[Code] | None = Field(
        default=None,
        max_length=500,
        description="Only these warehouses may ship (among those serving the site).",
    )
    max_distance_km: float | None = Field(default=None, gt=0, le=20_000)
    no_split: bool = Field(default=False, description="Ship everything from one warehouse.")
    time_budget_ms: int = Field(
        default=250,
        ge=5,
        le=5_000,
        description="Past this, the site's default sources the order instead.",
    )


class SourcingRule(StrategyChoice):
    """A named rule: conditions, then the strategy they choose."""

    name: RuleName
    when: RuleConditions = Field(default_factory=RuleConditions)


class SourcingRuleSet(BaseModel):
    """A site's ordered rules and its default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[SourcingRule] = Field(default_factory=list, max_length=100)
    default: StrategyChoice

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"two rules are named {rule.name!r}")
            seen.add(rule.name)
        return self


BUILTIN_RULE_SET = SourcingRuleSet(default=StrategyChoice(strategy=BUILTIN_STRATEGY))


@dataclass(frozen=True)
class OrderFacts:
    """What rule conditions look at."""

    site: str
    region: str | None
    dealer_tier: str
    dealer_tags: frozenset[str]
    amount: Decimal
    categories: frozenset[str]
    quantity: int


@dataclass(frozen=True)
class RuleMatch:
    """The rule that applies to an order (``rule`` is ``"default"`` for the default) and
    why, in words."""

    rule: str
    choice: StrategyChoice
    why: str


def matches(conditions: RuleConditions, facts: OrderFacts) -> str | None:
    """Why *facts* meet *conditions* (a phrase), or None when one does not hold."""
    reasons: list[str] = []
    if conditions.sites is not None:
        if facts.site not in conditions.sites:
            return None
        reasons.append(f"site {facts.site}")
    if conditions.regions is not None:
        if facts.region not in conditions.regions:
            return None
        reasons.append(f"region {facts.region}")
    if conditions.dealer_tiers is not None:
        if facts.dealer_tier not in conditions.dealer_tiers:
            return None
        reasons.append(f"dealer tier {facts.dealer_tier}")
    if conditions.dealer_tags is not None:
        common = facts.dealer_tags.intersection(conditions.dealer_tags)
        if not common:
            return None
        reasons.append(f"dealer tag {sorted(common)[0]}")
    if conditions.min_amount is not None:
        if facts.amount < conditions.min_amount:
            return None
        reasons.append(f"amount {facts.amount} ≥ {conditions.min_amount}")
    if conditions.max_amount is not None:
        if facts.amount > conditions.max_amount:
            return None
        reasons.append(f"amount {facts.amount} ≤ {conditions.max_amount}")
    if conditions.categories is not None:
        common = facts.categories.intersection(conditions.categories)
        if not common:
            return None
        reasons.append(f"category {sorted(common)[0]}")
    if conditions.min_quantity is not None:
        if facts.quantity < conditions.min_quantity:
            return None
        reasons.append(f"{facts.quantity} units ≥ {conditions.min_quantity}")
    if conditions.max_quantity is not None:
        if facts.quantity > conditions.max_quantity:
            return None
        reasons.append(f"{facts.quantity} units ≤ {conditions.max_quantity}")
    return ", ".join(reasons) or "no conditions"


def choose(rule_set: SourcingRuleSet, facts: OrderFacts) -> RuleMatch:
    """The first rule of *rule_set* whose conditions hold for *facts*, else the default."""
    for rule in rule_set.rules:
        why = matches(rule.when, facts)
        if why is not None:
            return RuleMatch(rule.name, rule, f"rule {rule.name!r} matched ({why})")
    return RuleMatch("default", rule_set.default, "no rule matched: the site's default")


# --- validation ---------------------------------------------------------------------------


def parse_rule_set(
    data: Mapping[str, Any],
    *,
    strategies: Sequence[str],
    warehouses: Sequence[str] | None = None,
    sites: Sequence[str] | None = None,
) -> SourcingRuleSet:
    """Validate *data* as a rule set; 422 naming the rule and the field otherwise.

    Beyond its shape, every strategy named must be registered, and (when given) every
    warehouse and site code must exist.
    """
    try:
        rule_set = SourcingRuleSet.model_validate(data)
    except ValidationError as error:
        raise _invalid(error, data) from None
    for index, choice, label in _choices(rule_set):
        where = "default" if index is None else f"rules.{index}"
        if choice.strategy not in strategies:
            raise InvalidInput(
                f"{label}: strategy {choice.strategy!r} is not registered "
                f"(known: {', '.join(sorted(strategies))})",
                code="unknown_strategy",
                field=f"{where}.strategy",
                details={"rule": label_name(index, rule_set), "strategy": choice.strategy},
            )
        if warehouses is not None:
            for position, code in enumerate(choice.warehouses or ()):
                if code not in warehouses:
                    raise InvalidInput(
                        f"{label}: warehouse {code!r} does not exist",
                        code="unknown_warehouse",
                        field=f"{where}.warehouses.{position}",
                        details={"rule": label_name(index, rule_set), "warehouse": code},
                    )
        if sites is not None and index is not None:
            rule = rule_set.rules[index]
            for position, code in enumerate(rule.when.sites or ()):
                if code not in sites:
                    raise InvalidInput(
                        f"{label}: site {code!r} does not exist",
                        code="unknown_site",
                        field=f"{where}.when.sites.{position}",
                        details={"rule": rule.name, "site": code},
                    )
    return rule_set


def label_name(index: int | None, rule_set: SourcingRuleSet) -> str:
    """The name of rule *index* (``"default"`` for None)."""
    return "default" if index is None else rule_set.rules[index].name


def _choices(rule_set: SourcingRuleSet) -> list[tuple[int | None, StrategyChoice, str]]:
    found: list[tuple[int | None, StrategyChoice, str]] = [
        (index, rule, f"rule {rule.name!r}") for index, rule in enumerate(rule_set.rules)
    ]
    found.append((None, rule_set.default, "the default rule"))
    return found


def _invalid(error: ValidationError, data: Mapping[str, Any]) -> InvalidInput:
    first = error.errors()[0]
    location = [str(part) for part in first["loc"]]
    field = ".".join(location) or None
    rule, inner = "the rule set", location
    if len(location) >= 2 and location[0] == "rules" and location[1].isdigit():
        index = int(location[1])
        rules = data.get("rules")
        name = None
        if isinstance(rules, list) and index < len(rules) and isinstance(rules[index], dict):
            name = rules[index].get("name")
        rule = f"rule {name!r} (rules[{index}])" if isinstance(name, str) else f"rules[{index}]"
        inner = location[2:]
    elif location and location[0] == "default":
        rule, inner = "the default rule", location[1:]
    return InvalidInput(
        f"{rule}: {'.'.join(inner) or 'value'}: {first['msg']}",
        code="invalid_sourcing_rules",
        field=field,
        details={
            "rule": rule,
            "errors": [
                {
                    "field": ".".join(str(p) for p in item["loc"]),
                    "message": item["msg"],
                    "type": item["type"],
                }
                for item in error.errors()
            ],
        },
    )
