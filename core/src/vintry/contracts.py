"""Typed objects that cross the boundary between the kernel and plugins.

Hooks receive these and return these; plugin authors import them from ``vintry_sdk``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from vintry.campaigns.schemas import ForYouItem
    from vintry.platform import SiteContext

Scope = Literal["hq", "site"]


class Event(BaseModel):
    """Something that happened, delivered to ``vintry_handle_event`` after it committed."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Unique id; a handler may see the same event twice.")
    type: str = Field(description="Dotted name, e.g. 'site.created', 'plugin.enabled'.")
    site: str = Field(description="Code of the site the event belongs to.")
    occurred_at: datetime
    payload: dict[str, Any] = Field(default_factory=dict)


class SettingsRegistration(Protocol):
    """``register(model)``: declare the plugin's pydantic settings model (one per plugin)."""

    def __call__(self, model: type[BaseModel]) -> None: ...


class RoutesRegistration(Protocol):
    """``register(router)``: add a router served under ``/api/v1/x/<plugin>/`` on every
    site where the plugin is enabled (404 ``plugin_not_enabled`` elsewhere)."""

    def __call__(self, router: APIRouter) -> None: ...


class CommandsRegistration(Protocol):
    """``register(app)``: add a typer app as ``vintry <plugin> ...``."""

    def __call__(self, app: Any) -> None: ...


class MigrationsRegistration(Protocol):
    """``register(scope, script_location)``: an Alembic script directory of the plugin's own,
    run on HQ (``"hq"``) or on every site (``"site"``) with its own version table."""

    def __call__(self, scope: Scope, script_location: str) -> None: ...


@dataclass
class Contribution:
    """What one plugin contributed through the ``register`` callbacks."""

    settings_model: type[BaseModel] | None = None
    routers: list[APIRouter] = field(default_factory=list)
    command_apps: list[Any] = field(default_factory=list)
    migrations: list[tuple[Scope, str]] = field(default_factory=list)
    sourcing_strategies: dict[str, Any] = field(default_factory=dict)
    campaign_types: dict[str, CampaignType] = field(default_factory=dict)
    carriers: dict[str, Carrier] = field(default_factory=dict)
    page_blocks: dict[str, BlockType] = field(default_factory=dict)


RegisterCallback = Callable[..., None]


# --- ordering --------------------------------------------------------------------------

Money = Decimal
"""Yuan with two places. Stored as integer fen by the kernel; never a float."""


class DealerView(BaseModel):
    """The dealer a cart or order belongs to, as plugins see it."""

    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    tier: str
    tags: tuple[str, ...] = ()
    site: str


class PricedLine(BaseModel):
    """One cart line with the prices in force at the site, before campaigns."""

    model_config = ConfigDict(frozen=True)

    index: int = Field(description="Position in the cart, from 0; adjustments refer to it.")
    sku: str
    product: str
    brand: str
    category: str
    tags: tuple[str, ...] = ()
    quantity: int
    base_unit_price: Money = Field(description="HQ's base price.")
    unit_price: Money = Field(description="The site's price (the nearest override).")
    amount: Money = Field(description="unit_price × quantity.")


class CartDraft(BaseModel):
    """A cart being priced: what ``vintry_price_cart`` receives."""

    model_config = ConfigDict(frozen=True)

    site: str
    dealer: DealerView
    lines: tuple[PricedLine, ...]
    subtotal: Money


class GiftLine(BaseModel):
    """Units of a SKU given free with an offer: added to the order at a price of zero, its
    stock held like any other line's."""

    model_config = ConfigDict(frozen=True)

    sku: str = Field(min_length=1, max_length=32)
    quantity: int = Field(ge=1, le=100_000)


