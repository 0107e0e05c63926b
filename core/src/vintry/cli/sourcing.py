"""``vintry sourcing``: rule sets per site, dry runs, strategies and KPIs.

The command line acts for HQ; rule changes are audited as ``cli:<os user>``. Rule sets are
read from a JSON or YAML file (parsed as data: nothing in it is ever executed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
import yaml  # type: ignore[import-untyped]
from rich.markup import escape
from rich.table import Table

from vintry.cli.console import console
from vintry.cli.platform import cli_actor, initialised_directory, open_platform
from vintry.errors import InvalidInput
from vintry.sourcing import service

app = typer.Typer(help="Sourcing rules, dry runs, strategies and KPIs.", no_args_is_help=True)
rules_app = typer.Typer(help="A site's sourcing rule set.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


def _print_rules(out: Any) -> None:
    source = out.decided_by or "built in"
    console.print(f"[bold]{escape(out.site)}[/bold]: rules decided by [bold]{escape(source)}[/]")
    console.print_json(json.dumps(out.rule_set))


@rules_app.command("show")
def show_rules(site: str = typer.Argument(..., help="Site code.")) -> None:
    """Show the rule set in force at SITE and who set it."""
    with open_platform() as platform:
        initialised_directory(platform)
        _print_rules(service.rule_set_at(platform, site))


@rules_app.command("set")
def set_rules(
    site: str = typer.Argument(..., help="Site code."),
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSON or YAML file."),
) -> None:
    """Replace SITE's own rule set with the one in PATH."""
    text = path.read_text(encoding="utf-8")
    with open_platform() as platform:
        initialised_directory(platform)
        try:
            data = yaml.safe_load(text)  # JSON is YAML too
        except yaml.YAMLError as error:
            raise InvalidInput(
                f"{path.name} is not JSON or YAML: {error}", code="invalid_file", field="path"
            ) from None
        if not isinstance(data, dict):
            raise InvalidInput(
                "a rule set is a mapping", code="invalid_sourcing_rules", field="path"
            )
        _print_rules(service.set_rule_set(platform, site, data, actor=cli_actor()))


@rules_app.command("clear")
def clear_rules(site: str = typer.Argument(..., help="Site code.")) -> None:
    """Delete SITE's own rule set: it inherits its parent's again."""
    with open_platform() as platform:
        initialised_directory(platform)
        _print_rules(service.clear_rule_set(platform, site, actor=cli_actor()))


@app.command("dry-run")
def dry_run(
    site: str = typer.Argument(..., help="Site code."),
    dealer: str = typer.Option(..., "--dealer", help="Dealer code of the site."),
    lines: list[str] = typer.Argument(..., help="SKU=QUANTITY, one or more."),
) -> None:
    """Which warehouses would ship this order now, and why (nothing is held)."""
    parsed: list[tuple[str, int]] = []
    for item in lines:
        sku, _, quantity = item.partition("=")
        if not sku or not quantity.isdigit() or int(quantity) < 1:
            raise typer.BadParameter(f"{item!r} is not SKU=QUANTITY")
        parsed.append((sku, int(quantity)))
    with open_platform() as platform:
        initialised_directory(platform)
        out = service.dry_run(platform, site, dealer, parsed)
    console.print(f"rule [bold]{escape(out.rule)}[/]: {escape(out.why)}")
    console.print(f"strategy [bold]{escape(out.strategy)}[/] (cost {out.cost:,.1f})")
    for fault in out.fallback:
        console.print(f"[yellow]fell back from {escape(fault.strategy)}: {escape(fault.reason)}[/]")
    table = Table(title="Allocations")
    for column in ("sku", "warehouse", "quantity"):
        table.add_column(column)
    for a in out.allocations:
        table.add_row(escape(a.sku), escape(a.warehouse), str(a.quantity))
    console.print(table)
    console.print(escape(out.explanation))


@app.command("strategies")
def strategies() -> None:
    """Registered strategies, their plugins, faults and pauses (in this process)."""
    with open_platform() as platform:
        found = service.strategies(platform)
    table = Table(title="Sourcing strategies")
    for column in ("name", "plugin", "calls", "faults", "paused until", "last fault"):
        table.add_column(column)
    for s in found:
        table.add_row(
            escape(s.name),
            escape(s.plugin),
            str(s.calls),
            str(s.faults),
            s.paused_until.isoformat() if s.paused_until else "-",
            escape(s.last_fault or "-"),
        )
    console.print(table)


@app.command("kpis")
def kpis(
    site: str = typer.Argument("hq", help="Site code (its subtree)."),
    reference: str = typer.Option("cost-optimal", "--reference", help="The optimum's strategy."),
    limit: int = typer.Option(1000, "--limit", help="Newest orders replayed."),
) -> None:
    """Sourcing match accuracy and placement-to-delivery time of SITE's subtree."""
    with open_platform() as platform:
        initialised_directory(platform)
        period = service.Period(service.subtree_ids(platform, site))
        accuracy = service.match_accuracy(platform, period, reference=reference, limit=limit)
        cycle = service.cycle_time(platform, period)
    console.print_json(
        json.dumps({"match_accuracy": accuracy.model_dump(), "cycle_time": cycle.model_dump()})
    )
