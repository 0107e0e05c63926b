"""The demo's regional campaigns: one of each promotion plugin, each launched by its region.

Four regional marketing centers run a campaign of their own, made and published through the
kernel's campaign service exactly as an operator's ``POST /api/v1/campaigns`` would (the
plugin enabled on that site first, every change audited):

* **east** (Shanghai) — spend 3,000 yuan, get a set of tasting glasses (``discounts``);
* **south** (Guangdong) — a group buy of Gujiao 52%, cheaper as the group grows
  (``groupbuy``);
* **north** (Beijing) — a flash sale of Kunsha 53% (``seckill``);
* **west** (Sichuan) — a Dutch auction of near-expiry green plum liqueur (``auction``): its
  lot is held in HQ when the campaign is published.

The demo is data, not a dependency: a campaign whose plugin is not installed, or whose
region is not seeded, is left out (and said so). Launching is idempotent: a campaign found by
its code is left as it is, so a second run changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from vintry.accounts.principal import Actor
from vintry.campaigns.models import Campaign, CampaignStatus
from vintry.campaigns.schemas import CampaignCreate, CampaignTransition
from vintry.campaigns.service import create_campaign, transition_campaign
from vintry.demo.data import DemoRegion
from vintry.errors import VintryError
from vintry.platform import Platform
from vintry.sites.enablement import set_enablement
from vintry.sites.inheritance import EnablementState

__all__ = ["DEMO_CAMPAIGNS", "CampaignLaunch", "DemoCampaign", "launch_demo_campaigns"]


@dataclass(frozen=True)
class DemoCampaign:
    """A campaign a region of the demo runs, from now for ``lasts``."""

    region: str
    plugin: str
    type: str
    code: str
    name: str
    description: str
    config: dict[str, Any]
    lasts: timedelta


DEMO_CAMPAIGNS: tuple[DemoCampaign, ...] = (
    DemoCampaign(
        region="shanghai",
        plugin="discounts",
        type="gift",
        code="SH-GIFT-GLASS",
        name="满3000赠品鉴杯 Spend 3,000, get tasting glasses",
        description="East: every 3,000 yuan spent brings a set of six tasting glasses, "
        "up to three sets an order, while the glasses last.",
        config={
            "threshold": "3000.00",
            "gift_sku": "CS-GLASS-6",
            "gift_quantity": 1,
            "repeat": True,
            "max_sets": 3,
        },
        lasts=timedelta(days=30),
    ),
    DemoCampaign(
        region="guangdong",
        plugin="groupbuy",
        type="group-buy",
        code="GD-GROUP-GUJIAO",
        name="古窖拼单 Gujiao group buy",
        description="South: dealers buy Gujiao 52% together; three members bring it to "
        "999.00 a bottle, five to 949.00.",
        config={
            "sku": "YL-GJ-52-500",
            "tier_basis": "participants",
            "tiers": [{"at": 3, "unit_price": "999.00"}, {"at": 5, "unit_price": "949.00"}],
            "min_participants": 3,
            "min_quantity": 18,
            "min_per_member": 6,
            "max_per_member": 60,
            "group_minutes": 2 * 24 * 60,
        },
        lasts=timedelta(days=14),
    ),
    DemoCampaign(
        region="beijing",
        plugin="seckill",
        type="seckill",
        code="BJ-FLASH-KUNSHA",
        name="坤沙秒杀 Kunsha flash sale",
        description="North: 100 bottles of Kunsha 53% at 499.00, two per dealer.",
        config={"sku": "CS-KS-53-500", "price": "499.00", "quantity": 100, "per_dealer_limit": 2},
        lasts=timedelta(days=2),
    ),
    DemoCampaign(
        region="sichuan",
        plugin="auction",
        type="dutch-auction",
        code="SC-DUTCH-QINGMEI",
        name="青梅酒临期拍卖 Green plum near-expiry auction",
        description="West: 48 bottles of green plum liqueur close to their best-before date, "
        "from 118.00 down 6.00 an hour to 58.00, twelve per dealer at most.",
        config={
            "sku": "JZ-QM-15-500",
            "quantity": 48,
            "start_price": "118.00",
            "step": "6.00",
            "interval_seconds": 3600,
            "floor_price": "58.00",
            "max_per_dealer": 12,
        },
        lasts=timedelta(days=3),
    ),
)
"""One campaign of each promotion plugin, in four regions."""


@dataclass
class CampaignLaunch:
    """What :func:`launch_demo_campaigns` did."""

    created: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Why a campaign was left out: ``CODE: reason``."""


def launch_demo_campaigns(
    platform: Platform,
    regions: Sequence[DemoRegion],
    *,
    actor: Actor,
    campaigns: Sequence[DemoCampaign] = DEMO_CAMPAIGNS,
) -> CampaignLaunch:
    """Enable each campaign's plugin on its region and create and publish the campaign,
    live from now; a campaign that exists is left alone (a draft is published)."""
    launch = CampaignLaunch()
    seeded = {region.code for region in regions}
    for spec in campaigns:
        if spec.region not in seeded:
            continue
        if platform.plugins.get(spec.plugin) is None:
            launch.skipped.append(f"{spec.code}: plugin {spec.plugin!r} is not installed")
            continue
        try:
            created = _launch(platform, spec, actor)
        except VintryError as refused:
            launch.skipped.append(f"{spec.code}: {refused.message}")
            continue
        (launch.created if created else launch.present).append(spec.code)
    return launch


def _launch(platform: Platform, spec: DemoCampaign, actor: Actor) -> bool:
    set_enablement(
        platform,
        spec.plugin,
        spec.region,
        state=EnablementState.ON,
        actor=actor,
        actor_is_hq_admin=True,
    )
    site = platform.site(spec.region)
    with site.database.reading() as session:
        status = session.scalar(select(Campaign.status).where(Campaign.code == spec.code))
    if status is None:
        now = platform.clock.now()
        create_campaign(
            site,
            CampaignCreate(
                code=spec.code,
                type=spec.type,
                name=spec.name,
                description=spec.description,
                config=spec.config,
                starts_at=now,
                ends_at=now + spec.lasts,
            ),
            actor=actor,
        )
    if status in (None, CampaignStatus.DRAFT.value):
        transition_campaign(site, spec.code, CampaignTransition(to="scheduled"), actor=actor)
    return status is None
