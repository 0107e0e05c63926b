"""First start: the HQ database, the root site and the first administrator."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from vintry.accounts.models import Role, User
from vintry.accounts.principal import Actor
from vintry.accounts.schemas import TokenCreate, UserCreate
from vintry.accounts.service import create_user, find_user, issue_token
from vintry.platform import Platform
from vintry.sites.service import create_root

DEFAULT_ROOT_CODE = "hq"
DEFAULT_ROOT_DOMAINS = ["hq.vintry.localhost", "localhost", "127.0.0.1"]
ADMIN_USERNAME = "admin"


@dataclass(frozen=True)
class InitResult:
    """What ``initialise`` did; ``admin_token`` is set only when the admin was created."""

    migrated: list[str]
    created_root: bool
    admin_token: str | None


def initialise(
    platform: Platform,
    *,
    actor: Actor,
    root_code: str = DEFAULT_ROOT_CODE,
    root_name: str = "总部 Headquarters",
    root_domains: list[str] | None = None,
) -> InitResult:
    """Migrate HQ, create the root site and an ``admin`` user if missing (idempotent)."""
    migrated = platform.ensure_hq()
    platform.invalidate_directory()
    directory = platform.directory()
    created_root = directory.root is None
    if created_root:
        create_root(
            platform,
            code=root_code,
            name=root_name,
            domains=root_domains if root_domains is not None else DEFAULT_ROOT_DOMAINS,
            actor=actor,
        )
    root = platform.directory().root
    assert root is not None
    platform.migrate_site(root.code, root.database_url)
    with platform.hq.reading() as session:
        has_admin = (
            session.scalar(select(User.id).where(User.username == ADMIN_USERNAME)) is not None
        )
    token: str | None = None
    if not has_admin:
        create_user(
            platform,
            UserCreate(
                username=ADMIN_USERNAME, display_name="HQ administrator", role=Role.HQ_ADMIN
            ),
            default_site=root.code,
            actor=actor,
        )
        with platform.hq.transaction() as session:
            token = issue_token(
                platform,
                find_user(session, ADMIN_USERNAME),
                TokenCreate(name="initial admin token"),
                session=session,
                actor=actor,
            ).token
    return InitResult(migrated=migrated, created_root=created_root, admin_token=token)
