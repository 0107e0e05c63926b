"""Built-in plugin ``vintry-pages``: the kernel's own kinds of page block.

Banner, notice, product grid, product carousel and "campaigns for you" — what every mall's
home page is made of. Promotion plugins add theirs through the same hook
(``vintry_register_page_blocks``), so the kernel's blocks have no privilege a plugin's lack.
Product blocks only *name* their products (:class:`~vintry.contracts.ProductSelection`);
the renderer resolves every block's selection of a page together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from vintry.catalog.schemas import CatalogCode, Tag
from vintry.contracts import (
    BlockReference,
    BlockRender,
    BlockType,
    PageBlockRegistration,
    PageProduct,
    ProductSelection,
)
from vintry.hookspecs import hookimpl

PLUGIN = "vintry-pages"
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Link = Annotated[
    str, StringConstraints(min_length=1, max_length=500, pattern=r"^(https?://|/)\S*$")
]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BannerConfig(_Config):
    """A picture with a title, leading somewhere."""

    image_url: Link
    title: Text
    subtitle: Text | None = None
    link: Link | None = None


class NoticeConfig(_Config):
    """A line of text across the page (delivery times, holiday hours)."""

    text: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    level: Literal["info", "warning", "festive"] = "info"


class BySkus(_Config):
    by: Literal["skus"]
    skus: list[CatalogCode] = Field(min_length=1, max_length=48)


class ByCategory(_Config):
    by: Literal["category"]
    category: CatalogCode


class BestSellers(_Config):
    by: Literal["best_sellers"]
    days: int = Field(default=30, ge=1, le=365)


class NewArrivals(_Config):
    by: Literal["new_arrivals"]


class ByTag(_Config):
    by: Literal["tag"]
    tag: Tag


Selection = Annotated[
    BySkus | ByCategory | BestSellers | NewArrivals | ByTag, Field(discriminator="by")
]


class ProductGridConfig(_Config):
    """Products in rows: chosen by hand, by category, or by a rule — the region's best
    sellers over the last N days, new arrivals, or a tag such as a festival collection."""

    title: Text | None = None
    selection: Selection
    limit: int = Field(default=12, ge=1, le=48)
    columns: int = Field(default=4, ge=1, le=6)
    hide_sold_out: bool = False


class ProductCarouselConfig(_Config):
    """Products in a scrolling strip, selected like a grid's."""

    title: Text | None = None
    selection: Selection
    limit: int = Field(default=12, ge=1, le=48)
    autoplay_seconds: int | None = Field(default=None, ge=2, le=60)
    hide_sold_out: bool = False


class CampaignsForYouConfig(_Config):
    """The live campaigns targeted at the dealer looking, highest priority first."""

    title: Text | None = "For you"
    limit: int = Field(default=6, ge=1, le=20)
    types: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list, description="Only campaigns of these types (all when empty)."
    )


ProductConfig = ProductGridConfig | ProductCarouselConfig


def product_selection(config: ProductConfig) -> ProductSelection:
    """The kernel's form of a product block's selection."""
    chosen = config.selection
    if isinstance(chosen, BySkus):
        return ProductSelection(skus=tuple(chosen.skus), limit=config.limit)
    if isinstance(chosen, ByCategory):
        return ProductSelection(category=chosen.category, limit=config.limit)
    if isinstance(chosen, BestSellers):
        return ProductSelection(rule="best_sellers", days=chosen.days, limit=config.limit)
    if isinstance(chosen, ByTag):
        return ProductSelection(rule="tagged", tag=chosen.tag, limit=config.limit)
    return ProductSelection(rule="new_arrivals", limit=config.limit)


def product_references(config: ProductConfig) -> Sequence[BlockReference]:
    """The SKUs and category a product block names (checked on save, reported if stale)."""
    chosen = config.selection
    if isinstance(chosen, BySkus):
        return [
            BlockReference(kind="sku", code=code, field=f"selection.skus.{index}")
            for index, code in enumerate(chosen.skus)
        ]
    if isinstance(chosen, ByCategory):
        return [BlockReference(kind="category", code=chosen.category, field="selection.category")]
    return []


class JsonOf:
    """The JSON values of objects that never change once made and that the render's caches
    hand out again and again — a parsed block's configuration, a shelf's product at one
    stock level, a listed campaign — worked out once per object.

    Entries are keyed by the object's identity and hold the object, so an identity is never
    reused while its entry lives; the map is emptied when it grows past *maxsize*. The
    values are shared between responses: they are encoded, never changed.
    """

    def __init__(self, make: Callable[[Any], Any], maxsize: int = 16_384) -> None:
        self._make = make
        self._maxsize = maxsize
        self._entries: dict[int, tuple[Any, Any]] = {}

    def __call__(self, value: Any) -> Any:
        entry = self._entries.get(id(value))
        if entry is not None and entry[0] is value:
            return entry[1]
        made = self._make(value)
        if len(self._entries) >= self._maxsize:
            self._entries.clear()
        self._entries[id(value)] = (value, made)
        return made


