"""A test plugin offering three campaign types, and a small shop with two regions.

The probe plugin is what the campaign framework is tested with (the real promotion plugins
have their own tests): ``unit-off`` (so much off each unit of some SKUs, above an optional
spend), ``order-off`` (so much off the whole cart above a threshold, prorated by the kernel)
and ``free-gift`` (a gift SKU above a spend).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field
from starlette.testclient import TestClient
from vintry.api import create_app
from vintry.catalog.models import Brand, Category, Product, Sku
from vintry.dealers.models import DealerTier
from vintry.inventory import stock
from vintry.inventory.models import Warehouse
from vintry.platform import Platform
from vintry_sdk import (
    AdjustmentCandidate,
    CampaignSkip,
    CampaignSkuView,
    CampaignType,
    CampaignTypeRegistration,
    CartDraft,
    DealerView,
    GiftLine,
    SiteContext,
    hookimpl,
    live_campaigns,
)
from vintry_sdk.testing import VintryFactory

PROBE = "campaign-probe"
EAST, WEST = "east", "west"
SKU_A, SKU_B, GLASS = "FT-500", "FT-375", "GLASS-6"


class UnitOff(BaseModel):
    """So much off each unit of *skus*, when the cart's subtotal reaches *min_spend*."""

    skus: list[str] = Field(min_length=1)
    off: Decimal = Field(gt=0, decimal_places=2)
    min_spend: Decimal = Field(default=Decimal(0), ge=0)


class OrderOff(BaseModel):
    """So much off the whole cart from *threshold*; the kernel prorates it over the lines."""

    off: Decimal = Field(gt=0, decimal_places=2)
    threshold: Decimal = Field(gt=0, decimal_places=2)


class FreeGift(BaseModel):
    """*quantity* of *gift_sku* free from a subtotal of *threshold*."""

    gift_sku: str
    quantity: int = Field(default=1, ge=1)
    threshold: Decimal = Field(default=Decimal(0), ge=0)


def _unit_lowest(config: UnitOff, skus: Sequence[CampaignSkuView]) -> Mapping[str, Decimal]:
    return {s.sku: s.unit_price - config.off for s in skus if s.sku in config.skus}


def _order_lowest(config: OrderOff, skus: Sequence[CampaignSkuView]) -> Mapping[str, Decimal]:
    ratio = config.off / config.threshold
    return {s.sku: (s.unit_price * (1 - ratio)).quantize(Decimal("0.01")) for s in skus}


class ProbePlugin:
    """Registers the three types and prices carts with them."""

    @hookimpl
    def vintry_register_campaign_types(self, register: CampaignTypeRegistration) -> None:
        """Offer ``unit-off``, ``order-off`` and ``free-gift``."""
        register(
            CampaignType(
                name="unit-off",
                title="Unit off",
                config_model=UnitOff,
                lowest_unit_prices=_unit_lowest,
                referenced_skus=lambda c: {s: f"config.skus.{i}" for i, s in enumerate(c.skus)},
                describe=lambda c: f"{c.off} off each {', '.join(c.skus)}",
            )
        )
        register(
            CampaignType(
                name="order-off",
                title="Order off",
                config_model=OrderOff,
                lowest_unit_prices=_order_lowest,
            )
        )
        register(
            CampaignType(
                name="free-gift",
                title="Free gift",
                config_model=FreeGift,
                lowest_unit_prices=lambda c, skus: {c.gift_sku: Decimal(0)},
                referenced_skus=lambda c: {c.gift_sku: "config.gift_sku"},
            )
        )

    @hookimpl
    def vintry_price_cart(
        self, cart: CartDraft, site: SiteContext, dealer: DealerView, now: datetime
    ) -> list[AdjustmentCandidate | CampaignSkip]:
        """Candidates of the live campaigns, skips of the others."""
        selection = live_campaigns(site, ["unit-off", "order-off", "free-gift"], dealer, now)
        out: list[AdjustmentCandidate | CampaignSkip] = list(selection.skipped)
        for view in selection.applicable:
            config = view.config
            if view.type == "unit-off":
                lines = {
                    line.index: config.off * line.quantity
                    for line in cart.lines
                    if line.sku in config.skus
                }
                if cart.subtotal < config.min_spend or not lines:
                    out.append(view.skip("threshold_not_met", f"spend {config.min_spend}"))
                    continue
                amount = sum(lines.values(), start=Decimal(0))
                units = sum(line.quantity for line in cart.lines if line.sku in config.skus)
                refusal = view.budget_refusal(amount=amount, units=units)
                out.append(
                    refusal
                    or view.candidate(
                        reason=f"{config.off} off each",
                        amount=amount,
                        line_amounts=lines,
                        units=units,
                    )
                )
            elif view.type == "order-off":
                if cart.subtotal < config.threshold:
                    out.append(view.skip("threshold_not_met", f"spend {config.threshold}"))
                    continue
                out.append(
                    view.budget_refusal(amount=config.off)
                    or view.candidate(reason=f"{config.off} off the order", amount=config.off)
                )
            else:
                if cart.subtotal < config.threshold:
                    out.append(view.skip("threshold_not_met", f"spend {config.threshold}"))
                    continue
                out.append(
                    view.candidate(
                        reason=f"{config.quantity} x {config.gift_sku} free",
                        amount=Decimal(0),
                        units=config.quantity,
                        gifts=(GiftLine(sku=config.gift_sku, quantity=config.quantity),),
                    )
                )
        return out


