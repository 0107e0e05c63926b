"""A small tree, a library and HQ changes written with their outbox events, for the relay.

The tree::

    hq
    ├── east (region)
    │   └── east-s1 (store)
    └── west (region)

The library: brand ``MT``, category ``BAIJIU``, products ``FEITIAN`` and ``YINGBIN`` with
SKUs ``FT-500``, ``FT-375`` (Feitian) and ``YB-500`` (Yingbin), made through the catalog
service, which writes one ``catalog.changed`` event per SKU: the outbox starts with those
:data:`LIBRARY_EVENTS` events (ids 1–3), and a test's own changes come after them. Nothing
has run the relay yet: its first pass builds every site's read models whole.

:class:`Changes` writes HQ changes *directly* (rows plus :func:`record_event`, in one HQ
transaction), as the catalog and order services do, so these tests do not depend on them.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from vintry.accounts.principal import Actor
from vintry.catalog import service as catalog
from vintry.catalog.models import AssortmentHide, Product, SitePrice, Sku
from vintry.catalog.schemas import BrandCreate, CategoryCreate, ProductCreate, SkuCreate
from vintry.clock import ManualClock
from vintry.contracts import Event
from vintry.dealers.models import Dealer
from vintry.events.outbox import EventType, record_event
from vintry.events.read_models import SiteRows, current_rows
from vintry.events.relay import Relay, RelayReport
from vintry.hookspecs import hookimpl
from vintry.orders.models import Order, OrderStatus, OutboxEvent
from vintry.platform import Platform, SiteContext
from vintry.sites.models import SiteKind
from vintry_sdk.testing import VintryFactory

HQ, EAST, STORE, WEST = "hq", "east", "east-s1", "west"
SITES = (HQ, EAST, STORE, WEST)
ACTOR = Actor(name="relay-test")
LIBRARY_EVENTS = 3
"""The outbox events the world's library wrote (one ``catalog.changed`` per SKU created)."""


class SimulatedCrash(BaseException):
    """Stands for the relay process being killed: no cleanup code of the relay runs."""


@dataclass
class Changes:
    """HQ changes written with their outbox events in the same transaction."""

    platform: Platform
    clock: ManualClock
    numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _site_id(self, code: str) -> int:
        return self.platform.directory().get(code).id

    def _sku(self, session: object, code: str) -> Sku:
        sku = session.scalar(select(Sku).where(Sku.code == code))  # type: ignore[attr-defined]
        assert sku is not None, code
        return sku  # type: ignore[no-any-return]

    def tick(self) -> None:
        """Move the clock one second."""
        self.clock.advance(timedelta(seconds=1))

    def set_price(self, site: str, sku_code: str, fen: int | None) -> None:
        """Set (or clear, with None) *site*'s own price of a SKU."""
        now = self.clock.now()
        with self.platform.hq.transaction() as session:
            sku = self._sku(session, sku_code)
            row = session.get(SitePrice, (self._site_id(site), sku.id))
            if fen is None:
                if row is not None:
                    session.delete(row)
            elif row is None:
                session.add(
                    SitePrice(
                        site_id=self._site_id(site), sku_id=sku.id, price_fen=fen, updated_at=now
                    )
                )
            else:
                row.price_fen = fen
            record_event(
                session, type=EventType.PRICE_CHANGED, site=site, payload={"sku": sku_code}, now=now
            )

    def hide(self, site: str, sku_code: str, hidden: bool) -> None:
        """Hide (or unhide) a SKU at *site* and its subtree."""
        now = self.clock.now()
        with self.platform.hq.transaction() as session:
            sku = self._sku(session, sku_code)
            row = session.get(AssortmentHide, (self._site_id(site), sku.id))
            if hidden and row is None:
                session.add(
                    AssortmentHide(site_id=self._site_id(site), sku_id=sku.id, updated_at=now)
                )
            elif not hidden and row is not None:
                session.delete(row)
            record_event(
                session,
                type=EventType.ASSORTMENT_CHANGED,
                site=site,
                payload={"sku": sku_code},
                now=now,
            )

    def change_sku(
        self,
        sku_code: str,
        *,
        name: str | None = None,
        base_fen: int | None = None,
        active: bool | None = None,
        product: str | None = None,
    ) -> None:
        """Change a SKU of the library (an event of the root)."""
        now = self.clock.now()
        with self.platform.hq.transaction() as session:
            sku = self._sku(session, sku_code)
            if name is not None:
                sku.name = name
            if base_fen is not None:
                sku.base_price_fen = base_fen
            if active is not None:
                sku.active = active
            if product is not None:
                found = session.scalar(select(Product).where(Product.code == product))
                assert found is not None
                sku.product_id = found.id
            sku.updated_at = now
            record_event(
                session,
                type=EventType.CATALOG_CHANGED,
                site=HQ,
                payload={"sku": sku_code},
                now=now,
            )

    def rename_product(self, code: str, name: str) -> None:
        """Rename a product: every SKU of it changes (one event naming the product)."""
        now = self.clock.now()
        with self.platform.hq.transaction() as session:
            product = session.scalar(select(Product).where(Product.code == code))
            assert product is not None
            product.name = name
            record_event(
                session,
                type=EventType.CATALOG_CHANGED,
                site=HQ,
                payload={"product": code},
                now=now,
            )

    def new_sku(self, code: str, product: str, base_fen: int) -> None:
        """Add a SKU to the library."""
        now = self.clock.now()
        with self.platform.hq.transaction() as session:
            found = session.scalar(select(Product).where(Product.code == product))
            assert found is not None
            session.add(
                Sku(
                    code=code,
                    product_id=found.id,
                    name=f"SKU {code}",
                    volume_ml=500,
                    abv=Decimal("53.0"),
                    case_size=6,
                    base_price_fen=base_fen,
                    active=True,
                    updated_at=now,
                )
            )
            record_event(
                session, type=EventType.CATALOG_CHANGED, site=HQ, payload={"skus": [code]}, now=now
            )

    def place_order(self, site: str, dealer_code: str, total_fen: int) -> str:
        """An order of *dealer_code* at *site*, as placement writes it (without stock)."""
        now = self.clock.now()
        number = f"VO-T{next(self.numbers):06d}"
        with self.platform.hq.transaction() as session:
            dealer_id = session.scalar(select(Dealer.id).where(Dealer.code == dealer_code))
            assert dealer_id is not None
            session.add(
                Order(
                    number=number,
                    site_id=self._site_id(site),
                    dealer_id=dealer_id,
                    status=OrderStatus.PLACED.value,
                    subtotal_fen=total_fen,
                    discount_fen=0,
                    total_fen=total_fen,
                    pricing={},
                    sourcing={},
                    note=None,
                    placed_at=now,
                    pay_by=None,
                    paid_at=None,
                    cancelled_at=None,
                    cancel_reason=None,
                    updated_at=now,
                )
            )
            record_event(
                session,
                type=EventType.ORDER_PLACED,
                site=site,
                payload={"number": number, "dealer": dealer_code},
                now=now,
            )
        return number

    def set_order_status(self, number: str, status: OrderStatus) -> None:
        """Move an order to *status* (no state machine here: the relay only copies it)."""
        now = self.clock.now()
        with self.platform.hq.transaction() as session:
            order = session.scalar(select(Order).where(Order.number == number))
            assert order is not None
            order.status, order.updated_at = status.value, now
            site = self.platform.directory().by_id(order.site_id).code
            record_event(
                session,
                type=EventType.ORDER_STATUS_CHANGED,
                site=site,
                payload={"number": number},
                now=now,
            )


