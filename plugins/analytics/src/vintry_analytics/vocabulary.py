"""The registered event vocabulary: what a dealer's session may report, and what the
platform records on its own from order and return events.

Client events arrive through the ingestion endpoint (or the JavaScript tracker); server
events are written by ``vintry_handle_event`` from the kernel's outbox events and can never
be sent by a client. Each type declares whether it names a SKU and the model its
``properties`` must satisfy (unknown properties are refused, so a typo never becomes data).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class EventType(enum.StrEnum):
    """Every event type the plugin stores."""

    # client events: sent by dealers' sessions
    PAGE_VIEW = "page_view"
    PRODUCT_VIEW = "product_view"
    SEARCH = "search"
    ADD_TO_CART = "add_to_cart"
    REMOVE_FROM_CART = "remove_from_cart"
    CHECKOUT_START = "checkout_start"
    PRICE_COMPARISON = "price_comparison"
    CAMPAIGN_VIEW = "campaign_view"
    # server events: written from the kernel's order and return events
    ORDER_PLACED = "order_placed"
    CAMPAIGN_ORDER = "campaign_order"
    ORDER_PAID = "order_paid"
    ORDER_SHIPPED = "order_shipped"
    ORDER_DELIVERED = "order_delivered"
    ORDER_CANCELLED = "order_cancelled"
    RETURN_REQUESTED = "return_requested"
    RETURN_APPROVED = "return_approved"
    # page events: impressions and clicks of home-page blocks, from the kernel's page hook
    BLOCK_IMPRESSION = "block_impression"
    BLOCK_CLICK = "block_click"


class _Properties(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PageViewProperties(_Properties):
    """A page of the mall was shown."""

    path: str = Field(min_length=1, max_length=300, description="The page's path.")
    referrer: str | None = Field(default=None, max_length=300)


class ProductViewProperties(_Properties):
    """A product page was shown for ``dwell_ms`` milliseconds."""

    dwell_ms: int = Field(ge=0, le=6 * 3600 * 1000, description="Time on the page.")


class SearchProperties(_Properties):
    """The dealer searched the catalogue."""

    query: str = Field(min_length=1, max_length=200)
    results: int | None = Field(default=None, ge=0)


class CartProperties(_Properties):
    """Units put into or taken out of the cart."""

    quantity: int = Field(ge=1, le=100_000)


class CheckoutProperties(_Properties):
    """The dealer opened the checkout."""

    lines: int | None = Field(default=None, ge=0, le=1000)


class PriceComparisonProperties(_Properties):
    """The dealer compared this SKU's price with others (or with another period)."""

    compared_with: list[str] = Field(default_factory=list, max_length=20)


class CampaignViewProperties(_Properties):
    """A campaign was shown on the mall's pages."""

    campaign: str = Field(min_length=1, max_length=100)


class BlockProperties(_Properties):
    """A block of a site's page was shown or clicked (recorded from the kernel's
    ``vintry_record_page_events``; the SKU clicked, if any, is in the row's ``sku``)."""

    page: str = Field(min_length=1, max_length=32)
    version: int | None = None
    block: str = Field(min_length=1, max_length=64)
    block_type: str = Field(min_length=1, max_length=64)


class NoProperties(_Properties):
    """Server events carry their facts in columns, not in properties."""


@dataclass(frozen=True)
class EventSpec:
    """What one type requires."""

    event_type: EventType
    client: bool
    sku: bool
    """Whether the event names a SKU (required when true, refused when false)."""
    properties: type[_Properties]


SPECS: dict[EventType, EventSpec] = {
    spec.event_type: spec
    for spec in (
        EventSpec(EventType.PAGE_VIEW, True, False, PageViewProperties),
        EventSpec(EventType.PRODUCT_VIEW, True, True, ProductViewProperties),
        EventSpec(EventType.SEARCH, True, False, SearchProperties),
        EventSpec(EventType.ADD_TO_CART, True, True, CartProperties),
        EventSpec(EventType.REMOVE_FROM_CART, True, True, CartProperties),
        EventSpec(EventType.CHECKOUT_START, True, False, CheckoutProperties),
        EventSpec(EventType.PRICE_COMPARISON, True, True, PriceComparisonProperties),
        EventSpec(EventType.CAMPAIGN_VIEW, True, False, CampaignViewProperties),
        EventSpec(EventType.ORDER_PLACED, False, True, NoProperties),
        EventSpec(EventType.CAMPAIGN_ORDER, False, False, NoProperties),
        EventSpec(EventType.ORDER_PAID, False, False, NoProperties),
        EventSpec(EventType.ORDER_SHIPPED, False, False, NoProperties),
        EventSpec(EventType.ORDER_DELIVERED, False, True, NoProperties),
        EventSpec(EventType.ORDER_CANCELLED, False, False, NoProperties),
        EventSpec(EventType.RETURN_REQUESTED, False, True, NoProperties),
        EventSpec(EventType.RETURN_APPROVED, False, True, NoProperties),
        EventSpec(EventType.BLOCK_IMPRESSION, False, False, BlockProperties),
        EventSpec(EventType.BLOCK_CLICK, False, False, BlockProperties),
    )
}

CLIENT_TYPES: frozenset[str] = frozenset(t.value for t, s in SPECS.items() if s.client)
SERVER_TYPES: frozenset[str] = frozenset(t.value for t, s in SPECS.items() if not s.client)
ALL_TYPES: frozenset[str] = frozenset(t.value for t in EventType)

DEFAULT_FUNNEL: tuple[str, ...] = (
    EventType.PRODUCT_VIEW.value,
    EventType.ADD_TO_CART.value,
    EventType.CHECKOUT_START.value,
    EventType.ORDER_PLACED.value,
)
"""The purchase funnel the API and CLI use when no steps are named."""