class AdjustmentCandidate(BaseModel):
    """A discount a plugin proposes; the kernel decides which candidates apply.

    Candidates with no ``stacking_group`` are exclusive: applied alone. Candidates sharing
    a group stack with each other and with nothing else. The kernel applies the valid
    combination worth most to the dealer (ties: higher ``priority``), caps it at HQ's price
    floors, and records why every other candidate lost.

    A candidate whose ``campaign`` is the code of a campaign of the site (``vintry.campaigns``)
    draws on that campaign's budgets when its order is placed: ``amount`` from the money
    budget, ``units`` from the unit budget, one use from the dealer's uses.
    """

    model_config = ConfigDict(frozen=True)

    campaign: str = Field(min_length=1, max_length=100, description="What proposes it (id).")
    reason: str = Field(min_length=1, max_length=200, description="Shown to the dealer.")
    amount: Money = Field(ge=0, description="Total discount in yuan (0 only with gifts).")
    line_amounts: dict[int, Money] | None = Field(
        default=None,
        description="Discount per line index; summing to amount. Unset: the kernel prorates "
        "over line amounts, to the fen.",
    )
    stacking_group: str | None = Field(default=None, max_length=64)
    priority: int = 0
    name: str | None = Field(
        default=None, max_length=200, description="The campaign's display name, if it has one."
    )
    units: int = Field(
        default=0, ge=0, description="Units the adjustment draws from its campaign's unit budget."
    )
    gifts: tuple[GiftLine, ...] = Field(
        default=(),
        description="SKUs given free when the candidate applies; the kernel values them at "
        "the site's prices when it compares combinations.",
    )

    @model_validator(mode="after")
    def _worth_something(self) -> Self:
        if self.amount <= 0 and not self.gifts:
            raise ValueError("a candidate gives a discount (amount > 0) or gifts, or both")
        return self


SkipCode = Literal[
    "not_targeted",
    "outside_window",
    "threshold_not_met",
    "budget_exhausted",
    "sold_out",
    "not_applicable",
]
"""Why a campaign a plugin considered for a cart does not apply to it."""


class CampaignSkip(BaseModel):
    """A campaign considered for a cart that does not apply, and why: a plugin returns it
    from ``vintry_price_cart`` beside its candidates, so the price explanation lists every
    campaign considered."""

    model_config = ConfigDict(frozen=True)

    campaign: str = Field(min_length=1, max_length=100)
    code: SkipCode
    message: str = Field(min_length=1, max_length=300, description="Shown to the dealer.")
    name: str | None = Field(default=None, max_length=200)


class WarehouseOption(BaseModel):
    """A warehouse allowed to ship an order, with what it has of each SKU."""

    model_config = ConfigDict(frozen=True)

    code: str
    region: str | None
    latitude: Decimal
    longitude: Decimal
    priority: int
    available: dict[str, int] = Field(description="Units available by SKU code.")
    distance_km: float | None = Field(
        default=None,
        description="Great-circle distance to the destination, measured by the kernel "
        "(None when the destination is unknown).",
    )


class SourcingRequest(BaseModel):
    """What a sourcing strategy decides on."""

    model_config = ConfigDict(frozen=True)

    site: str
    dealer: DealerView
    lines: dict[str, int] = Field(description="Units wanted by SKU code.")
    warehouses: tuple[WarehouseOption, ...]
    destination: tuple[Decimal, Decimal] | None = Field(
        default=None, description="(latitude, longitude) the order ships to, when known."
    )
    parameters: dict[str, Any] = Field(default_factory=dict)


class Allocation(BaseModel):
    """Units of one SKU to ship from one warehouse."""

    model_config = ConfigDict(frozen=True)

    sku: str
    warehouse: str
    quantity: int = Field(gt=0)


class SourcingPlan(BaseModel):
    """A strategy's answer: allocations covering every line, and why."""

    model_config = ConfigDict(frozen=True)

    strategy: str
    allocations: tuple[Allocation, ...]
    explanation: str = ""


class SourcingStrategy(Protocol):
    """A named way to pick warehouses; raise ``vintry.errors.Conflict`` with code
    ``out_of_stock`` when the lines cannot be covered."""

    def __call__(self, request: SourcingRequest) -> SourcingPlan: ...


class SourcingRegistration(Protocol):
    """``register(name, strategy)``: a sourcing strategy, usable by every site's rules."""

    def __call__(self, name: str, strategy: SourcingStrategy) -> None: ...


class OrderDraft(BaseModel):
    """An order about to be placed: what ``vintry_claim_resources`` receives."""

    model_config = ConfigDict(frozen=True)

    number: str
    site: str
    dealer: DealerView
    lines: tuple[PricedLine, ...]
    adjustments: tuple[AdjustmentCandidate, ...]
    total: Money


