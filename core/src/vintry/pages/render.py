"""A site's page for one dealer: which version serves now, and every block filled in.

Which version serves (:func:`serving`): among the versions not withdrawn whose window holds
*now*, one with an end (a festival layout) wins over the open-ended ones, and among equals
the one started last (then the higher number). With none, HQ's default template of the page
serves; with no default either, the page is empty. Published versions and templates never
change in place, so their parsed form is cached by id (and revision), and a render reads
one small row to know which one serves — in the same statement as the site's campaigns
version (:mod:`vintry.campaigns.published`), under which the site's campaigns are cached.

Rendering (:func:`render_layout`) takes every product block's SKUs from the layout's
shelves at the site (:func:`vintry.pages.products.page_shelves`, cached), reads the stock
of all of them in one query, lists the live campaigns targeted at the dealer once — only
if a block asks — and calls each block's ``render``. A block whose plugin is not enabled
on the site, whose configuration no longer validates, or whose ``render`` fails is left
out, never an error: the landing page must always answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from vintry.campaigns import published
from vintry.campaigns.schemas import ForYouItem
from vintry.campaigns.selection import campaigns_for_you
from vintry.clock import ensure_utc
from vintry.contracts import BlockRender, DealerView, PageProduct
from vintry.db.prepared import PreparedRead
from vintry.pages.layouts import ParsedLayout, parse
from vintry.pages.models import PageTemplate, PageVersion
from vintry.pages.products import page_shelves
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
    campaigns_version: int | None = None
    """The site's campaigns version read with it (``None``: not read)."""


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
_SERVING = select(_serving_query(PageVersion.id).scalar_subquery(), published.version_column())
_SERVING_READ = PreparedRead(_SERVING)


def serving_row(session: Session, page: str, now: datetime) -> PageVersion | None:
    """The version of *page* serving at *now* in the site database *session* reads."""
    return session.scalars(_SERVING_ROW, {"page": page, "now": now}).first()


def version_layout(site: SiteContext, session: Session, version_id: int) -> ParsedLayout:
    """Published version *version_id* of *site*, parsed (cached: versions never change)."""
    return _published_version(site, session, version_id).layout


def _published_version(site: SiteContext, session: Session, version_id: int) -> Serving:
    parsed = site.platform.cache("page_parsed", maxsize=PARSED_CACHE_SIZE)
    shown: Serving | None = parsed.get(("v", site.code, version_id), (0,))
    if shown is None:
        version = session.get(PageVersion, version_id)
        assert version is not None
        layout = parse(site.platform, version.title, version.sections)
        shown = Serving(source="site", version=version.number, template=None, layout=layout)
        parsed.put(("v", site.code, version_id), (0,), shown)
    return shown


def serving(site: SiteContext, page: str, now: datetime) -> Serving:
    """What *page* of *site* shows at *now*, with the site's campaigns version (one site
    read; two when HQ's default serves)."""
    found = _SERVING_READ.first(site.database.engine, {"page": page, "now": now})
    assert found is not None  # a SELECT of two scalar subqueries: always one row
    version_id, campaigns = found
    campaigns_version = published.as_version(campaigns)
    if version_id is not None:
        # Parsed versions are kept: a session opens only the first time a version serves.
        with site.database.reading_on_demand() as session:
            shown = _published_version(site, session, version_id)
        return replace(shown, campaigns_version=campaigns_version)
    return replace(default_template(site, page), campaigns_version=campaigns_version)


def default_template(site: SiteContext, page: str) -> Serving:
    """HQ's default template of *page*, or an empty page when HQ has none."""
    platform = site.platform
    root = site.path[0]  # its node names its database: no second look at the site tree
    with platform.databases.site(root.code, root.database_url).reading() as session:
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
    campaigns_version: int | None = None,
) -> list[dict[str, Any]]:
    """The sections of *layout* with every usable block's data, as JSON values;
    *campaigns_version* is the site's, when the caller read it with the serving version."""
    usable = [
        (section, block)
        for section in layout.sections
        for block in section.blocks
        if block.block_type is not None
        and block.config is not None
        and block.plugin is not None
        and site.is_enabled(block.plugin)
    ]
    products: dict[str, PageProduct] = {}
    shelves = page_shelves(hq, site, directory, layout.key, layout.selections, now)
    if shelves.codes:
        products = shelves.stocked(hq, site, directory, (b.key for _s, b in usable), now)

    live: Callable[[], Sequence[ForYouItem]] = (
        tuple
        if dealer is None
        else cache(lambda: campaigns_for_you(site, dealer, now, version=campaigns_version))
    )

    sections: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for section, block in usable:
        assert block.block_type is not None
        codes = shelves.codes.get(block.key, ())
        request = BlockRender(
            key=block.key,
            config=block.config,
            site=site,
            dealer=dealer,
            now=now,
            products=tuple(products[c] for c in codes if c in products),
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
