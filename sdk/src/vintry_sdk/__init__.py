"""The Vintry SDK: everything a plugin imports.

A plugin is a distribution that declares an entry point in the ``vintry`` group and depends
on ``vintry-sdk`` with a compatible range (``vintry-sdk>=0.1,<0.2``). Its module holds plain
functions marked with :data:`hookimpl`::

    from vintry_sdk import hookimpl

    @hookimpl
    def vintry_register_settings(register):
        register(MySettings)

The hooks are documented in ``docs/plugins/hooks.md``; the pytest harness is
:mod:`vintry_sdk.testing`. A plugin that sells stock it holds in advance (a lot, a group's
units) holds it with :func:`hold_stock`, gives it back with :func:`release_stock`, and turns
it into the buyer's order with :func:`place_held` (``docs/placement.md``, "Hand-over").
"""

from importlib.metadata import PackageNotFoundError, version

from vintry.accounts.permissions import Permission
from vintry.api.security import RequestScope, authorize, public
from vintry.campaigns.selection import live_campaigns
from vintry.clock import Clock, ManualClock
from vintry.contracts import (
    AdjustmentCandidate,
    Allocation,
    BlockReference,
    BlockRender,
    BlockType,
    CampaignSelection,
    CampaignSkip,
    CampaignSkuView,
    CampaignType,
    CampaignTypeRegistration,
    CampaignView,
    Carrier,
    CarrierRegistration,
    CartDraft,
    CommandsRegistration,
    DealerView,
    Event,
    GiftLine,
    MigrationsRegistration,
    OrderDraft,
    OrderLineView,
    OrderView,
    PageBlockRegistration,
    PageEvent,
    PageProduct,
    PaymentResult,
    PricedLine,
    ProductSelection,
    ResourceClaim,
    RoutesRegistration,
    ServiceLevel,
    SettingsRegistration,
    ShipmentProgress,
    SourcingPlan,
    SourcingRegistration,
    SourcingRequest,
    SourcingStrategy,
    TrackingNodeView,
    WarehouseOption,
)
from vintry.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    VintryError,
)
from vintry.hookspecs import hookimpl
from vintry.money import from_fen, prorate, to_fen
from vintry.orders.handover import (
    HandOverResult,
    HeldCampaign,
    HeldLine,
    HeldStock,
    held_units,
    hold_stock,
    place_held,
    release_stock,
)
from vintry.pages.blocks import campaign_block
from vintry.platform import Platform, SiteContext
from vintry.sourcing.planner import SourcingContext, current_sourcing, plan_cost

try:
    __version__ = version("vintry-sdk")
except PackageNotFoundError:
    __version__ = "0.0.0"

__all__ = [
    "AdjustmentCandidate",
    "Allocation",
    "BlockReference",
    "BlockRender",
    "BlockType",
    "CampaignSelection",
    "CampaignSkip",
    "CampaignSkuView",
    "CampaignType",
    "CampaignTypeRegistration",
    "CampaignView",
    "Carrier",
    "CarrierRegistration",
    "CartDraft",
    "Clock",
    "CommandsRegistration",
    "Conflict",
    "DealerView",
    "Event",
    "GiftLine",
    "HandOverResult",
    "HeldCampaign",
    "HeldLine",
    "HeldStock",
    "InvalidInput",
    "ManualClock",
    "MigrationsRegistration",
    "NotFound",
    "OrderDraft",
    "OrderLineView",
    "OrderView",
    "PageBlockRegistration",
    "PageEvent",
    "PageProduct",
    "PaymentResult",
    "Permission",
    "PermissionDenied",
    "Platform",
    "PricedLine",
    "ProductSelection",
    "RequestScope",
    "ResourceClaim",
    "RoutesRegistration",
    "ServiceLevel",
    "SettingsRegistration",
    "ShipmentProgress",
    "SiteContext",
    "SourcingContext",
    "SourcingPlan",
    "SourcingRegistration",
    "SourcingRequest",
    "SourcingStrategy",
    "TrackingNodeView",
    "VintryError",
    "WarehouseOption",
    "__version__",
    "authorize",
    "campaign_block",
    "current_sourcing",
    "from_fen",
    "held_units",
    "hold_stock",
    "hookimpl",
    "live_campaigns",
    "place_held",
    "plan_cost",
    "prorate",
    "public",
    "release_stock",
    "to_fen",
]
