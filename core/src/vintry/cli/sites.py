"""``vintry site``: create, list and draw the site tree."""

from __future__ import annotations

from enum import StrEnum

import typer
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from vintry.cli.console import console
from vintry.cli.platform import cli_actor, initialised_directory, open_platform
from vintry.sites.directory import SiteDirectory, SiteNode
from vintry.sites.models import SiteKind
from vintry.sites.schemas import SiteCreate
from vintry.sites.service import create_site

app = typer.Typer(
    help="Create and inspect sites (HQ, regional malls, stores).", no_args_is_help=True
)


class ChildKind(StrEnum):
    """The kinds of site that can be created below the root."""

    REGION = "region"
    STORE = "store"


@app.command("create")
def create(
    code: str = typer.Argument(..., help="Lower-case code, also the site database's name."),
    name: str = typer.Argument(..., help="Display name."),
    parent: str | None = typer.Option(None, help="Parent site code [default: the root]."),
    kind: ChildKind | None = typer.Option(
        None, help="region or store [default: region under HQ, store under a region]."
    ),
    domain: list[str] = typer.Option([], "--domain", help="A host name of the mall; repeatable."),
    database_url: str | None = typer.Option(
        None, help="The site's own database [default: VINTRY_SITE_DATABASE_URL's template]."
    ),
) -> None:
    """Create a site below PARENT, with its own database, migrated."""
    with open_platform() as platform:
        directory, root = initialised_directory(platform)
        parent_node = directory.get(parent or root.code)
        if kind is None:
            kind = ChildKind.REGION if parent_node.kind is SiteKind.HQ else ChildKind.STORE
        request = SiteCreate(
            code=code,
            name=name,
            kind=SiteKind(kind.value),
            domains=domain,
            database_url=database_url,
        )
        node = create_site(
            platform, parent_code=parent_node.code, request=request, actor=cli_actor()
        )
    console.print(
        f"Created {node.kind.value} site [bold]{escape(node.code)}[/bold] "
        f"({escape(node.name)}) under {escape(parent_node.code)}."
    )
    for host in node.domains:
        console.print(f"  domain: {escape(host)}")


@app.command("list")
def list_sites() -> None:
    """List every site, depth first from the root."""
    with open_platform() as platform:
        directory, root = initialised_directory(platform)
    table = Table(title=f"Sites ({len(directory.nodes)})")
    for column in ("code", "name", "kind", "parent", "domains", "active"):
        # Codes and domains are identifiers: fold them rather than cut them short.
        table.add_column(column, overflow="fold")
    for node in directory.subtree(root.code):
        indent = "  " * directory.depth(node.code)
        table.add_row(
            indent + escape(node.code),
            escape(node.name),
            node.kind.value,
            escape(node.parent_code or "-"),
            escape(", ".join(node.domains) or "-"),
            "yes" if node.active else "[red]no[/red]",
        )
    console.print(table)


@app.command("tree")
def tree() -> None:
    """Draw the site tree."""
    with open_platform() as platform:
        directory, root = initialised_directory(platform)
    branch = Tree(_label(root))
    _grow(directory, root, branch)
    console.print(branch)


def _grow(directory: SiteDirectory, node: SiteNode, branch: Tree) -> None:
    for child in directory.children(node.code):
        _grow(directory, child, branch.add(_label(child)))


def _label(node: SiteNode) -> str:
    domains = f" [dim]{escape(', '.join(node.domains))}[/dim]" if node.domains else ""
    inactive = " [red](inactive)[/red]" if not node.active else ""
    return (
        f"[bold]{escape(node.code)}[/bold] {escape(node.name)} "
        f"[cyan]{node.kind.value}[/cyan]{domains}{inactive}"
    )