class ResourceClaim(BaseModel):
    """Something a plugin holds for an order being placed (a flash-sale unit, a group slot).

    Held *pending* in the site's database while the order is placed, then *confirmed* —
    or *released* through ``vintry_release_resources`` if the order fails.
    """

    model_config = ConfigDict(frozen=True)

    resource: str = Field(min_length=1, max_length=200)
    quantity: int = 1
    payload: dict[str, Any] = Field(default_factory=dict)


# --- payment ---------------------------------------------------------------------------


class OrderLineView(BaseModel):
    """One line of an order, as payment providers see it."""

    model_config = ConfigDict(frozen=True)

    line_no: int
    sku: str
    name: str
    quantity: int
    unit_price: Money = Field(description="What the dealer pays per unit, before line discount.")
    total: Money = Field(description="What the line costs after its discounts.")


class OrderView(BaseModel):
    """A placed order: what ``vintry_authorize_payment`` receives."""

    model_config = ConfigDict(frozen=True)

    number: str
    site: str
    dealer: DealerView
    status: str
    total: Money = Field(description="The amount to collect, in yuan.")
    placed_at: datetime
    pay_by: datetime | None = Field(description="Unpaid after this, the order is cancelled.")
    lines: tuple[OrderLineView, ...]


class PaymentResult(BaseModel):
    """A payment provider's answer for a method it handles: approved, or refused and why.

    A refusal becomes the API's 402 error: ``reason`` is its machine-readable ``code``
    (``credit_exceeded``), ``message`` its human text and ``details`` its details.
    """

    model_config = ConfigDict(frozen=True)

    provider: str = Field(min_length=1, max_length=100, description="Recorded on the payment.")
    approved: bool
    reference: str | None = Field(
        default=None, max_length=100, description="The provider's own id of the payment."
    )
    reason: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]{0,63}$",
        description="Why a payment was refused, as a stable code.",
    )
    message: str | None = Field(default=None, max_length=500)
    details: dict[str, Any] = Field(default_factory=dict)


# --- campaigns -------------------------------------------------------------------------


class CampaignSkuView(BaseModel):
    """A SKU as a campaign type's guardrail sees it: what it is and its price at the site."""

    model_config = ConfigDict(frozen=True)

    sku: str
    product: str
    brand: str
    category: str
    tags: tuple[str, ...] = ()
    base_unit_price: Money = Field(description="HQ's base price.")
    unit_price: Money = Field(description="The price in force at the campaign's site.")


class LowestUnitPrices(Protocol):
    """``lowest_unit_prices(config, skus)``: for each SKU of *skus* the campaign can make
    cheaper, the lowest unit price it can produce there (by SKU code); SKUs it never touches
    are left out. The kernel refuses a campaign whose lowest price crosses HQ's floor."""

    def __call__(self, config: Any, skus: Sequence[CampaignSkuView]) -> Mapping[str, Money]: ...


@dataclass(frozen=True)
class CampaignType:
    """A kind of campaign a plugin offers operators (``vintry_register_campaign_types``).

    ``name`` is global (``^[a-z][a-z0-9-]{1,63}$``); ``config_model`` validates each
    campaign's configuration and its JSON Schema is served for forms; ``lowest_unit_prices``
    is the guardrail (see :class:`LowestUnitPrices`). ``referenced_skus(config)`` names the
    SKUs a configuration mentions, by SKU code → field (they must exist and be offered at
    the site); ``describe(config)`` is the one-line summary dealers see on the home page.
    """

    name: str
    title: str
    config_model: type[BaseModel]
    lowest_unit_prices: LowestUnitPrices
    description: str = ""
    referenced_skus: Callable[[Any], Mapping[str, str]] | None = None
    describe: Callable[[Any], str] | None = None


class CampaignTypeRegistration(Protocol):
    """``register(campaign_type)``: offer a :class:`CampaignType` to every site's operators
    (usable where the plugin is enabled)."""

    def __call__(self, campaign_type: CampaignType) -> None: ...


