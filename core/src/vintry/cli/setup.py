"""Setting a deployment up: ``init``, ``migrate`` and ``demo``."""

from __future__ import annotations

import time

import typer
from rich.markup import escape
from rich.table import Table

from vintry.bootstrap import ADMIN_USERNAME, DEFAULT_ROOT_CODE, initialise
from vintry.cli.console import console, progress_bar
from vintry.cli.platform import cli_actor, open_platform
from vintry.demo.data import REGIONS, DemoRegion
from vintry.demo.seed import seed_demo

app = typer.Typer()


def show_admin_token(token: str) -> None:
    """Print a new admin token once, with the warning that it cannot be shown again."""
    console.print(f"Created the [bold]{ADMIN_USERNAME}[/bold] user. Its API token:")
    # soft_wrap keeps the secret on one line so it can be copied whole.
    console.print(f"  [bold green]{token}[/bold green]", soft_wrap=True)
    console.print(
        "[yellow]Store it now: it is not shown again.[/yellow] "
        "Send it as 'Authorization: Bearer <token>'."
    )


@app.command()
def init(
    root_code: str = typer.Option(
        DEFAULT_ROOT_CODE, "--root-code", help="Code of the HQ (root) site, if it is created."
    ),
) -> None:
    """Create and migrate the HQ database, the root site and the admin user (idempotent)."""
    with open_platform() as platform:
        result = initialise(platform, actor=cli_actor(), root_code=root_code)
        root = platform.directory().root
        assert root is not None
    if result.migrated:
        console.print(f"Migrated the HQ database: {', '.join(result.migrated)}.")
    else:
        console.print("The HQ database is up to date.")
    if result.created_root:
        console.print(
            f"Created the root site [bold]{escape(root.code)}[/bold] ({escape(root.name)})."
        )
    else:
        console.print(f"The root site [bold]{escape(root.code)}[/bold] exists.")
        if root.code != root_code:
            console.print(
                f"[yellow]--root-code {escape(root_code)} ignored: the root exists.[/yellow]"
            )
    if result.admin_token is not None:
        show_admin_token(result.admin_token)
    else:
        console.print(f"The [bold]{ADMIN_USERNAME}[/bold] user exists; no token was issued.")


@app.command()
def migrate() -> None:
    """Upgrade the HQ database, then every site's database, to the latest schema."""
    with open_platform() as platform:
        hq_moved = platform.ensure_hq()
        platform.invalidate_directory()
        nodes = list(platform.directory().nodes.values())
        moved: dict[str, list[str]] = {}
        with progress_bar() as progress:
            task = progress.add_task("Migrating sites", total=len(nodes))
            for node in nodes:
                progress.update(task, description=f"Migrating {node.code}")
                moved[node.code] = platform.migrate_site(node.code, node.database_url)
                progress.advance(task)
            progress.update(task, description="Migrated sites")
    table = Table(title="Migrations")
    table.add_column("database")
    table.add_column("tracks moved")
    table.add_row("HQ", ", ".join(hq_moved) or "up to date")
    for code, tracks in moved.items():
        table.add_row(f"site {code}", ", ".join(tracks) or "up to date")
    console.print(table)
    changed = sum(1 for tracks in moved.values() if tracks)
    console.print(
        f"[green]Done:[/green] HQ and {len(moved)} site(s) at head; {changed} site(s) changed."
    )
    if not moved:
        console.print("No sites yet: run `vintry init`.")


@app.command()
def demo(
    dealers_per_region: int = typer.Option(
        6, "--dealers-per-region", min=0, max=99, help="Dealers generated per regional center."
    ),
    orders_per_region: int = typer.Option(
        2,
        "--orders-per-region",
        min=0,
        max=50,
        help="Orders of the ninety-day history per regional center (0: no history).",
    ),
) -> None:
    """Seed the demo brand: HQ, 32 regional centers, warehouses, dealers and users, the
    catalog with stock, and ninety days of orders (paid, shipped, delivered, cancelled,
    returned).

    Idempotent: what exists (by code) is left alone, so running it again creates nothing.
    """
    started = time.perf_counter()
    with open_platform() as platform, progress_bar() as progress:
        regions = progress.add_task("Seeding regions", total=len(REGIONS))
        orders = progress.add_task("Order history", total=None, start=False)

        def on_step(region: DemoRegion) -> None:
            progress.update(regions, advance=1, description=f"Seeded {region.code}")

        def on_order(done: int, planned: int) -> None:
            progress.start_task(orders)
            progress.update(orders, completed=done, total=planned)

        report = seed_demo(
            platform,
            actor=cli_actor(),
            dealers_per_region=dealers_per_region,
            orders_per_region=orders_per_region,
            on_step=on_step,
            on_order=on_order,
        )
        progress.update(regions, description="Seeded regions")
        progress.update(orders, description="Played the order history")
    elapsed = time.perf_counter() - started
    table = Table(title="Demo brand")
    table.add_column("objects")
    table.add_column("created", justify="right")
    table.add_column("already present", justify="right")
    for kind, count in report.counts.items():
        table.add_row(kind, str(count.created), str(count.present))
    console.print(table)
    history = report.history
    if history.orders_created:
        statuses = ", ".join(f"{n} {status}" for status, n in history.statuses.most_common())
        reasons = ", ".join(f"{n} {reason}" for reason, n in history.returns.most_common())
        console.print(
            f"Order history: {history.orders_created} order(s) over the last ninety days "
            f"({statuses}); {sum(history.returns.values())} return(s)"
            + (f" ({reasons})" if reasons else "")
            + "."
        )
    for problem in history.problems:
        console.print(f"[yellow]history step refused:[/yellow] {escape(problem)}")
    for skipped in report.campaigns_skipped:
        console.print(f"[yellow]campaign left out:[/yellow] {escape(skipped)}")
    for skipped in report.pages_skipped:
        console.print(f"[yellow]page left out:[/yellow] {escape(skipped)}")
    console.print(f"[green]Done[/green] in {elapsed:.1f}s: {report.created} object(s) created.")
    if report.admin_token is not None:
        show_admin_token(report.admin_token)
    console.print("Demo users have no tokens yet; issue one with, for example:")
    console.print("  vintry token create op-beijing   [dim]# Beijing's site operator[/dim]")
    console.print("  vintry token create d-bj-001     [dim]# a Beijing dealer[/dim]")
