"""Each member's units, held in HQ under a reference of its own while its group is open.

A join holds the member's units with the kernel's ``hold_stock`` under
:func:`reference_for` (``service.join_group``): one conditional update per (warehouse, SKU)
row, so a join never promises units that are not there. A hold expires on its own some time
after its group (the site's ``hold_margin_minutes``), so a hold the plugin never got to
release returns to stock anyway. When the group succeeds, the kernel's ``place_held`` turns
each member's hold into its order inside the order's own HQ transaction: the units are never
free in between, so no competing order can take them. A failed group, or a member whose
order is refused, gets its hold back to stock with ``release_stock``.
"""

from __future__ import annotations

from vintry_sdk import SiteContext


def reference_for(site: SiteContext, group: str, dealer: str) -> str:
    """The reservation reference of one member's units (unique across sites)."""
    return f"groupbuy:{site.code}:{group}:{dealer}"