def _model_json(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


model_json = JsonOf(_model_json)
"""A configuration or a listed campaign as JSON values (kept per object: see :class:`JsonOf`)."""


def product_json(product: PageProduct) -> dict[str, Any]:
    """A product as a block's data carries it (money as decimal strings, like the API)."""
    return _product_json(product)  # type: ignore[no-any-return]


def _make_product_json(product: PageProduct) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "name": product.name,
        "product": product.product,
        "brand": product.brand,
        "category": product.category,
        "price": str(product.price),
        "base_price": str(product.base_price),
        "available": product.available,
        "sold_out": product.available <= 0,
    }


_product_json = JsonOf(_make_product_json)


def _products(block: BlockRender) -> list[dict[str, Any]]:
    hide = bool(getattr(block.config, "hide_sold_out", False))
    return [product_json(p) for p in block.products if not (hide and p.available <= 0)]


def render_grid(block: BlockRender) -> Mapping[str, Any] | None:
    products = _products(block)
    if not products:
        return None
    return {"title": block.config.title, "columns": block.config.columns, "products": products}


def render_carousel(block: BlockRender) -> Mapping[str, Any] | None:
    products = _products(block)
    if not products:
        return None
    return {
        "title": block.config.title,
        "autoplay_seconds": block.config.autoplay_seconds,
        "products": products,
    }


def render_banner(block: BlockRender) -> Mapping[str, Any]:
    return model_json(block.config)  # type: ignore[no-any-return]


def render_notice(block: BlockRender) -> Mapping[str, Any]:
    return model_json(block.config)  # type: ignore[no-any-return]


def render_campaigns(block: BlockRender) -> Mapping[str, Any] | None:
    config: CampaignsForYouConfig = block.config
    campaigns = block.campaigns(*config.types)[: config.limit]
    if not campaigns:
        return None
    return {
        "title": config.title,
        "campaigns": [model_json(c) for c in campaigns],
    }


class CampaignListConfig(_Config):
    """A list of the live campaigns of one plugin's kinds targeted at the dealer looking."""

    title: Text | None = None
    limit: int = Field(default=4, ge=1, le=20)


def campaign_block(
    *,
    name: str,
    title: str,
    types: Sequence[str],
    link: str,
    description: str = "",
) -> BlockType:
    """A block type listing the live campaigns of *types* targeted at the dealer looking —
    what a promotion plugin's home-page block (a seckill countdown, live auctions, open
    group buys, spend-X offers) is made of. Each campaign carries the seconds left until it
    ends (for a countdown) and *link*, formatted with the campaign's ``code``, to the
    plugin's own route. It reads nothing itself: the page's one read of live campaigns
    serves every such block, and the block is left out when none is live.
    """

    def render(block: BlockRender) -> Mapping[str, Any] | None:
        config: CampaignListConfig = block.config
        campaigns = block.campaigns(*types)[: config.limit]
        if not campaigns:
            return None
        return {
            "title": config.title or title,
            "campaigns": [
                {
                    **model_json(campaign),
                    "ends_in_seconds": max(int((campaign.ends_at - block.now).total_seconds()), 0),
                    "link": link.format(code=campaign.code),
                }
                for campaign in campaigns
            ],
        }

    return BlockType(
        name=name,
        title=title,
        description=description,
        config_model=CampaignListConfig,
        render=render,
        pure=True,
    )


BLOCK_TYPES = (
    BlockType(
        name="banner",
        title="Banner",
        description="An image with a title and a link.",
        config_model=BannerConfig,
        render=render_banner,
        pure=True,
    ),
    BlockType(
        name="notice",
        title="Notice",
        description="A line of text across the page.",
        config_model=NoticeConfig,
        render=render_notice,
        pure=True,
    ),
    BlockType(
        name="product-grid",
        title="Product grid",
        description="Products by hand, by category, best sellers here, new arrivals or a tag.",
        config_model=ProductGridConfig,
        render=render_grid,
        products=product_selection,
        references=product_references,
        pure=True,
    ),
    BlockType(
        name="product-carousel",
        title="Product carousel",
        description="A scrolling strip of products, selected like a grid's.",
        config_model=ProductCarouselConfig,
        render=render_carousel,
        products=product_selection,
        references=product_references,
        pure=True,
    ),
    BlockType(
        name="campaigns-for-you",
        title="Campaigns for you",
        description="The live campaigns targeted at the dealer looking.",
        config_model=CampaignsForYouConfig,
        render=render_campaigns,
        pure=True,
    ),
)


@hookimpl
def vintry_register_page_blocks(register: PageBlockRegistration) -> None:
    for block_type in BLOCK_TYPES:
        register(block_type)
