"""Payment through the provider hook: the built-in dealer credit, never exceeded under
concurrency; unsupported methods; plugin providers, their refusals and their crashes."""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

from sqlalchemy import func, select
from vintry.contracts import OrderView, PaymentResult
from vintry.hookspecs import hookimpl
from vintry.orders.models import DealerCredit, OutboxEvent, Payment
from vintry.platform import Platform
from vintry_sdk.testing import VintryFactory

from .conftest import Shop
from .lifecycle_flows import buyer, dealer_id, error_code

PRICE = Decimal("1499.00")


def test_hq_sets_a_credit_limit_the_dealer_reads(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    dealer = buyer(vintry_factory, shop, credit=None)
    assert dealer.credit() == {
        "dealer": dealer.code,
        "limit": "0.00",
        "used": "0.00",
        "available": "0.00",
        "updated_at": None,
    }
    dealer.set_credit("5000.50")
    assert dealer.credit()["limit"] == "5000.50" and dealer.credit()["available"] == "5000.50"

    refused = dealer.client.put(f"/api/v1/dealers/{dealer.code}/credit", json={"limit": "9.00"})
    assert refused.status_code == 403
    other = buyer(vintry_factory, shop, credit=None)
    hidden = other.client.get(f"/api/v1/dealers/{dealer.code}/credit")
    assert hidden.status_code == 404 and error_code(hidden) == "dealer_not_found"
    negative = dealer.hq.put(f"/api/v1/dealers/{dealer.code}/credit", json={"limit": "-1"})
    assert negative.status_code == 422

    number = dealer.place((shop.sku, 2))["number"]
    assert dealer.pay(number).status_code == 201
    below = dealer.hq.put(f"/api/v1/dealers/{dealer.code}/credit", json={"limit": "100.00"})
    assert below.status_code == 409 and error_code(below) == "credit_limit_below_used"
    assert below.json()["error"]["details"] == {"used": "2998.00"}
    assert dealer.credit() | {"updated_at": None} == {
        "dealer": dealer.code,
        "limit": "5000.50",
        "used": "2998.00",
        "available": "2002.50",
        "updated_at": None,
    }


def test_a_payment_beyond_the_credit_is_refused_with_what_is_available(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    dealer = buyer(vintry_factory, shop, credit="2000.00")
    first = dealer.place((shop.sku, 1))["number"]
    second = dealer.place((shop.sku, 1))["number"]
    assert dealer.pay(first).status_code == 201
    refused = dealer.pay(second)
    assert refused.status_code == 402, refused.text
    error = refused.json()["error"]
    assert error["code"] == "credit_exceeded"
    assert error["details"] == {
        "provider": "vintry-dealer-credit",
        "available": "501.00",
        "limit": "2000.00",
        "used": "1499.00",
        "requested": "1499.00",
    }
    assert dealer.status(second) == "placed"
    with vintry_platform.hq.reading() as session:
        payments = session.execute(select(Payment.method, Payment.provider, Payment.amount_fen))
        assert payments.all() == [("credit", "vintry-dealer-credit", 149_900)]
        paid_events = session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.type == "order.status_changed")
        )
        assert paid_events == 1


def test_a_method_no_provider_handles_is_unsupported(
    vintry_factory: VintryFactory, shop: Shop
) -> None:
    dealer = buyer(vintry_factory, shop)
    number = dealer.place((shop.sku, 1))["number"]
    refused = dealer.pay(number, method="wire")
    assert refused.status_code == 422 and error_code(refused) == "payment_method_unsupported"
    malformed = dealer.pay(number, method="Not A Method")
    assert malformed.status_code == 422 and error_code(malformed) == "validation_failed"
    assert dealer.status(number) == "placed"


class BankTransfer:
    """A provider plugin: approves bank transfers under a cap, can be told to crash."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, Decimal]] = []
        self.crash = False

    @hookimpl
    def vintry_authorize_payment(self, order: OrderView, method: str) -> PaymentResult | None:
        if method != "bank_transfer":
            return None
        self.seen.append((order.number, order.dealer.code, order.total))
        if self.crash:
            raise RuntimeError("gateway down")
        if order.total > Decimal("2000"):
            return PaymentResult(
                provider="bank-transfer",
                approved=False,
                reason="amount_too_large",
                message="bank transfers stop at 2000 yuan",
                details={"cap": "2000.00"},
            )
        return PaymentResult(provider="bank-transfer", approved=True, reference="BT-1")


def test_a_plugin_provider_pays_only_where_it_is_enabled(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    bank = BankTransfer()
    assert vintry_platform.plugins.register("bank", bank).status == "loaded"
    dealer = buyer(vintry_factory, shop, credit="100000.00")
    number = dealer.place((shop.sku, 1))["number"]
    off = dealer.pay(number, method="bank_transfer")
    assert off.status_code == 422 and error_code(off) == "payment_method_unsupported"
    assert bank.seen == []

    vintry_factory.enable_plugin("bank", shop.region)
    big = dealer.place((shop.sku, 2))["number"]
    declined = dealer.pay(big, method="bank_transfer")
    assert declined.status_code == 402 and error_code(declined) == "amount_too_large"
    assert declined.json()["error"]["details"] == {"provider": "bank-transfer", "cap": "2000.00"}

    bank.crash = True
    crashed = dealer.pay(number, method="bank_transfer")
    assert crashed.status_code == 503 and error_code(crashed) == "payment_provider_failed"
    assert dealer.status(number) == "placed"

    bank.crash = False
    paid = dealer.pay(number, method="bank_transfer")
    assert paid.status_code == 201, paid.text
    assert (paid.json()["provider"], paid.json()["reference"]) == ("bank-transfer", "BT-1")
    assert bank.seen[-1] == (number, dealer.code, PRICE)
    assert Decimal(dealer.credit()["used"]) == 0  # credit untouched by another method
    assert dealer.pay(big).status_code == 201  # and credit still pays where bank is enabled


def test_concurrent_payments_never_exceed_the_credit(
    vintry_factory: VintryFactory, vintry_platform: Platform, shop: Shop
) -> None:
    dealer = buyer(vintry_factory, shop, credit=str(PRICE * 3 + Decimal("1000")))
    numbers = [dealer.place((shop.sku, 1))["number"] for _ in range(8)]
    clients = [
        vintry_factory.client_for("dealer", shop.region, dealer=dealer.code) for _ in numbers
    ]
    start = threading.Barrier(len(numbers))
    outcomes: Counter[tuple[int, str]] = Counter()
    lock = threading.Lock()

    def pay(index: int) -> None:
        start.wait()
        response = clients[index].post(
            f"/api/v1/orders/{numbers[index]}/payment", json={"method": "credit"}
        )
        code = "" if response.status_code == 201 else error_code(response)
        with lock:
            outcomes[(response.status_code, code)] += 1

    threads = [threading.Thread(target=pay, args=(i,)) for i in range(len(numbers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert outcomes == {(201, ""): 3, (402, "credit_exceeded"): 5}
    with vintry_platform.hq.reading() as session:
        credit = session.get(DealerCredit, dealer_id(vintry_platform, dealer.code))
        assert credit is not None and credit.used_fen == 3 * 149_900 <= credit.limit_fen
        assert session.scalar(select(func.count()).select_from(Payment)) == 3
    statuses = Counter(dealer.status(number) for number in numbers)
    assert statuses == {"paid": 3, "placed": 5}