@pytest.fixture
def vintry_app(vintry_platform: Platform) -> FastAPI:
    """The API, with the probe plugin installed first (as a server loads plugins)."""
    record = vintry_platform.plugins.register(PROBE, ProbePlugin())
    assert record.status == "loaded", record.error
    return create_app(vintry_platform)


@dataclass
class Shop:
    """Two regions (the probe on in east only), a catalog with stock, and callers."""

    factory: VintryFactory
    platform: Platform
    operator: dict[str, TestClient]
    dealer_codes: dict[str, str]
    dealers: dict[str, TestClient]

    def campaign(self, site: str = EAST, **fields: Any) -> dict[str, Any]:
        """Create and publish a campaign at *site* (live now unless told otherwise)."""
        now = self.platform.clock.now()
        body: dict[str, Any] = {
            "code": "C1",
            "type": "unit-off",
            "name": "Campaign",
            "config": {"skus": [SKU_A], "off": "100.00"},
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(days=7)).isoformat(),
        }
        body.update(fields)
        created = self.operator[site].post("/api/v1/campaigns", json=body)
        assert created.status_code == 201, created.text
        published = self.operator[site].post(
            f"/api/v1/campaigns/{body['code']}/transition", json={"to": "scheduled"}
        )
        assert published.status_code == 200, published.text
        return dict(published.json())

    def cart(self, dealer: str, lines: dict[str, int]) -> dict[str, Any]:
        """Set *dealer*'s cart to *lines*; return it priced."""
        client = self.dealers[dealer]
        response = None
        for sku, quantity in lines.items():
            response = client.put(f"/api/v1/cart/lines/{sku}", json={"quantity": quantity})
            assert response.status_code == 200, response.text
        assert response is not None
        return dict(response.json())


def _catalog(platform: Platform, east_id: int, west_id: int) -> None:
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        brand, category = Brand(code="MT", name="Maotai"), Category(code="BAIJIU", name="Baijiu")
        gifts = Category(code="GIFTS", name="Gifts")
        session.add_all([brand, category, gifts])
        session.flush()
        spirit = Product(
            code="FEITIAN", name="Feitian", brand_id=brand.id, category_id=category.id, tags=[]
        )
        glass = Product(
            code="GLASS", name="Glassware", brand_id=brand.id, category_id=gifts.id, tags=[]
        )
        session.add_all([spirit, glass])
        session.flush()
        skus = [
            Sku(
                code=code,
                product_id=product.id,
                name=code,
                volume_ml=ml,
                abv=Decimal("53.0"),
                case_size=6,
                base_price_fen=price,
                updated_at=now,
            )
            for code, product, ml, price in (
                (SKU_A, spirit, 500, 149_900),
                (SKU_B, spirit, 375, 99_900),
                (GLASS, glass, 1, 8_800),
            )
        ]
        warehouses = [
            Warehouse(
                code=f"WH-{site.upper()}",
                name=site,
                city=site,
                region_site_id=site_id,
                latitude=Decimal("31.23"),
                longitude=Decimal("121.47"),
                priority=1,
            )
            for site, site_id in ((EAST, east_id), (WEST, west_id))
        ]
        session.add_all([*skus, *warehouses])
        session.flush()
        for warehouse in warehouses:
            for sku, units in zip(skus, (100, 100, 3), strict=True):
                stock.receive(
                    session, warehouse_id=warehouse.id, sku_id=sku.id, quantity=units, now=now
                )


@pytest.fixture
def shop(vintry_factory: VintryFactory, vintry_platform: Platform) -> Shop:
    """east (probe on) and west (probe off), a gold and a silver dealer in each."""
    east = vintry_factory.site(EAST)
    west = vintry_factory.site(WEST)
    vintry_factory.enable_plugin(PROBE, EAST)
    _catalog(vintry_platform, east.id, west.id)
    codes = {}
    dealers = {}
    for site in (EAST, WEST):
        for label, tier, tags in (
            ("gold", DealerTier.GOLD, ["vip"]),
            ("silver", DealerTier.SILVER, []),
        ):
            code = f"D-{site.upper()}-{label.upper()}"
            vintry_factory.dealer(site, code, tier=tier, tags=tags)
            key = f"{site}-{label}"
            codes[key] = code
            dealers[key] = vintry_factory.client_for("dealer", site, dealer=code)
    operators = {site: vintry_factory.client_for("site_operator", site) for site in (EAST, WEST)}
    return Shop(vintry_factory, vintry_platform, operators, codes, dealers)
