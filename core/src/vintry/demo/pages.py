"""The demo's home pages: HQ's default, and regions that designed their own.

Made through the kernel's page service exactly as an operator's ``POST /api/v1/layouts`` and
``…/publish`` would (checked, versioned, audited):

* **HQ** — a default template every mall without a page of its own shows: a banner, the
  region's best sellers, new arrivals and the campaigns for the dealer;
* **east** (Shanghai) — its spend-3,000 gift offer up front, then a premium grid;
* **south** (Guangdong) — its group buy, then the region's best sellers;
* **north** (Beijing) — its flash-sale countdown and the strong-aroma range;
* **Zhejiang** — a regular page and a Spring Festival layout scheduled to take over in two
  days for a week: the zodiac editions, tagged ``festival`` in the catalog for it.

A page whose block needs a plugin not installed or not enabled in its region leaves that
block out. Idempotent: layouts found by code are left as they are, and a layout already
published is not published again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from vintry.accounts.principal import Actor
from vintry.catalog import service as catalog
from vintry.catalog.models import Product
from vintry.catalog.schemas import ProductUpdate
from vintry.pages import service as pages
from vintry.pages.layouts import inspect
from vintry.pages.models import PageLayout, PageTemplate, PageVersion
from vintry.pages.products import site_catalog
from vintry.pages.schemas import LayoutCreate, PublishRequest, SectionIn, TemplateCreate
from vintry.platform import Platform, SiteContext

__all__ = ["DEMO_PAGES", "DemoPage", "PageLaunch", "publish_demo_pages"]

FESTIVAL_TAG = "festival"
FESTIVAL_PRODUCTS = ("CS-ZODIAC",)
FESTIVAL_STARTS_IN = timedelta(days=2)
FESTIVAL_LASTS = timedelta(days=7)


def _banner(title: str, image: str, link: str) -> dict[str, Any]:
    return {"type": "banner", "config": {"image_url": image, "title": title, "link": link}}


def _grid(title: str, selection: dict[str, Any], limit: int = 8) -> dict[str, Any]:
    return {
        "type": "product-grid",
        "config": {"title": title, "selection": selection, "limit": limit},
    }


FOR_YOU = {"key": "for-you", "type": "campaigns-for-you", "config": {"title": "为您推荐 For you"}}
BEST_SELLERS = _grid("本区热销 Best sellers here", {"by": "best_sellers", "days": 30})


@dataclass(frozen=True)
class DemoPage:
    """A layout of a region (``region`` None: HQ's default template), published from now
    or, with ``starts_in``, scheduled for ``lasts``."""

    code: str
    title: str
    region: str | None
    sections: tuple[dict[str, Any], ...]
    starts_in: timedelta | None = None
    lasts: timedelta | None = None


DEMO_PAGES: tuple[DemoPage, ...] = (
    DemoPage(
        code="hq-home",
        title="Vintry 经销商商城 Dealer mall",
        region=None,
        sections=(
            {
                "key": "welcome",
                "blocks": [
                    _banner("品质之选 Chosen for quality", "/static/hq/hero.jpg", "/catalog"),
                    {"type": "notice", "config": {"text": "订单48小时内发货 Orders ship in 48h"}},
                ],
            },
            {"key": "picks", "blocks": [BEST_SELLERS, FOR_YOU]},
            {"key": "new", "blocks": [_grid("新品 New arrivals", {"by": "new_arrivals"}, 6)]},
        ),
    ),
    DemoPage(
        code="sh-home",
        title="上海商城 Shanghai mall",
        region="shanghai",
        sections=(
            {
                "key": "offer",
                "blocks": [
                    _banner(
                        "满3000赠品鉴杯 Spend 3,000, get tasting glasses",
                        "/static/shanghai/glasses.jpg",
                        "/api/v1/cart",
                    ),
                    {"type": "spend-offers", "config": {"title": "满额礼 Spend & receive"}},
                ],
            },
            {
                "key": "premium",
                "blocks": [
                    _grid(
                        "臻选 Premium",
                        {
                            "by": "skus",
                            "skus": [
                                "CS-FY-53-1500",
                                "CS-R15-53-1000",
                                "CS-R15-53-500",
                                "FY-CD30-53-1500",
                                "YL-GJ-52-1500",
                                "CS-FY-53-500",
                            ],
                        },
                    ),
                    FOR_YOU,
                ],
            },
        ),
    ),
    DemoPage(
        code="gd-home",
        title="广东商城 Guangdong mall",
        region="guangdong",
        sections=(
            {
                "key": "group",
                "blocks": [
                    _banner("一起拼更便宜 Buy together, pay less", "/static/gd/group.jpg", "/"),
                    {"type": "open-group-buys", "config": {"title": "拼单 Group buys"}},
                ],
            },
            {"key": "best", "blocks": [BEST_SELLERS, FOR_YOU]},
        ),
    ),
    DemoPage(
        code="bj-home",
        title="北京商城 Beijing mall",
        region="beijing",
        sections=(
            {
                "key": "flash",
                "blocks": [{"type": "seckill-countdown", "config": {"title": "秒杀 Flash sale"}}],
            },
            {
                "key": "range",
                "blocks": [
                    {
                        "type": "product-carousel",
                        "config": {
                            "title": "浓香型 Strong aroma",
                            "selection": {"by": "category", "category": "STRONG-AROMA"},
                        },
                    },
                    FOR_YOU,
                ],
            },
        ),
    ),
    DemoPage(
        code="zj-home",
        title="浙江商城 Zhejiang mall",
        region="zhejiang",
        sections=(
            {"key": "picks", "blocks": [BEST_SELLERS, FOR_YOU]},
            {"key": "new", "blocks": [_grid("新品 New arrivals", {"by": "new_arrivals"})]},
        ),
    ),
    DemoPage(
        code="zj-spring",
        title="浙江商城 · 新春 Spring Festival",
        region="zhejiang",
        starts_in=FESTIVAL_STARTS_IN,
        lasts=FESTIVAL_LASTS,
        sections=(
            {
                "key": "festival",
                "blocks": [
                    _banner("新春佳酿 Spring Festival editions", "/static/zj/spring.jpg", "/"),
                    _grid("生肖纪念 Zodiac editions", {"by": "tag", "tag": FESTIVAL_TAG}),
                    {
                        "type": "notice",
                        "config": {
                            "text": "春节期间照常发货 We ship through the festival",
                            "level": "festive",
                        },
                    },
                ],
            },
            {"key": "picks", "blocks": [BEST_SELLERS, FOR_YOU]},
        ),
    ),
)


@dataclass
class PageLaunch:
    """What publishing the demo pages did."""

    created: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Pages or blocks left out, and why."""


def publish_demo_pages(platform: Platform, regions: set[str], *, actor: Actor) -> PageLaunch:
    """HQ's default template and the regions' pages (of the seeded *regions*)."""
    launch = PageLaunch()
    _tag_festival_products(platform, actor)
    for spec in DEMO_PAGES:
        if spec.region is not None and spec.region not in regions:
            launch.skipped.append(f"{spec.code}: region {spec.region} is not seeded")
            continue
        if spec.region is None:
            _template(platform, spec, actor, launch)
        else:
            _layout(platform.site(spec.region), spec, actor, launch)
    return launch


def _tag_festival_products(platform: Platform, actor: Actor) -> None:
    with platform.hq.reading() as session:
        products = list(session.scalars(select(Product).where(Product.code.in_(FESTIVAL_PRODUCTS))))
    for product in products:
        if FESTIVAL_TAG not in (product.tags or []):
            tags = [*(product.tags or []), FESTIVAL_TAG]
            catalog.update_product(platform, product.code, ProductUpdate(tags=tags), actor=actor)


def _usable(
    platform: Platform, site: SiteContext | None, spec: DemoPage, launch: PageLaunch
) -> list[SectionIn]:
    """The spec's sections without the blocks that do not hold where they go (a plugin not
    installed or not enabled there), each left-out block said in *launch*."""
    sections = [SectionIn.model_validate(section) for section in _keyed(spec.sections)]
    with platform.hq.reading() as hq:
        offered = site_catalog(hq, site or platform.root_site(), platform.directory())
    _, problems = inspect(platform, sections, offered, site=site)
    dropped = {p.block for p in problems if p.block is not None}
    launch.skipped.extend(f"{spec.code}: {p.field}: {p.message}" for p in problems)
    return [
        section.model_copy(update={"blocks": [b for b in section.blocks if b.key not in dropped]})
        for section in sections
    ]


def _keyed(sections: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """The spec's sections with every block keyed (as saving would key them), so problems
    found by key name the blocks to leave out."""
    keyed = []
    for s_index, section in enumerate(sections):
        s_key = section.get("key") or f"s{s_index + 1}"
        blocks = [
            {**block, "key": block.get("key") or f"{s_key}-b{b_index + 1}"}
            for b_index, block in enumerate(section.get("blocks", ()))
        ]
        keyed.append({**section, "key": s_key, "blocks": blocks})
    return keyed


def _template(platform: Platform, spec: DemoPage, actor: Actor, launch: PageLaunch) -> None:
    with platform.root_site().database.reading() as session:
        found = session.scalar(select(PageTemplate.id).where(PageTemplate.code == spec.code))
    if found is not None:
        launch.present.append(spec.code)
        return
    sections = _usable(platform, None, spec, launch)
    pages.create_template(
        platform,
        TemplateCreate(code=spec.code, title=spec.title, sections=sections, is_default=True),
        actor=actor,
    )
    launch.created.append(spec.code)


def _layout(site: SiteContext, spec: DemoPage, actor: Actor, launch: PageLaunch) -> None:
    with site.database.reading() as session:
        layout = session.scalar(select(PageLayout.id).where(PageLayout.code == spec.code))
        published = session.scalar(select(PageVersion.id).where(PageVersion.layout == spec.code))
    if layout is None:
        sections = _usable(site.platform, site, spec, launch)
        pages.create_layout(
            site, LayoutCreate(code=spec.code, title=spec.title, sections=sections), actor=actor
        )
    if published is not None:
        launch.present.append(spec.code)
        return
    window = PublishRequest()
    if spec.starts_in is not None:
        starts = site.platform.clock.now() + spec.starts_in
        window = PublishRequest(
            starts_at=starts, ends_at=None if spec.lasts is None else starts + spec.lasts
        )
    pages.publish(site, spec.code, window, actor=actor)
    launch.created.append(spec.code)
