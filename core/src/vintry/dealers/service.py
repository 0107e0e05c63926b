"""Dealer companies: create, change, list. No HTTP here."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vintry.accounts.principal import Actor
from vintry.audit.service import record_change
from vintry.dealers.models import Dealer, DealerTier
from vintry.dealers.schemas import DealerCreate, DealerOut, DealerUpdate
from vintry.errors import Conflict, NotFound
from vintry.events.outbox import EventType, record_event
from vintry.platform import Platform
from vintry.sites.directory import SiteDirectory


def create_dealer(
    platform: Platform, site_code: str, request: DealerCreate, *, actor: Actor
) -> DealerOut:
    """Create a dealer of site *site_code* (audited)."""
    directory = platform.directory()
    site = directory.get(site_code)
    with platform.hq.transaction() as session:
        dealer = Dealer(
            code=request.code,
            name=request.name,
            site_id=site.id,
            tier=request.tier,
            tags=sorted(set(request.tags)),
            city=request.city,
            contact_name=request.contact_name,
            phone=request.phone,
            active=True,
            created_at=platform.clock.now(),
        )
        session.add(dealer)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(
                f"dealer {request.code!r} exists", code="dealer_exists", field="code"
            ) from None
        out = dealer_out(directory, dealer)
        record_change(
            session,
            at=dealer.created_at,
            site_id=site.id,
            actor=actor,
            action="dealer.create",
            object_type="dealer",
            object_id=dealer.code,
            before=None,
            after=out.model_dump(mode="json", exclude={"created_at"}),
        )
        record_event(
            session,
            type=EventType.DEALER_CHANGED,
            site=site_code,
            payload={"dealer": dealer.code},
            now=dealer.created_at,
        )
    platform.emit("dealer.created", site_code, {"dealer": out.code, "tier": out.tier.value})
    return out


def update_dealer(
    platform: Platform, site_code: str, dealer_code: str, request: DealerUpdate, *, actor: Actor
) -> DealerOut:
    """Change a dealer of site *site_code* (audited when anything changed)."""
    directory = platform.directory()
    with platform.hq.transaction() as session:
        dealer = get_dealer(session, directory, site_code, dealer_code)
        before = dealer_out(directory, dealer).model_dump(mode="json", exclude={"created_at"})
        for name, value in request.model_dump(exclude_unset=True).items():
            if value is None and name in {"name", "tier", "tags", "active"}:
                continue
            setattr(dealer, name, sorted(set(value)) if name == "tags" else value)
        out = dealer_out(directory, dealer)
        after = out.model_dump(mode="json", exclude={"created_at"})
        if after != before:
            now = platform.clock.now()
            record_change(
                session,
                at=now,
                site_id=dealer.site_id,
                actor=actor,
                action="dealer.update",
                object_type="dealer",
                object_id=dealer.code,
                before=before,
                after=after,
            )
            record_event(
                session,
                type=EventType.DEALER_CHANGED,
                site=out.site,
                payload={"dealer": dealer.code},
                now=now,
            )
        return out


def get_dealer(
    session: Session, directory: SiteDirectory, site_code: str, dealer_code: str
) -> Dealer:
    """Dealer *dealer_code* of site *site_code*; NotFound if it belongs elsewhere."""
    site = directory.get(site_code)
    dealer = session.scalar(
        select(Dealer).where(Dealer.code == dealer_code, Dealer.site_id == site.id)
    )
    if dealer is None:
        raise NotFound(
            f"dealer {dealer_code!r} does not exist at site {site_code!r}",
            code="dealer_not_found",
            field="dealer",
        )
    return dealer


def list_dealers(
    session: Session,
    directory: SiteDirectory,
    site_code: str,
    *,
    tier: DealerTier | None = None,
    tag: str | None = None,
    only_id: int | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[DealerOut]:
    """Dealers of a site by code, a page at a time (``after`` the last code seen);
    optionally one tier, one tag, or one dealer."""
    site = directory.get(site_code)
    query = select(Dealer).where(Dealer.site_id == site.id)
    if tier is not None:
        query = query.where(Dealer.tier == tier)
    if only_id is not None:
        query = query.where(Dealer.id == only_id)
    if after is not None:
        query = query.where(Dealer.code > after)
    dealers: list[DealerOut] = []
    # Tags live in a JSON list, filtered here; keep reading until the page is full.
    for dealer in session.scalars(query.order_by(Dealer.code)):
        if tag is not None and tag not in dealer.tags:
            continue
        dealers.append(dealer_out(directory, dealer))
        if limit is not None and len(dealers) >= limit:
            break
    return dealers


def dealer_out(directory: SiteDirectory, dealer: Dealer) -> DealerOut:
    """The API view of *dealer*."""
    return DealerOut(
        code=dealer.code,
        name=dealer.name,
        site=directory.by_id(dealer.site_id).code,
        tier=dealer.tier,
        tags=list(dealer.tags),
        city=dealer.city,
        contact_name=dealer.contact_name,
        phone=dealer.phone,
        active=dealer.active,
        created_at=dealer.created_at,
    )
