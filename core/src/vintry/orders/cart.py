"""Carts: one per dealer per site, kept in the site's own database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from vintry.orders.models import CartLine
from vintry.orders.pricing import LineInput
from vintry.platform import SiteContext

MAX_LINES = 200


def cart_lines(site: SiteContext, dealer_code: str) -> list[LineInput]:
    """The dealer's cart at *site*, in the order lines were added."""
    with site.database.reading() as session:
        rows = session.scalars(
            select(CartLine)
            .where(CartLine.dealer_code == dealer_code)
            .order_by(CartLine.added_at, CartLine.sku_code)
        )
        return [LineInput(row.sku_code, row.quantity) for row in rows]


def set_quantity(
    site: SiteContext, dealer_code: str, sku: str, quantity: int, now: datetime
) -> None:
    """Set a line's quantity (0 removes it)."""
    with site.database.transaction() as session:
        row = session.get(CartLine, (dealer_code, sku))
        if quantity == 0:
            if row is not None:
                session.delete(row)
            return
        if row is None:
            session.add(
                CartLine(
                    dealer_code=dealer_code,
                    sku_code=sku,
                    quantity=quantity,
                    added_at=now,
                    updated_at=now,
                )
            )
        else:
            row.quantity, row.updated_at = quantity, now


def line_count(site: SiteContext, dealer_code: str) -> int:
    """How many lines the cart has."""
    return len(cart_lines(site, dealer_code))


def clear(site: SiteContext, dealer_code: str) -> None:
    """Empty the dealer's cart."""
    with site.database.transaction() as session:
        session.execute(delete(CartLine).where(CartLine.dealer_code == dealer_code))
