"""The site's published campaigns are kept under the site's campaigns version: every change
that can move a campaign in or out of a dealer's list — a budget drawn or given back, a
dealer's own uses, any ORM write of a campaign — moves the version in its own transaction,
so the "for you" list of this worker and of another (a second Platform on the same
databases) never shows what the change took away."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from vintry.api import create_app
from vintry.campaigns import published
from vintry.campaigns.models import Campaign
from vintry.clock import ManualClock
from vintry.contracts import DealerView, OrderDraft, ResourceClaim
from vintry.orders.pricing import LineInput, price_lines
from vintry.platform import Platform
from vintry.plugins import PluginHost

from .conftest import EAST, PROBE, SKU_A, ProbePlugin, Shop

BUILTIN = "vintry-campaigns"


@pytest.fixture
def worker(shop: Shop, vintry_clock: ManualClock) -> Iterator[dict[str, TestClient]]:
    """Another worker process: a client of a second Platform per dealer of the shop."""
    platform = Platform(
        shop.platform.settings,
        clock=vintry_clock,
        plugins=PluginHost(allow=shop.platform.settings.load_plugins),
    )
    assert platform.plugins.register(PROBE, ProbePlugin()).status == "loaded"
    app = create_app(platform)
    clients = {
        who: TestClient(
            app,
            base_url=str(client.base_url),
            headers={"Authorization": client.headers["Authorization"]},
            raise_server_exceptions=False,
        )
        for who, client in shop.dealers.items()
    }
    yield clients
    for client in clients.values():
        client.close()
    platform.close()


def _for_you(client: TestClient) -> list[str]:
    response = client.get("/api/v1/campaigns/for-you")
    assert response.status_code == 200, response.text
    return [item["code"] for item in response.json()]


def _both(shop: Shop, worker: dict[str, TestClient], who: str) -> tuple[list[str], list[str]]:
    """*who*'s list through this worker and through the other one."""
    return _for_you(shop.dealers[who]), _for_you(worker[who])


def _draft(shop: Shop, who: str, number: str, quantity: int) -> OrderDraft:
    """An order of *quantity* of SKU_A by dealer *who*, priced with the campaigns in force."""
    platform = shop.platform
    directory, state = platform.refresh()
    site = platform.site(EAST, directory, state)
    view = DealerView(code=shop.dealer_codes[who], name=who, tier=who.split("-")[1], site=EAST)
    with platform.hq.reading() as session:
        priced = price_lines(
            session,
            site,
            view,
            [LineInput(SKU_A, quantity)],
            platform.clock.now(),
            directory=directory,
        )
    return OrderDraft(
        number=number,
        site=EAST,
        dealer=priced.draft.dealer,
        lines=priced.draft.lines,
        adjustments=priced.adjustments,
        total=Decimal(priced.total_fen) / 100,
    )


def _hook(platform: Platform, name: str) -> object:
    site = platform.site(EAST)
    return next(i for i in site.hooks.implementations(name) if i.plugin_name == BUILTIN).function


def _claim(shop: Shop, draft: OrderDraft) -> list[ResourceClaim]:
    claim = _hook(shop.platform, "vintry_claim_resources")
    return list(claim(draft=draft, site=shop.platform.site(EAST)))  # type: ignore[operator]


def _release(shop: Shop, claims: list[ResourceClaim]) -> None:
    release = _hook(shop.platform, "vintry_release_resources")
    release(claims=claims, site=shop.platform.site(EAST))  # type: ignore[operator]


def test_a_spent_budget_leaves_every_workers_list_and_a_give_back_restores_it(
    shop: Shop, worker: dict[str, TestClient]
) -> None:
    shop.campaign(code="C1", budget={"units": 2})
    shop.campaign(code="OPEN", config={"skus": [SKU_A], "off": "1.00"}, priority=-1)
    assert _both(shop, worker, "east-gold") == (["C1", "OPEN"], ["C1", "OPEN"])
    claims = _claim(shop, _draft(shop, "east-gold", "VO-1", 2))
    assert [c.resource for c in claims] == ["campaign:C1"]
    for who in ("east-gold", "east-silver"):
        assert _both(shop, worker, who) == (["OPEN"], ["OPEN"])
    _release(shop, claims)
    assert _both(shop, worker, "east-silver") == (["C1", "OPEN"], ["C1", "OPEN"])


def test_a_dealers_own_limit_hides_the_campaign_from_that_dealer_only(
    shop: Shop, worker: dict[str, TestClient]
) -> None:
    shop.campaign(code="ONCE", budget={"uses_per_dealer": 1})
    assert _both(shop, worker, "east-gold") == (["ONCE"], ["ONCE"])
    _claim(shop, _draft(shop, "east-gold", "VO-1", 1))
    assert _both(shop, worker, "east-gold") == ([], [])
    assert _both(shop, worker, "east-silver") == (["ONCE"], ["ONCE"])


def test_every_orm_write_of_a_campaign_moves_the_version_once_per_transaction(
    shop: Shop, worker: dict[str, TestClient]
) -> None:
    shop.campaign(code="C1")
    shop.campaign(code="C2")
    assert _both(shop, worker, "east-gold") == (["C1", "C2"], ["C1", "C2"])
    database = shop.platform.site(EAST).database
    with database.reading() as session:
        before = published.read_version(session)
    with database.transaction() as session:  # code other than the services, through the ORM
        for campaign in session.scalars(select(Campaign).order_by(Campaign.code)):
            campaign.target_tiers = ["silver"]
    with database.reading() as session:
        assert published.read_version(session) == before + 1
    assert _both(shop, worker, "east-gold") == ([], [])
    assert _both(shop, worker, "east-silver") == (["C1", "C2"], ["C1", "C2"])


def test_a_kept_list_is_reused_until_the_version_moves(shop: Shop) -> None:
    shop.campaign(code="C1")
    site = shop.platform.site(EAST)
    now = shop.platform.clock.now()
    with site.database.reading() as session:
        version = published.read_version(session)
    first = published.published(site, version, now)
    assert published.published(site, version, now) is first
    shop.campaign(code="C2")
    with site.database.reading() as session:
        moved = published.read_version(session)
    assert moved > version
    assert [c.item.code for c in published.published(site, moved, now).campaigns] == ["C1", "C2"]