class CampaignView(BaseModel):
    """A campaign of a site as a plugin sees it while pricing, with its configuration
    validated by the type's model and the budgets left."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    code: str
    name: str
    type: str
    config: Any = Field(description="An instance of the type's config model.")
    priority: int
    stacking_group: str | None
    starts_at: datetime
    ends_at: datetime
    budget_units: int | None
    budget_amount: Money | None
    uses_per_dealer: int | None
    used_units: int
    used_amount: Money
    dealer_uses: int = Field(description="Orders of this dealer that used the campaign.")

    def candidate(
        self,
        *,
        reason: str,
        amount: Money,
        line_amounts: dict[int, Money] | None = None,
        units: int = 0,
        gifts: tuple[GiftLine, ...] = (),
    ) -> AdjustmentCandidate:
        """A candidate of this campaign (its code, name, stacking group and priority)."""
        return AdjustmentCandidate(
            campaign=self.code,
            name=self.name,
            reason=reason,
            amount=amount,
            line_amounts=line_amounts,
            stacking_group=self.stacking_group,
            priority=self.priority,
            units=units,
            gifts=gifts,
        )

    def skip(self, code: SkipCode, message: str) -> CampaignSkip:
        """Why this campaign does not apply to the cart."""
        return CampaignSkip(campaign=self.code, name=self.name, code=code, message=message)

    def budget_refusal(self, *, amount: Money, units: int = 0) -> CampaignSkip | None:
        """A ``budget_exhausted`` skip if what is left cannot cover *amount* and *units*."""
        if self.budget_amount is not None and self.used_amount + amount > self.budget_amount:
            left = max(self.budget_amount - self.used_amount, Money(0))
            return self.skip("budget_exhausted", f"only {left} yuan of its budget is left")
        if self.budget_units is not None and self.used_units + units > self.budget_units:
            left_units = max(self.budget_units - self.used_units, 0)
            return self.skip("budget_exhausted", f"only {left_units} units of its budget are left")
        return None


@dataclass(frozen=True)
class CampaignSelection:
    """The campaigns of one type that a cart could use, and why the others cannot."""

    applicable: list[CampaignView] = field(default_factory=list)
    skipped: list[CampaignSkip] = field(default_factory=list)


# --- fulfilment: carriers ----------------------------------------------------------------


class ServiceLevel(BaseModel):
    """A carrier's service: how fast it moves a shipment once handed over."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,31}$")
    title: str = ""
    km_per_day: float = Field(gt=0, description="Line-haul speed.")
    handling_hours: float = Field(
        default=12, ge=0, description="From leaving the warehouse to the first line haul."
    )
    last_mile_hours: float = Field(
        default=6, ge=0, description="From out for delivery to the dealer's door."
    )


class TrackingNodeView(BaseModel):
    """A logistics node a shipment passed."""

    model_config = ConfigDict(frozen=True)

    node: str
    at: datetime
    location: str | None = None


class ShipmentProgress(BaseModel):
    """Where a shipment stands: what a carrier estimates the arrival of."""

    model_config = ConfigDict(frozen=True)

    shipment: str = Field(description="The shipment's number.")
    order: str
    carrier: str
    service_level: str
    origin: str = Field(description="Code of the warehouse it left.")
    distance_km: float = Field(ge=0, description="Warehouse to destination, great circle.")
    shipped_at: datetime
    nodes: tuple[TrackingNodeView, ...] = Field(description="Nodes passed, oldest first.")

    @property
    def last(self) -> TrackingNodeView:
        """The latest node passed."""
        return self.nodes[-1]


class EstimateArrival(Protocol):
    """``estimate_arrival(progress)``: when the shipment should reach the dealer, given
    every node it passed so far; called again after each new node."""

    def __call__(self, progress: ShipmentProgress) -> datetime: ...


class PlanNodes(Protocol):
    """``planned_nodes(progress)``: the nodes a simulated carrier will report, with when
    (a real carrier reports its nodes through the tracking route instead)."""

    def __call__(self, progress: ShipmentProgress) -> Sequence[TrackingNodeView]: ...


@dataclass(frozen=True)
class Carrier:
    """A carrier a plugin offers (``vintry_register_carriers``).

    ``name`` is global (``^[a-z][a-z0-9-]{1,63}$``); ``service_levels`` are the services a
    shipment may ask for, the first being the default; ``estimate_arrival`` computes the
    arrival estimate after every tracking event; ``planned_nodes`` (optional) makes the
    carrier a simulation the kernel advances with its clock.
    """

    name: str
    title: str
    service_levels: tuple[ServiceLevel, ...]
    estimate_arrival: EstimateArrival
    planned_nodes: PlanNodes | None = None

    def service_level(self, name: str | None) -> ServiceLevel | None:
        """The service level called *name* (the default when None), or None if unknown."""
        if name is None:
            return self.service_levels[0] if self.service_levels else None
        return next((level for level in self.service_levels if level.name == name), None)


