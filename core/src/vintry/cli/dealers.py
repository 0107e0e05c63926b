"""``vintry dealer``: create and list the dealer companies of a site."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from vintry.cli.console import console
from vintry.cli.platform import cli_actor, initialised_directory, open_platform
from vintry.dealers.models import DealerTier
from vintry.dealers.schemas import DealerCreate, DealerOut
from vintry.dealers.service import create_dealer, list_dealers

app = typer.Typer(help="Create and list dealers (distributors).", no_args_is_help=True)


@app.command("create")
def create(
    site: str = typer.Argument(..., help="Code of the site the dealer orders from."),
    code: str = typer.Argument(..., help="Dealer code, upper-case (e.g. D-BJ-001)."),
    name: str = typer.Argument(..., help="Company name."),
    tier: DealerTier = typer.Option(DealerTier.SILVER, help="Dealer tier."),
    tag: list[str] = typer.Option([], "--tag", help="A tag for targeting; repeatable."),
    city: str | None = typer.Option(None, help="City the dealer is in."),
) -> None:
    """Create a dealer of SITE."""
    with open_platform() as platform:
        initialised_directory(platform)
        request = DealerCreate(code=code, name=name, tier=tier, tags=tag, city=city)
        dealer = create_dealer(platform, site, request, actor=cli_actor())
    tags = f", tags {escape(', '.join(dealer.tags))}" if dealer.tags else ""
    console.print(
        f"Created dealer [bold]{escape(dealer.code)}[/bold] ({escape(dealer.name)}) at "
        f"{escape(dealer.site)}: {dealer.tier.value}{tags}."
    )


@app.command("list")
def list_command(
    site: str | None = typer.Argument(None, help="Only this site's dealers [default: all]."),
    tier: DealerTier | None = typer.Option(None, help="Only this tier."),
    tag: str | None = typer.Option(None, help="Only dealers with this tag."),
) -> None:
    """List dealers, by site then code."""
    with open_platform() as platform:
        directory, root = initialised_directory(platform)
        codes = [site] if site else [node.code for node in directory.subtree(root.code)]
        with platform.hq.reading() as session:
            dealers: list[DealerOut] = [
                dealer
                for code in codes
                for dealer in list_dealers(session, directory, code, tier=tier, tag=tag)
            ]
    table = Table(title=f"Dealers ({len(dealers)})")
    for column in ("site", "code", "name", "tier", "tags", "city", "active"):
        table.add_column(column)
    for dealer in dealers:
        table.add_row(
            escape(dealer.site),
            escape(dealer.code),
            escape(dealer.name),
            dealer.tier.value,
            escape(", ".join(dealer.tags) or "-"),
            escape(dealer.city or "-"),
            "yes" if dealer.active else "[red]no[/red]",
        )
    console.print(table)
