"""``vintry token``: issue, list and revoke API tokens."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from vintry.accounts.models import ApiToken
from vintry.accounts.schemas import TokenCreate
from vintry.accounts.service import (
    TOKEN_PREFIX,
    find_user,
    issue_token,
    parse_token,
    revoke_token,
    token_out,
)
from vintry.cli.console import console
from vintry.cli.platform import cli_actor, initialised_directory, open_platform
from vintry.errors import NotFound

app = typer.Typer(help="Issue, list and revoke API tokens.", no_args_is_help=True)


@app.command("create")
def create(
    username: str = typer.Argument(..., help="The user the token authenticates."),
    name: str = typer.Option("cli", help="What the token is for."),
    days: int | None = typer.Option(
        None, min=1, max=3650, help="Lifetime in days [default: VINTRY_TOKEN_TTL_DAYS]."
    ),
) -> None:
    """Issue a token for USERNAME and print its secret, once."""
    with open_platform() as platform:
        initialised_directory(platform)
        with platform.hq.transaction() as session:
            created = issue_token(
                platform,
                find_user(session, username),
                TokenCreate(name=name, expires_in_days=days),
                session=session,
                actor=cli_actor(),
            )
    console.print(
        f"Token [bold]{created.id}[/bold] for {escape(created.username)}, "
        f"expires {_when(created.expires_at)}:"
    )
    # soft_wrap keeps the secret on one line so it can be copied whole.
    console.print(f"  [bold green]{created.token}[/bold green]", soft_wrap=True)
    console.print("[yellow]Store it now: it is not shown again.[/yellow]")


@app.command("revoke")
def revoke(
    token_id: str = typer.Argument(..., help="The token's id (or the whole token)."),
) -> None:
    """Revoke a token; requests using it are refused from now on."""
    with open_platform() as platform:
        if token_id.startswith(f"{TOKEN_PREFIX}_"):
            token_id = parse_token(token_id)[0]
        initialised_directory(platform)
        with platform.hq.transaction() as session:
            token = session.get(ApiToken, token_id)
            if token is None:
                raise NotFound(
                    f"token {token_id!r} does not exist", code="token_not_found", field="token_id"
                )
            already = token.revoked_at is not None
            out = revoke_token(platform, token, session=session, actor=cli_actor())
    state = "was already revoked" if already else "revoked"
    console.print(
        f"Token [bold]{out.id}[/bold] of {escape(out.username)} {state} "
        f"(at {_when(out.revoked_at)})."
    )


@app.command("list")
def list_command(username: str = typer.Argument(..., help="Whose tokens.")) -> None:
    """List USERNAME's tokens (never their secrets)."""
    with open_platform() as platform:
        initialised_directory(platform)
        with platform.hq.reading() as session:
            user = find_user(session, username)
            tokens = [
                token_out(token, user.username)
                for token in session.scalars(
                    select(ApiToken)
                    .where(ApiToken.user_id == user.id)
                    .order_by(ApiToken.created_at, ApiToken.id)
                )
            ]
    table = Table(title=f"Tokens of {escape(username)} ({len(tokens)})")
    for column in ("id", "name", "created", "expires", "revoked", "last used"):
        table.add_column(column)
    for token in tokens:
        table.add_row(
            token.id,
            escape(token.name),
            _when(token.created_at),
            _when(token.expires_at),
            f"[red]{_when(token.revoked_at)}[/red]" if token.revoked_at else "-",
            _when(token.last_used_at) if token.last_used_at else "-",
        )
    console.print(table)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"
