"""Random HQ changes, a relay killer and the convergence check, shared by the relay tests
(in-process and Redis Stream)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

from sqlalchemy import select
from vintry.dealers.models import DealerTier
from vintry.dealers.schemas import DealerUpdate
from vintry.dealers.service import update_dealer
from vintry.events.dead_letters import relay_status
from vintry.events.read_models import rebuild_site, verify_site
from vintry.events.relay import DEFAULT_CONSUMER, targets
from vintry.orders.models import OrderStatus, OutboxEvent
from vintry.sites.read_models import InboxRecord

from .conftest import ACTOR, SITES, SimulatedCrash, World

CRASH_POINTS = ("relay.after_apply", "relay.after_deliver", "relay.before_cursor")
SKUS = ["FT-500", "FT-375", "YB-500"]


class Killer:
    """A fault hook that kills the relay at the n-th pass of one fault point, once armed."""

    def __init__(self) -> None:
        self.point: str | None = None
        self.countdown = 0
        self.kills: Counter[str] = Counter()

    def arm(self, point: str, countdown: int) -> None:
        """Kill at the *countdown*-th time *point* is reached."""
        self.point, self.countdown = point, countdown

    def disarm(self) -> None:
        """Never kill again."""
        self.point = None

    def __call__(self, name: str) -> None:
        if name != self.point:
            return
        self.countdown -= 1
        if self.countdown <= 0:
            self.point = None
            self.kills[name] += 1
            raise SimulatedCrash(name)


class RandomHQ:
    """Random HQ changes on the world's tree."""

    def __init__(self, world: World, rng: random.Random) -> None:
        self.world = world
        self.rng = rng
        self.dealers: dict[str, str] = {}
        self.orders: list[str] = []
        self.skus = list(SKUS)

    def step(self) -> None:
        """One random change."""
        operations: list[tuple[int, Callable[[], None]]] = [
            (3, self.new_dealer),
            (3, self.change_dealer),
            (4, self.price),
            (3, self.hide),
            (2, self.change_sku),
            (1, self.move_sku),
            (1, self.rename_product),
            (1, self.new_sku),
            (3, self.order),
            (3, self.order_status),
        ]
        weights = [weight for weight, _ in operations]
        self.rng.choices([operation for _, operation in operations], weights)[0]()
        self.world.changes.tick()

    def new_dealer(self) -> None:
        site = self.rng.choice(SITES)
        code = f"D-{len(self.dealers) + 1:04d}"
        self.world.factory.dealer(site, code, tier=self.rng.choice(list(DealerTier)))
        self.dealers[code] = site

    def change_dealer(self) -> None:
        if not self.dealers:
            return self.new_dealer()
        code = self.rng.choice(sorted(self.dealers))
        request = self.rng.choice(
            [
                DealerUpdate(tier=self.rng.choice(list(DealerTier))),
                DealerUpdate(tags=self.rng.sample(["vip", "banquet", "online", "north"], 2)),
                DealerUpdate(active=self.rng.random() < 0.5),
                DealerUpdate(name=f"Dealer {self.rng.randint(1, 999)}"),
            ]
        )
        update_dealer(self.world.platform, self.dealers[code], code, request, actor=ACTOR)

    def price(self) -> None:
        fen = None if self.rng.random() < 0.3 else self.rng.randint(100, 2000) * 100
        self.world.changes.set_price(self.rng.choice(SITES), self.rng.choice(self.skus), fen)

    def hide(self) -> None:
        site = self.rng.choice(SITES[1:])  # the root offers everything active
        self.world.changes.hide(site, self.rng.choice(self.skus), self.rng.random() < 0.6)

    def change_sku(self) -> None:
        sku = self.rng.choice(self.skus)
        change = self.rng.randrange(3)
        if change == 0:
            self.world.changes.change_sku(sku, name=f"Renamed {self.rng.randint(1, 99)}")
        elif change == 1:
            self.world.changes.change_sku(sku, base_fen=self.rng.randint(100, 2000) * 100)
        else:
            self.world.changes.change_sku(sku, active=self.rng.random() < 0.7)

    def move_sku(self) -> None:
        sku = self.rng.choice(self.skus)
        self.world.changes.change_sku(sku, product=self.rng.choice(["FEITIAN", "YINGBIN"]))

    def rename_product(self) -> None:
        code = self.rng.choice(["FEITIAN", "YINGBIN"])
        self.world.changes.rename_product(code, f"{code.title()} {self.rng.randint(1, 99)}")

    def new_sku(self) -> None:
        code = f"NEW-{len(self.skus) + 1:03d}"
        self.world.changes.new_sku(code, "YINGBIN", self.rng.randint(100, 900) * 100)
        self.skus.append(code)

    def order(self) -> None:
        if not self.dealers:
            return self.new_dealer()
        dealer = self.rng.choice(sorted(self.dealers))
        number = self.world.changes.place_order(
            self.dealers[dealer], dealer, self.rng.randint(1, 50) * 10_000
        )
        self.orders.append(number)

    def order_status(self) -> None:
        if not self.orders:
            return self.order()
        status = self.rng.choice([s for s in OrderStatus if s is not OrderStatus.PLACED])
        self.world.changes.set_order_status(self.rng.choice(self.orders), status)


def _inbox(world: World, code: str) -> set[int]:
    with world.platform.site_database(code).reading() as session:
        return set(
            session.scalars(
                select(InboxRecord.event_id).where(InboxRecord.consumer == DEFAULT_CONSUMER)
            )
        )


def assert_converged(world: World, applied: Counter[tuple[int, str]]) -> None:
    """Every site equals a fresh rebuild; every concerned site applied every event once."""
    platform = world.platform
    directory = platform.directory()
    with platform.hq.reading() as session:
        events = list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))
    status = relay_status(platform)
    assert (status.cursor, status.lag) == (events[-1].id, 0)

    expected = {(e.id, code) for e in events for code in targets(directory, e.type, e.site)}
    assert set(applied) == expected, "every concerned site applied every event"
    assert set(applied.values()) == {1}, "no event was applied twice"
    for code in SITES:
        assert _inbox(world, code) == {event_id for event_id, site in expected if site == code}
        assert verify_site(platform, code) == [], f"{code} differs from HQ"
        before = world.rows(code)
        rebuild_site(platform, code)
        assert world.rows(code) == before, f"{code} differs from a fresh rebuild"