class EventRecorder:
    """A plugin recording the ids of the events it receives, by site."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, str]] = []
        self.fail_on: set[str] = set()

    @hookimpl
    def vintry_handle_event(self, event: Event, site: SiteContext) -> None:
        """Record ``(event id, type, site)``; raise for the types in ``fail_on``."""
        if event.type in self.fail_on:
            raise RuntimeError(f"recorder refuses {event.type}")
        self.received.append((event.id, event.type, site.code))

    def outbox_ids(self) -> Counter[int]:
        """How many times each outbox event arrived."""
        return Counter(
            int(event_id.split(":", 1)[1])
            for event_id, _, _ in self.received
            if event_id.startswith("outbox:")
        )


@dataclass
class World:
    """The tree, the library, the change writer and a relay factory."""

    platform: Platform
    factory: VintryFactory
    changes: Changes

    applied: Counter[tuple[int, str]] = field(default_factory=Counter)
    """Every (event id, site) application committed by the relays :meth:`relay` made."""

    def relay(self, **options: object) -> Relay:
        """A new relay (no Redis unless given) counting its applications in ``applied``."""
        options.setdefault("redis_url", None)
        options.setdefault("on_apply", self._count)
        return Relay(self.platform, **options)  # type: ignore[arg-type]

    def _count(self, event_id: int, site: str) -> None:
        self.applied[(event_id, site)] += 1

    def rows(self, code: str) -> SiteRows:
        """What site *code*'s read models hold now."""
        with self.platform.site_database(code).reading() as session:
            return current_rows(session)


def drain(relay: Relay, *, passes: int = 200) -> list[RelayReport]:
    """Run passes until one does nothing and nothing is pending (bounded)."""
    reports = []
    for _ in range(passes):
        report = relay.run_once()
        reports.append(report)
        if not report.progressed and report.pending == 0 and report.failures == 0:
            return reports
    raise AssertionError(f"the relay did not settle in {passes} passes: {reports[-1]}")


@pytest.fixture
def world(
    vintry_platform: Platform, vintry_factory: VintryFactory, vintry_clock: ManualClock
) -> World:
    """The tree and library of the module docstring."""
    platform = vintry_platform
    vintry_factory.site(EAST, kind=SiteKind.REGION)
    vintry_factory.site(WEST, kind=SiteKind.REGION)
    vintry_factory.site(STORE, parent=EAST, kind=SiteKind.STORE)
    catalog.create_brand(platform, BrandCreate(code="MT", name="Maotai"), actor=ACTOR)
    catalog.create_category(platform, CategoryCreate(code="BAIJIU", name="Baijiu"), actor=ACTOR)
    for code, name in (("FEITIAN", "Feitian"), ("YINGBIN", "Yingbin")):
        catalog.create_product(
            platform,
            ProductCreate(code=code, name=name, brand="MT", category="BAIJIU"),
            actor=ACTOR,
        )
    for code, product, price in (
        ("FT-500", "FEITIAN", "1499.00"),
        ("FT-375", "FEITIAN", "1199.00"),
        ("YB-500", "YINGBIN", "399.00"),
    ):
        catalog.create_sku(
            platform,
            SkuCreate(
                code=code,
                product=product,
                name=f"{product.title()} {code}",
                volume_ml=500,
                abv=Decimal("53.0"),
                base_price=Decimal(price),
            ),
            actor=ACTOR,
        )
    with platform.hq.reading() as session:
        library = [(e.type, e.payload) for e in session.scalars(select(OutboxEvent))]
    assert library == [
        ("catalog.changed", {"sku": code}) for code in ("FT-500", "FT-375", "YB-500")
    ], "the library's SKUs announced themselves, and nothing else did"
    assert len(library) == LIBRARY_EVENTS
    return World(platform, vintry_factory, Changes(platform, vintry_clock))
