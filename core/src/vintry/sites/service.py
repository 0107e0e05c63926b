"""Creating, changing and reading sites. No HTTP here."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from vintry.accounts.principal import Actor
from vintry.audit.service import record_change
from vintry.db.counters import bump
from vintry.db.engines import parse_target
from vintry.errors import Conflict, InvalidInput, NotFound
from vintry.platform import SITES_COUNTER, Platform
from vintry.sites.directory import SiteDirectory, SiteNode
from vintry.sites.models import Site, SiteDomain, SiteKind
from vintry.sites.schemas import SiteCreate, SiteOut, SiteTreeOut, SiteUpdate

_CHILD_KIND = {SiteKind.HQ: SiteKind.REGION, SiteKind.REGION: SiteKind.STORE}


def create_root(
    platform: Platform, *, code: str, name: str, domains: list[str], actor: Actor
) -> SiteNode:
    """Create HQ, the root of the tree; refused if a root exists."""
    directory = platform.directory()
    if directory.root is not None:
        raise Conflict(f"the root site {directory.root.code!r} exists", code="root_exists")
    request = SiteCreate(code=code, name=name, kind=SiteKind.REGION, domains=domains)
    return _insert_site(platform, request, kind=SiteKind.HQ, parent=None, actor=actor)


def create_site(
    platform: Platform, *, parent_code: str, request: SiteCreate, actor: Actor
) -> SiteNode:
    """Create a child of *parent_code*: create and migrate its database, then record it."""
    directory = platform.directory()
    parent = directory.get(parent_code)
    expected = _CHILD_KIND.get(parent.kind)
    if expected is None or request.kind is not expected:
        allowed = expected.value if expected else "nothing"
        raise InvalidInput(
            f"a {parent.kind.value} site can only have children of kind {allowed}",
            code="invalid_site_kind",
            field="kind",
        )
    return _insert_site(platform, request, kind=request.kind, parent=parent, actor=actor)


def _insert_site(
    platform: Platform,
    request: SiteCreate,
    *,
    kind: SiteKind,
    parent: SiteNode | None,
    actor: Actor,
) -> SiteNode:
    directory = platform.directory()
    if request.code in directory.nodes:
        raise Conflict(f"site {request.code!r} exists", code="site_exists", field="code")
    _check_domains_free(directory, request.domains, owner=None)
    if request.database_url is not None:
        try:
            parse_target(request.database_url)
        except Exception as error:
            raise InvalidInput(
                f"database_url is not usable: {error}",
                code="invalid_database_url",
                field="database_url",
            ) from None
    # The database comes first: a site row never points at a database that is not there.
    platform.migrate_site(request.code, request.database_url)
    now = platform.clock.now()
    try:
        with platform.hq.transaction() as session:
            site = Site(
                code=request.code,
                name=request.name,
                kind=kind,
                parent_id=parent.id if parent else None,
                database_url=request.database_url,
                active=True,
                created_at=now,
                domains=[SiteDomain(domain=domain) for domain in request.domains],
            )
            session.add(site)
            session.flush()
            record_change(
                session,
                at=now,
                site_id=site.id,
                actor=actor,
                action="site.create",
                object_type="site",
                object_id=site.code,
                before=None,
                after=_site_snapshot(site, parent.code if parent else None),
            )
            bump(session, SITES_COUNTER)
    except IntegrityError:
        raise Conflict(
            f"site {request.code!r} or one of its domains exists",
            code="site_exists",
            field="code",
        ) from None
    node = platform.directory().get(request.code)
    platform.emit("site.created", node.code, {"parent": parent.code if parent else None})
    return node


def update_site(platform: Platform, *, code: str, request: SiteUpdate, actor: Actor) -> SiteNode:
    """Change a site's name, domains or active flag (audited)."""
    directory = platform.directory()
    node = directory.get(code)
    if request.domains is not None:
        _check_domains_free(directory, request.domains, owner=code)
    if request.active is False and node.parent_code is None:
        raise InvalidInput(
            "the root site cannot be deactivated", code="root_required", field="active"
        )
    with platform.hq.transaction() as session:
        site = _load(session, code)
        before = _site_snapshot(site, node.parent_code)
        if request.name is not None:
            site.name = request.name
        if request.active is not None:
            site.active = request.active
        if request.domains is not None:
            site.domains = [SiteDomain(domain=domain) for domain in request.domains]
        after = _site_snapshot(site, node.parent_code)
        if after != before:
            record_change(
                session,
                at=platform.clock.now(),
                site_id=site.id,
                actor=actor,
                action="site.update",
                object_type="site",
                object_id=code,
                before=before,
                after=after,
            )
            bump(session, SITES_COUNTER)
    return platform.directory().get(code)


def site_out(directory: SiteDirectory, node: SiteNode) -> SiteOut:
    """The API view of *node*."""
    return SiteOut(
        code=node.code,
        name=node.name,
        kind=node.kind,
        parent=node.parent_code,
        domains=list(node.domains),
        active=node.active,
        depth=directory.depth(node.code),
    )


def site_tree(directory: SiteDirectory, code: str) -> SiteTreeOut:
    """*code* and its descendants as a nested tree."""
    node = directory.get(code)
    return SiteTreeOut(
        code=node.code,
        name=node.name,
        kind=node.kind,
        domains=list(node.domains),
        active=node.active,
        children=[site_tree(directory, child.code) for child in directory.children(code)],
    )


def _load(session: Session, code: str) -> Site:
    site = session.scalar(select(Site).where(Site.code == code))
    if site is None:
        raise NotFound(f"site {code!r} does not exist", code="site_not_found", field="site")
    return site


def _check_domains_free(directory: SiteDirectory, domains: list[str], owner: str | None) -> None:
    if len(set(domains)) != len(domains):
        raise InvalidInput("a domain is listed twice", code="duplicate_domain", field="domains")
    for index, domain in enumerate(domains):
        holder = directory.by_domain(domain)
        if holder is not None and holder.code != owner:
            raise Conflict(
                f"domain {domain!r} already belongs to site {holder.code!r}",
                code="domain_taken",
                field=f"domains.{index}",
            )


def _site_snapshot(site: Site, parent_code: str | None) -> dict[str, object]:
    return {
        "code": site.code,
        "name": site.name,
        "kind": site.kind.value,
        "parent": parent_code,
        "domains": sorted(domain.domain for domain in site.domains),
        "active": site.active,
    }
