"""A site's page for one dealer: which version serves now, and every block filled in.

Which version serves (:func:`serving`): among the versions not withdrawn whose window holds
*now*, one with an end (a festival layout) wins over the open-ended ones, and among equals
the one started last (then the higher number). With none, HQ's default template of the page
serves; with no default either, the page is empty. Published versions and templates never
change in place, so their parsed form is cached by id (and revision), and a render reads
one small row to know which one serves.

Rendering (:func:`render`) asks every block type what products it shows, resolves all of
them together (:mod:`vintry.pages.products`: one stock query for the page), reads the live
campaigns targeted at the dealer once — only if a block asks — and calls each block's
``render``. A block whose plugin is not enabled on the site, whose configuration no longer
validates, or whose ``render`` fails is left out, never an error: the landing page must
always answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from vintry.campaigns.schemas import ForYouItem
from vintry.campaigns.selection import campaigns_for_you
from vintry.clock import ensure_utc
from vintry.contracts import BlockRender, DealerView, PageProduct, ProductSelection
from vintry.pages.layouts import ParsedLayout, parse
from vintry.pages.models import PageTemplate, PageVersion
from vintry.pages.products import best_sellers, page_products, select_codes, site_catalog
from vintry.platform import SiteContext
from vintry.sites.directory import SiteDirectory

log = logging.getLogger("vintry.pages")

PARSED_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Serving:
    """What a page shows: a site's published version, HQ's default template, or nothing."""

    source: str
    version: int | None
    template: str | None
    layout: ParsedLayout


EMPTY = ParsedLayout(title=None, sections=())


def _serving_query(*entities: Any) -> Any:
    """Which version of a page serves at a time, built once (page and time are bound)."""
    now: Any = bindparam("now")
    return (
        select(*entities)
        .where(
            PageVersion.page == bindparam("page"),
            PageVersion.withdrawn_at.is_(None),
            PageVersion.starts_at <= now,
            (PageVersion.ends_at.is_(None)) | (PageVersion.ends_at > now),
        )
        .order_by(
            PageVersion.ends_at.is_(None),
            PageVersion.starts_at.desc(),
            PageVersion.number.desc(),
        )
        .limit(1)
    )


_SERVING_ROW = _serving_query(PageVersion)
_SERVING_IDS = _serving_query(PageVersion.id, PageVersion.number)


def serving_row(session: Session, page: str, now: datetime) -> PageVersion | None:
    """The version of *page* serving at *now* in the site database *session* reads."""
    return session.scalars(_SERVING_ROW, {"page": page, "now": now}).first()


def version_layout(site: SiteContext, session: Session, version_id: int) -> ParsedLayout:
    """Published version *version_id* of *site*, parsed (cached: versions never change)."""
    parsed = site.platform.cache("page_parsed", maxsize=PARSED_CACHE_SIZE)
    layout = parsed.get(("v", site.code, version_id), (0,))
    if layout is None:
        version = session.get(PageVersion, version_id)
        assert version is not None
        layout = parse(site.platform, version.title, version.sections)
        parsed.put(("v", site.code, version_id), (0,), layout)
    return layout


def serving(site: SiteContext, page: str, now: datetime) -> Serving:
    """What *page* of *site* shows at *now* (one site read; two when HQ's default serves)."""
    with site.database.reading() as session:
        row = session.execute(_SERVING_IDS, {"page": page, "now": now}).first()
        if row is not None:
            version_id, number = row
            layout = version_layout(site, session, version_id)
            return Serving(source="site", version=number, template=None, layout=layout)
    return default_template(site, page)


def default_template(site: SiteContext, page: str) -> Serving:
    """HQ's default template of *page*, or an empty page when HQ has none."""
    platform = site.platform
    root = platform.site(site.path[0].code)
    with root.database.reading() as session:
        row = session.execute(
            select(PageTemplate.id, PageTemplate.revision, PageTemplate.code).where(
                PageTemplate.page == page, PageTemplate.is_default.is_(True)
            )
        ).first()
        if row is None:
            return Serving(source="none", version=None, template=None, layout=EMPTY)
        template_id, revision, code = row
        parsed = platform.cache("page_parsed", maxsize=PARSED_CACHE_SIZE)
        layout = parsed.get(("t", template_id), (revision,))
        if layout is None:
            template = session.get(PageTemplate, template_id)
            assert template is not None
            layout = parse(platform, template.title, template.sections)
            parsed.put(("t", template_id), (template.revision,), layout)
    return Serving(source="hq_default", version=None, template=code, layout=layout)


def render_layout(
    site: SiteContext,
    directory: SiteDirectory,
    hq: Session,
    layout: ParsedLayout,
    *,
    dealer: DealerView | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """The sections of *layout* with every usable block's data, as JSON values."""
    usable = [
        (section, block)
        for section in layout.sections
        for block in section.blocks
        if block.block_type is not None
        and block.config is not None
        and block.plugin is not None
        and site.is_enabled(block.plugin)
    ]
    selections: dict[str, ProductSelection] = {}
    for _section, block in usable:
        assert block.block_type is not None
        if block.block_type.products is None:
            continue
        try:
            selection = block.block_type.products(block.config)
        except Exception:
            log.exception("products() of block %s (%s) failed", block.key, block.type)
            continue
        if selection is not None:
            selections[block.key] = selection
    chosen: dict[str, list[str]] = {}
    products: dict[str, PageProduct] = {}
    if selections:
        catalog = site_catalog(hq, site, directory)
        for key, selection in selections.items():
            best: Sequence[str] = ()
            if selection.rule == "best_sellers":
                best = best_sellers(hq, site, directory, selection.days, now)
            chosen[key] = select_codes(selection, catalog, best)
        wanted = {code for codes in chosen.values() for code in codes}
        if wanted:
            products = page_products(hq, site, directory, wanted, now)

    live: Callable[[], Sequence[ForYouItem]] = (
        tuple if dealer is None else cache(lambda: campaigns_for_you(site, dealer, now))
    )

    sections: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for section, block in usable:
        assert block.block_type is not None
        request = BlockRender(
            key=block.key,
            config=block.config,
            site=site,
            dealer=dealer,
            now=now,
            products=tuple(products[c] for c in chosen.get(block.key, ()) if c in products),
            live_campaigns=live,
        )
        try:
            data = block.block_type.render(request)
        except Exception:
            log.exception(
                "render() of block %s (%s) failed at %s", block.key, block.type, site.code
            )
            continue
        if data is None:
            continue
        if current is None or current["key"] != section.key:
            current = {"key": section.key, "title": section.title, "blocks": []}
            sections.append(current)
        current["blocks"].append({"key": block.key, "type": block.type, "data": dict(data)})
    return sections


def rendered_at(now: datetime) -> str:
    return ensure_utc(now).isoformat()
