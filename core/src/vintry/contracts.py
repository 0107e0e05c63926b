"""Typed objects that cross the boundary between the kernel and plugins.

Hooks receive these and return these; plugin authors import them from ``vintry_sdk``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

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


class AdjustmentCandidate(BaseModel):
    """A discount a plugin proposes; the kernel decides which candidates apply.

    Candidates with no ``stacking_group`` are exclusive: applied alone. Candidates sharing
    a group stack with each other and with nothing else. The kernel applies the valid
    combination worth most to the dealer (ties: higher ``priority``), caps it at HQ's price
    floors, and records why every other candidate lost.
    """

    model_config = ConfigDict(frozen=True)

    campaign: str = Field(min_length=1, max_length=100, description="What proposes it (id).")
    reason: str = Field(min_length=1, max_length=200, description="Shown to the dealer.")
    amount: Money = Field(gt=0, description="Total discount in yuan.")
    line_amounts: dict[int, Money] | None = Field(
        default=None,
        description="Discount per line index; summing to amount. Unset: the kernel prorates "
        "over line amounts, to the fen.",
    )
    stacking_group: str | None = None
    priority: int = 0


class WarehouseOption(BaseModel):
    """A warehouse allowed to ship an order, with what it has of each SKU."""

    model_config = ConfigDict(frozen=True)

    code: str
    region: str | None
    latitude: Decimal
    longitude: Decimal
    priority: int
    available: dict[str, int] = Field(description="Units available by SKU code.")


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
