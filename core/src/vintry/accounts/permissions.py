"""Permissions, and the roles that bundle them.

A permission is checked *inside* the caller's tenant; outside it the object does not exist
for the caller (404). HQ administrators' tenant is the whole tree, a site operator's is the
operated site and its subtree, a dealer's is its own site (and, for dealer records and
later orders, its own dealer).
"""

from __future__ import annotations

import enum

from vintry.accounts.models import Role


class Permission(enum.StrEnum):
    """Something a route may require."""

    SITES_READ = "sites:read"
    SITES_CREATE = "sites:create"
    SITES_UPDATE = "sites:update"
    SETTINGS_READ = "settings:read"
    SETTINGS_WRITE = "settings:write"
    DEALERS_READ = "dealers:read"
    DEALERS_WRITE = "dealers:write"
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    TOKENS_MANAGE = "tokens:manage"
    AUDIT_READ = "audit:read"
    WAREHOUSES_READ = "warehouses:read"
    WAREHOUSES_WRITE = "warehouses:write"
    PLUGINS_READ = "plugins:read"
    PLUGINS_MANAGE = "plugins:manage"
    PROFILE_READ = "profile:read"
    CATALOG_READ = "catalog:read"
    CATALOG_WRITE = "catalog:write"
    PRICES_WRITE = "prices:write"
    FLOORS_WRITE = "floors:write"
    STOCK_READ = "stock:read"
    STOCK_WRITE = "stock:write"
    ORDERS_PLACE = "orders:place"
    ORDERS_READ = "orders:read"
    ORDERS_PAY = "orders:pay"
    ORDERS_CANCEL = "orders:cancel"
    ORDERS_FULFIL = "orders:fulfil"
    RETURNS_REQUEST = "returns:request"
    RETURNS_DECIDE = "returns:decide"
    CREDIT_MANAGE = "credit:manage"
    RELAY_READ = "relay:read"
    RELAY_MANAGE = "relay:manage"
    CAMPAIGNS_READ = "campaigns:read"
    CAMPAIGNS_WRITE = "campaigns:write"
    CAMPAIGN_TEMPLATES_WRITE = "campaign_templates:write"
    ANALYTICS_READ = "analytics:read"
    PAGES_READ = "pages:read"
    PAGES_WRITE = "pages:write"
    PAGE_TEMPLATES_WRITE = "page_templates:write"


DEALER_ACTS: frozenset[Permission] = frozenset({Permission.ORDERS_PLACE})
"""What only a dealer does in its own name (a cart, an order): no other role holds these."""

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.HQ_ADMIN: frozenset(Permission) - DEALER_ACTS,
    Role.SITE_OPERATOR: frozenset(
        {
            Permission.SITES_READ,
            Permission.SITES_UPDATE,
            Permission.SETTINGS_READ,
            Permission.SETTINGS_WRITE,
            Permission.DEALERS_READ,
            Permission.DEALERS_WRITE,
            Permission.USERS_READ,
            Permission.USERS_WRITE,
            Permission.TOKENS_MANAGE,
            Permission.AUDIT_READ,
            Permission.WAREHOUSES_READ,
            Permission.PLUGINS_READ,
            Permission.PLUGINS_MANAGE,
            Permission.PROFILE_READ,
            Permission.CATALOG_READ,
            Permission.PRICES_WRITE,
            Permission.STOCK_READ,
            Permission.ORDERS_READ,
            Permission.CAMPAIGNS_READ,
            Permission.CAMPAIGNS_WRITE,
            Permission.ANALYTICS_READ,
            Permission.PAGES_READ,
            Permission.PAGES_WRITE,
        }
    ),
    Role.DEALER: frozenset(
        {
            Permission.SITES_READ,
            Permission.DEALERS_READ,
            Permission.TOKENS_MANAGE,
            Permission.PROFILE_READ,
            Permission.CATALOG_READ,
            Permission.ORDERS_PLACE,
            Permission.ORDERS_READ,
            Permission.ORDERS_PAY,
            Permission.ORDERS_CANCEL,
            Permission.RETURNS_REQUEST,
        }
    ),
}


def permissions_of(role: Role) -> frozenset[Permission]:
    """The permissions bundled in *role*."""
    return ROLE_PERMISSIONS[role]
