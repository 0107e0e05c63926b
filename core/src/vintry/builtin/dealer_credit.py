"""Built-in plugin: dealer credit, the payment method ``credit``.

HQ gives each dealer a credit line (a limit in fen); paying an order on credit consumes it,
a cancellation or an approved return gives it back. Consumption is one conditional update —
``used = used + t WHERE used + t <= limit`` — run inside the payment's own HQ transaction,
so concurrent payments can never take a dealer past its limit and a payment that fails
afterwards gives back what it took by rolling back. The table's check constraints
(``used_fen <= limit_fen``, both non-negative) are the backstop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from vintry.contracts import OrderView, PaymentResult
from vintry.dealers.models import Dealer
from vintry.errors import Conflict, InvalidInput
from vintry.hookspecs import hookimpl
from vintry.money import from_fen, to_fen
from vintry.orders.models import DealerCredit

PROVIDER = "vintry-dealer-credit"
METHOD = "credit"


@dataclass(frozen=True)
class CreditLine:
    """A dealer's credit: its limit and what open orders use of it, in fen."""

    limit_fen: int
    used_fen: int
    updated_at: datetime | None

    @property
    def available_fen(self) -> int:
        """What the dealer can still pay on credit."""
        return max(self.limit_fen - self.used_fen, 0)


def credit_line(session: Session, dealer_id: int) -> CreditLine:
    """The dealer's credit line; a dealer HQ never gave credit has a limit of 0."""
    row = session.execute(
        select(DealerCredit.limit_fen, DealerCredit.used_fen, DealerCredit.updated_at).where(
            DealerCredit.dealer_id == dealer_id
        )
    ).first()
    if row is None:
        return CreditLine(limit_fen=0, used_fen=0, updated_at=None)
    return CreditLine(limit_fen=row[0], used_fen=row[1], updated_at=row[2])


def set_limit(session: Session, dealer_id: int, limit_fen: int, now: datetime) -> CreditLine:
    """Set the dealer's limit; refused with 409 ``credit_limit_below_used`` when open orders
    already use more than the new limit (they must be settled first)."""
    if limit_fen < 0:
        raise InvalidInput(
            "a credit limit cannot be negative", code="invalid_amount", field="limit"
        )
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(DealerCredit).values(
        dealer_id=dealer_id, limit_fen=limit_fen, used_fen=0, updated_at=now
    )
    written = session.execute(
        statement.on_conflict_do_update(
            index_elements=[DealerCredit.dealer_id],
            set_={"limit_fen": limit_fen, "updated_at": now},
            where=DealerCredit.used_fen <= limit_fen,
        ).returning(DealerCredit.dealer_id)
    ).first()
    if written is None:
        used = credit_line(session, dealer_id).used_fen
        raise Conflict(
            f"open orders use {from_fen(used)} of this dealer's credit; "
            f"the limit cannot go below it",
            code="credit_limit_below_used",
            field="limit",
            details={"used": str(from_fen(used))},
        )
    return credit_line(session, dealer_id)


def consume(session: Session, dealer_id: int, amount_fen: int, now: datetime) -> bool:
    """Take *amount_fen* of the dealer's credit if it fits under the limit, atomically."""
    result = session.execute(
        update(DealerCredit)
        .where(
            DealerCredit.dealer_id == dealer_id,
            DealerCredit.used_fen + amount_fen <= DealerCredit.limit_fen,
        )
        .values(used_fen=DealerCredit.used_fen + amount_fen, updated_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def restore(session: Session, dealer_id: int, amount_fen: int, now: datetime) -> None:
    """Give back *amount_fen* of credit (a refund); never below zero used."""
    session.execute(
        update(DealerCredit)
        .where(DealerCredit.dealer_id == dealer_id)
        .values(
            used_fen=case(
                (DealerCredit.used_fen >= amount_fen, DealerCredit.used_fen - amount_fen),
                else_=0,
            ),
            updated_at=now,
        )
    )


@hookimpl
def vintry_authorize_payment(order: OrderView, method: str) -> PaymentResult | None:
    """Pay orders of method ``credit`` from the dealer's credit line; other methods: None."""
    if method != METHOD:
        return None
    # The kernel's lifecycle imports this module (refunds), so import it when first needed.
    from vintry.orders.lifecycle import current_payment

    payment = current_payment()
    session = payment.session
    dealer_id = session.scalar(select(Dealer.id).where(Dealer.code == order.dealer.code))
    if dealer_id is None:
        raise LookupError(f"dealer {order.dealer.code!r} of order {order.number} is unknown")
    amount = to_fen(order.total)
    if consume(session, dealer_id, amount, payment.now):
        return PaymentResult(provider=PROVIDER, approved=True, reference=f"credit:{order.number}")
    line = credit_line(session, dealer_id)
    return PaymentResult(
        provider=PROVIDER,
        approved=False,
        reason="credit_exceeded",
        message=(
            f"the order costs {order.total} but only {from_fen(line.available_fen)} "
            f"of dealer {order.dealer.code}'s credit is available"
        ),
        details={
            "available": str(from_fen(line.available_fen)),
            "limit": str(from_fen(line.limit_fen)),
            "used": str(from_fen(line.used_fen)),
            "requested": str(from_fen(amount)),
        },
    )
