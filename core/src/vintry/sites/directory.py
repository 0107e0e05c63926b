"""An immutable snapshot of the site tree, answering ancestry questions without queries."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from vintry.errors import NotFound
from vintry.sites.models import Site, SiteKind


@dataclass(frozen=True)
class SiteNode:
    """One site as the directory sees it."""

    id: int
    code: str
    name: str
    kind: SiteKind
    parent_code: str | None
    database_url: str | None
    domains: tuple[str, ...]
    active: bool


@dataclass(frozen=True)
class SiteDirectory:
    """The whole tree at one version."""

    nodes: dict[str, SiteNode]
    version: int = 0
    _by_domain: dict[str, str] = field(default_factory=dict, repr=False)
    _by_id: dict[int, str] = field(default_factory=dict, repr=False)
    _children: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, nodes: Sequence[SiteNode], version: int = 0) -> SiteDirectory:
        """Index *nodes* (any order) into a directory."""
        by_code = {node.code: node for node in nodes}
        children: dict[str, list[str]] = {code: [] for code in by_code}
        for node in nodes:
            if node.parent_code is not None:
                children[node.parent_code].append(node.code)
        return cls(
            nodes=by_code,
            version=version,
            _by_domain={domain: node.code for node in nodes for domain in node.domains},
            _by_id={node.id: node.code for node in nodes},
            _children={code: tuple(sorted(kids)) for code, kids in children.items()},
        )

    @classmethod
    def load(cls, session: Session, version: int = 0) -> SiteDirectory:
        """Read every site from HQ."""
        sites = session.scalars(select(Site).options(selectinload(Site.domains))).all()
        codes = {site.id: site.code for site in sites}
        return cls.build(
            [
                SiteNode(
                    id=site.id,
                    code=site.code,
                    name=site.name,
                    kind=site.kind,
                    parent_code=codes.get(site.parent_id) if site.parent_id else None,
                    database_url=site.database_url,
                    domains=tuple(domain.domain for domain in site.domains),
                    active=site.active,
                )
                for site in sites
            ],
            version=version,
        )

    @property
    def root(self) -> SiteNode | None:
        """The HQ site, if the tree has been initialised."""
        for node in self.nodes.values():
            if node.parent_code is None:
                return node
        return None

    def get(self, code: str) -> SiteNode:
        """The site *code*, or :class:`NotFound`."""
        node = self.nodes.get(code)
        if node is None:
            raise NotFound(f"site {code!r} does not exist", code="site_not_found", field="site")
        return node

    def find(self, code: str) -> SiteNode | None:
        """The site *code*, or None."""
        return self.nodes.get(code)

    def by_id(self, site_id: int) -> SiteNode:
        """The site with database id *site_id*."""
        return self.nodes[self._by_id[site_id]]

    def by_domain(self, domain: str) -> SiteNode | None:
        """The site serving host name *domain*, if any."""
        code = self._by_domain.get(domain)
        return None if code is None else self.nodes[code]

    def children(self, code: str) -> tuple[SiteNode, ...]:
        """Direct children of *code*, by code."""
        return tuple(self.nodes[child] for child in self._children.get(code, ()))

    def path(self, code: str) -> tuple[SiteNode, ...]:
        """The sites from the root down to *code*, both included."""
        chain: list[SiteNode] = []
        node: SiteNode | None = self.get(code)
        while node is not None:
            chain.append(node)
            node = self.nodes[node.parent_code] if node.parent_code else None
        return tuple(reversed(chain))

    def is_within(self, code: str, ancestor: str) -> bool:
        """Whether *code* is *ancestor* or lies below it."""
        return any(node.code == ancestor for node in self.path(code))

    def subtree(self, code: str) -> Iterator[SiteNode]:
        """*code* and every site below it, depth first, children by code."""
        stack = [self.get(code)]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(self.children(node.code)))

    def depth(self, code: str) -> int:
        """0 for the root, 1 for its children, and so on."""
        return len(self.path(code)) - 1
