"""What each site offers: the root offers every active SKU, every site below only hides.

Resolution is :class:`~vintry.sites.inheritance.NarrowingRule` over the hides set on the
path root → site: a SKU hidden by a region is hidden in all its stores, and a store cannot
bring it back (removing its own hide changes nothing while an ancestor's stands). Adding a
SKU to the assortment is HQ's: create or activate it in the library.

Listings page through thousands of SKUs, so they push the same rule into SQL
(:func:`offered_condition`: active, and no hide on the path); a test holds the two equal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.orm import Session

from vintry.accounts.principal import Actor
from vintry.audit.service import record_change
from vintry.catalog.lookup import find_sku
from vintry.catalog.models import AssortmentHide, Sku
from vintry.catalog.schemas import AssortmentOut
from vintry.events.outbox import EventType, record_event
from vintry.platform import Platform
from vintry.sites.directory import SiteDirectory
from vintry.sites.inheritance import Layer, Narrowing, NarrowingRule, Resolved, resolve

SkuState = tuple[str, bool]
"""A SKU's code and whether it is active, keyed by its id where these are passed."""


def offered_at(
    session: Session, directory: SiteDirectory, site_code: str, skus: Mapping[int, SkuState]
) -> Resolved[frozenset[str]]:
    """Which of *skus* site *site_code* offers (by code), in one query for all of them.

    ``decided_by`` maps each SKU code to the root for an offered SKU, or to the site
    nearest the root that hides it; an inactive SKU is in neither.
    """
    path = directory.path(site_code)
    hidden: dict[int, set[str]] = defaultdict(set)
    if skus:
        rows = session.execute(
            select(AssortmentHide.site_id, AssortmentHide.sku_id).where(
                AssortmentHide.site_id.in_([node.id for node in path]),
                AssortmentHide.sku_id.in_(list(skus)),
            )
        )
        for site_id, sku_id in rows:
            hidden[site_id].add(skus[sku_id][0])
    root, *below = path
    chain = [
        Layer(
            root.code,
            Narrowing(
                include=frozenset(code for code, active in skus.values() if active),
                hide=frozenset(hidden.get(root.id, ())),
            ),
        ),
        *(
            Layer(
                node.code, Narrowing(hide=frozenset(hidden[node.id])) if node.id in hidden else None
            )
            for node in below
        ),
    ]
    return resolve(NarrowingRule(), chain)


def offered_condition(directory: SiteDirectory, site_code: str) -> ColumnElement[bool]:
    """The SQL form of :func:`offered_at` for listings: active, and hidden nowhere on the path."""
    path_ids = [node.id for node in directory.path(site_code)]
    hidden = exists().where(AssortmentHide.sku_id == Sku.id, AssortmentHide.site_id.in_(path_ids))
    return and_(Sku.active.is_(True), ~hidden)


def assortment_out(
    session: Session, directory: SiteDirectory, site_code: str, sku: Sku
) -> AssortmentOut:
    """Whether site *site_code* offers *sku*, and who hid it if not."""
    resolved = offered_at(session, directory, site_code, {sku.id: (sku.code, sku.active)})
    site_id = directory.get(site_code).id
    hidden_here = session.get(AssortmentHide, (site_id, sku.id)) is not None
    offered = sku.code in resolved.value
    return AssortmentOut(
        site=site_code,
        sku=sku.code,
        active=sku.active,
        offered=offered,
        hidden_here=hidden_here,
        hidden_by=None if offered else resolved.decided_by.get(sku.code),
    )


def hide_sku(platform: Platform, site_code: str, sku_code: str, *, actor: Actor) -> AssortmentOut:
    """Hide a SKU at site *site_code* and its whole subtree (audited; idempotent).

    A change writes an ``assortment.changed`` event of the site; a repeat writes nothing.
    """
    return _set_hidden(platform, site_code, sku_code, hidden=True, actor=actor)


def unhide_sku(platform: Platform, site_code: str, sku_code: str, *, actor: Actor) -> AssortmentOut:
    """Remove the site's own hide of a SKU (audited; idempotent).

    The SKU comes back only if no ancestor hides it too: the answer says who still does.
    """
    return _set_hidden(platform, site_code, sku_code, hidden=False, actor=actor)


def _set_hidden(
    platform: Platform, site_code: str, sku_code: str, *, hidden: bool, actor: Actor
) -> AssortmentOut:
    directory = platform.directory()
    site = directory.get(site_code)
    with platform.hq.transaction() as session:
        sku = find_sku(session, sku_code)
        row = session.get(AssortmentHide, (site.id, sku.id))
        if (row is not None) != hidden:
            now = platform.clock.now()
            if hidden:
                session.add(AssortmentHide(site_id=site.id, sku_id=sku.id, updated_at=now))
            else:
                session.delete(row)
            session.flush()
            record_change(
                session,
                at=now,
                site_id=site.id,
                actor=actor,
                action="assortment.hide" if hidden else "assortment.unhide",
                object_type="assortment",
                object_id=sku.code,
                before={"hidden": not hidden},
                after={"hidden": hidden},
            )
            record_event(
                session,
                type=EventType.ASSORTMENT_CHANGED,
                site=site_code,
                payload={"sku": sku.code},
                now=now,
            )
        return assortment_out(session, directory, site_code, sku)
