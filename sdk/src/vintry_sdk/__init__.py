"""The Vintry SDK: everything a plugin imports.

A plugin is a distribution that declares an entry point in the ``vintry`` group and depends
on ``vintry-sdk`` with a compatible range (``vintry-sdk>=0.1,<0.2``). Its module holds plain
functions marked with :data:`hookimpl`::

    from vintry_sdk import hookimpl

    @hookimpl
    def vintry_register_settings(register):
        register(MySettings)

The hooks are documented in ``docs/plugins/hooks.md``; the pytest harness is
:mod:`vintry_sdk.testing`.
"""

from importlib.metadata import PackageNotFoundError, version

from vintry.accounts.permissions import Permission
from vintry.api.security import RequestScope, authorize, public
from vintry.clock import Clock, ManualClock
from vintry.contracts import (
    AdjustmentCandidate,
    Allocation,
    CartDraft,
    CommandsRegistration,
    DealerView,
    Event,
    MigrationsRegistration,
    OrderDraft,
    OrderLineView,
    OrderView,
    PaymentResult,
    PricedLine,
    ResourceClaim,
    RoutesRegistration,
    SettingsRegistration,
    SourcingPlan,
    SourcingRegistration,
    SourcingRequest,
    SourcingStrategy,
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
from vintry.platform import Platform, SiteContext

try:
    __version__ = version("vintry-sdk")
except PackageNotFoundError:
    __version__ = "0.0.0"

__all__ = [
    "AdjustmentCandidate",
    "Allocation",
    "CartDraft",
    "Clock",
    "CommandsRegistration",
    "Conflict",
    "DealerView",
    "Event",
    "InvalidInput",
    "ManualClock",
    "MigrationsRegistration",
    "NotFound",
    "OrderDraft",
    "OrderLineView",
    "OrderView",
    "PaymentResult",
    "Permission",
    "PermissionDenied",
    "Platform",
    "PricedLine",
    "RequestScope",
    "ResourceClaim",
    "RoutesRegistration",
    "SettingsRegistration",
    "SiteContext",
    "SourcingPlan",
    "SourcingRegistration",
    "SourcingRequest",
    "SourcingStrategy",
    "VintryError",
    "WarehouseOption",
    "__version__",
    "authorize",
    "hookimpl",
    "public",
]
