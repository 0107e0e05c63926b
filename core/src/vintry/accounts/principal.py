"""Who is acting: an authenticated caller, or the operator at the command line."""

from __future__ import annotations

from dataclasses import dataclass

from vintry.accounts.models import Role
from vintry.accounts.permissions import Permission, permissions_of
from vintry.contracts import DealerView
from vintry.sites.directory import SiteDirectory


@dataclass(frozen=True)
class Actor:
    """Whoever a change is attributed to in the audit log."""

    name: str
    user_id: int | None = None


SYSTEM_ACTOR = Actor(name="system")


@dataclass(frozen=True)
class Principal:
    """An authenticated API caller and its tenant.

    ``site`` is the root of the tenant: HQ for ``hq_admin``, the operated site for
    ``site_operator`` (its subtree included), the dealer's own site for ``dealer``.
    """

    user_id: int
    username: str
    role: Role
    site: str
    dealer_id: int | None
    token_id: str
    dealer: DealerView | None = None
    """The dealer a dealer login acts for, read with the token (no second query)."""
    dealer_active: bool = False

    @property
    def permissions(self) -> frozenset[Permission]:
        """What the role allows inside the tenant."""
        return permissions_of(self.role)

    @property
    def actor(self) -> Actor:
        """This caller as an audit-log actor."""
        return Actor(name=self.username, user_id=self.user_id)

    def can(self, permission: Permission) -> bool:
        """Whether the role carries *permission*."""
        return permission in self.permissions

    def reaches_site(self, directory: SiteDirectory, code: str) -> bool:
        """Whether site *code* lies inside this caller's tenant."""
        if code not in directory.nodes:
            return False
        if self.role is Role.HQ_ADMIN:
            return True
        if self.role is Role.SITE_OPERATOR:
            return directory.is_within(code, self.site)
        return code == self.site