class CarrierRegistration(Protocol):
    """``register(carrier)``: offer a :class:`Carrier` for shipments."""

    def __call__(self, carrier: Carrier) -> None: ...


# --- page decoration -------------------------------------------------------------------

ProductRule = Literal["best_sellers", "new_arrivals", "tagged"]


@dataclass(frozen=True)
class ProductSelection:
    """The products a block shows, as the kernel resolves them for the whole page at once.

    Exactly one source: explicit ``skus`` (in that order), a ``category`` (its subtree), or a
    ``rule``: ``best_sellers`` (units ordered at the sites of the page's region over the last
    ``days``), ``new_arrivals`` (the SKUs added to the catalog last) or ``tagged`` (products
    carrying ``tag``). Only SKUs the site offers are shown, at most ``limit``. However many
    blocks select products, the page reads their stock in one query.
    """

    skus: tuple[str, ...] = ()
    category: str | None = None
    rule: ProductRule | None = None
    tag: str | None = None
    days: int = 30
    limit: int = 12


@dataclass(frozen=True)
class BlockReference:
    """A catalog object a block's configuration names, at *field* of the configuration
    (``selection.skus.0``): checked when a layout is saved, reported when it goes stale."""

    kind: Literal["sku", "category"]
    code: str
    field: str


@dataclass(frozen=True)
class PageProduct:
    """A product as a page shows it: the site's price and the units available now."""

    sku: str
    name: str
    product: str
    brand: str
    category: str
    tags: tuple[str, ...]
    price: Money
    base_price: Money
    available: int


@dataclass(frozen=True)
class BlockRender:
    """What a block type's ``render`` receives: its validated configuration, the page's
    audience and time, the products its selection resolved to, and the live campaigns
    targeted at the calling dealer (read once per page, whichever blocks ask)."""

    key: str
    config: Any
    site: SiteContext
    dealer: DealerView | None
    now: datetime
    products: tuple[PageProduct, ...]
    live_campaigns: Callable[[], Sequence[ForYouItem]]

    def campaigns(self, *types: str) -> list[ForYouItem]:
        """The live campaigns for the page's dealer (of *types* only, when given), highest
        priority first; none when the page is rendered for no dealer."""
        found = self.live_campaigns()
        return [c for c in found if not types or c.type in types]


@dataclass(frozen=True)
class BlockType:
    """A kind of home-page block a plugin offers operators (``vintry_register_page_blocks``).

    ``name`` is global (``^[a-z][a-z0-9-]{1,63}$``); ``config_model`` validates each block's
    configuration and its JSON Schema is served for the console's forms. ``render(block)``
    returns the block's data (JSON values), or None to leave the block out of the page (say,
    no live campaign of its kind). ``products(config)`` names the products the block shows
    (resolved by the kernel with the rest of the page); ``references(config)`` names the
    catalog objects the configuration mentions, checked on save and reported when stale.
    ``pure`` says that ``render`` reads nothing but its :class:`BlockRender` (no database,
    no network): on SQLite a page whose blocks are all pure is rendered on the event loop,
    without the hop to a worker thread; leave it False when ``render`` does any I/O.
    """

    name: str
    title: str
    config_model: type[BaseModel]
    render: Callable[[BlockRender], Mapping[str, Any] | None]
    description: str = ""
    products: Callable[[Any], ProductSelection | None] | None = None
    references: Callable[[Any], Sequence[BlockReference]] | None = None
    pure: bool = False


class PageBlockRegistration(Protocol):
    """``register(block_type)``: offer a :class:`BlockType` to every site's page layouts
    (usable where the plugin is enabled; skipped when rendering where it is not)."""

    def __call__(self, block_type: BlockType) -> None: ...


class PageEvent(BaseModel):
    """A dealer saw (``impression``) or clicked (``click``) a block of a site's page."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["impression", "click"]
    page: str
    version: int | None = Field(description="The published version shown; None for HQ's default.")
    block: str = Field(description="The block's key in the layout.")
    block_type: str
    sku: str | None = Field(default=None, description="The product clicked, if any.")
    dealer: str | None
    session: str | None = None
    occurred_at: datetime
