"""``vintry user``: create users, so that non-admins can be given tokens."""

from __future__ import annotations

import typer
from rich.markup import escape

from vintry.accounts.models import Role
from vintry.accounts.schemas import UserCreate
from vintry.accounts.service import create_user
from vintry.cli.console import console
from vintry.cli.platform import cli_actor, initialised_directory, open_platform

app = typer.Typer(help="Create users (HQ admins, site operators, dealers).", no_args_is_help=True)


@app.command("create")
def create(
    username: str = typer.Argument(..., help="Lower-case login name."),
    role: Role = typer.Option(..., help="What the user may do."),
    site: str | None = typer.Option(None, help="The site the user belongs to [default: the root]."),
    dealer: str | None = typer.Option(None, help="Dealer code; required for the dealer role."),
    name: str | None = typer.Option(None, help="Display name [default: the username]."),
) -> None:
    """Create a user; give it a token with `vintry token create USERNAME`."""
    with open_platform() as platform:
        _, root = initialised_directory(platform)
        request = UserCreate(
            username=username, display_name=name or username, role=role, site=site, dealer=dealer
        )
        user = create_user(platform, request, default_site=root.code, actor=cli_actor())
    of_dealer = f", dealer {escape(user.dealer)}" if user.dealer else ""
    console.print(
        f"Created user [bold]{escape(user.username)}[/bold]: {user.role.value} at "
        f"{escape(user.site)}{of_dealer}."
    )
