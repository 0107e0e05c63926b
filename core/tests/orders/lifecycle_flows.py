"""Steps of an order's life through the API, shared by the lifecycle, payment and returns
tests: a dealer with credit places and pays, HQ ships and tracks to delivery."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient
from vintry.dealers.models import Dealer
from vintry.platform import Platform
from vintry_sdk.testing import VintryFactory

from .conftest import Shop

_keys = itertools.count(1)


@dataclass
class Buyer:
    """A dealer of the shop's region, its client, and HQ's client on the same site."""

    code: str
    client: TestClient
    hq: TestClient

    def place(self, *lines: tuple[str, int]) -> dict[str, Any]:
        """Place an order of *lines* (SKU, units); returns its JSON."""
        response = self.client.post(
            "/api/v1/orders",
            json={"lines": [{"sku": sku, "quantity": units} for sku, units in lines]},
            headers={"Idempotency-Key": f"flow-{next(_keys)}"},
        )
        assert response.status_code == 201, response.text
        order: dict[str, Any] = response.json()
        return order

    def pay(self, number: str, method: str = "credit") -> Any:
        """Pay order *number*; returns the response."""
        return self.client.post(f"/api/v1/orders/{number}/payment", json={"method": method})

    def set_credit(self, limit: str) -> None:
        """HQ sets this dealer's credit limit (yuan)."""
        response = self.hq.put(f"/api/v1/dealers/{self.code}/credit", json={"limit": limit})
        assert response.status_code == 200, response.text

    def credit(self) -> dict[str, Any]:
        """The dealer's credit line as it reads it."""
        response = self.client.get(f"/api/v1/dealers/{self.code}/credit")
        assert response.status_code == 200, response.text
        line: dict[str, Any] = response.json()
        return line

    def ship(self, number: str, warehouse: str, *lines: tuple[str, int]) -> Any:
        """HQ ships *lines* of order *number* from *warehouse*; returns the response."""
        return self.hq.post(
            f"/api/v1/orders/{number}/shipments",
            json={
                "warehouse": warehouse,
                "lines": [{"sku": sku, "quantity": units} for sku, units in lines],
            },
        )

    def track(self, number: str, shipment: str, node: str) -> Any:
        """HQ records tracking *node* of *shipment*; returns the response."""
        return self.hq.post(
            f"/api/v1/orders/{number}/shipments/{shipment}/tracking",
            json={"node": node, "location": "Hangzhou hub"},
        )

    def deliver(self, order: dict[str, Any]) -> list[str]:
        """Pay (on ample credit) is the caller's; ship every allocation and sign for each
        shipment; returns the shipment numbers."""
        per_warehouse: dict[str, list[tuple[str, int]]] = {}
        for line in order["lines"]:
            for allocation in line["allocations"]:
                per_warehouse.setdefault(allocation["warehouse"], []).append(
                    (line["sku"], allocation["quantity"])
                )
        shipments = []
        for warehouse, lines in sorted(per_warehouse.items()):
            response = self.ship(order["number"], warehouse, *lines)
            assert response.status_code == 201, response.text
            shipments.append(response.json()["number"])
        for shipment in shipments:
            response = self.track(order["number"], shipment, "signed_for")
            assert response.status_code == 201, response.text
        return shipments

    def status(self, number: str) -> str:
        """The order's status as the dealer reads it."""
        response = self.client.get(f"/api/v1/orders/{number}")
        assert response.status_code == 200, response.text
        return str(response.json()["status"])


def buyer(factory: VintryFactory, shop: Shop, *, credit: str | None = "1000000.00") -> Buyer:
    """A new dealer of the shop's region with a client, and HQ's client there."""
    code = factory.dealer(shop.region).code
    found = Buyer(
        code=code,
        client=factory.client_for("dealer", shop.region, dealer=code),
        hq=factory.admin_client(shop.region),
    )
    if credit is not None:
        found.set_credit(credit)
    return found


def dealer_id(platform: Platform, code: str) -> int:
    """The id of dealer *code*."""
    with platform.hq.reading() as session:
        return int(session.scalar(select(Dealer.id).where(Dealer.code == code)))


def error_code(response: Any) -> str:
    """The ``error.code`` of an error response."""
    return str(response.json()["error"]["code"])


def yuan(value: str) -> Decimal:
    """A money value of a JSON body."""
    return Decimal(value)
