"""How a command gets its platform, its audit actor and an initialised site tree."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from vintry.accounts.principal import Actor
from vintry.cli.console import reported_errors
from vintry.errors import InvalidInput, ServiceUnavailable
from vintry.platform import Platform
from vintry.sites.directory import SiteDirectory, SiteNode


def cli_actor() -> Actor:
    """The audit-log actor of changes made at the command line: ``cli:<os user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        # Containers often run under a uid with no passwd entry and no LOGNAME.
        user = "unknown"
    return Actor(name=f"cli:{user}")


@contextmanager
def open_platform() -> Iterator[Platform]:
    """The platform configured by ``VINTRY_*`` variables, closed on exit.

    Expected errors raised inside the block are reported as one line with exit code 1.
    """
    with reported_errors():
        try:
            platform = Platform()
        except ValidationError as error:
            first = error.errors()[0]
            name = "_".join(str(part) for part in first["loc"]).upper()
            raise InvalidInput(
                f"setting VINTRY_{name}: {first['msg']}",
                code="invalid_settings",
                field=f"VINTRY_{name}",
            ) from None
        try:
            yield platform
        finally:
            platform.close()


def initialised_directory(platform: Platform) -> tuple[SiteDirectory, SiteNode]:
    """The site tree and its root; a clear error when ``vintry init`` has not run."""
    try:
        directory = platform.directory()
    except SQLAlchemyError as error:
        # Never echo a database password to the terminal.
        url = make_url(platform.hq.url).render_as_string(hide_password=True)
        raise ServiceUnavailable(
            f"the HQ database at {url} is not initialised or not reachable "
            f"({type(error).__name__}); run `vintry init`",
            code="not_initialised",
        ) from None
    if directory.root is None:
        raise ServiceUnavailable(
            "the platform has no root site yet; run `vintry init`", code="not_initialised"
        )
    return directory, directory.root
