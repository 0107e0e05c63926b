"""``vintry seckill ...``: the sweeper and the counters from the command line."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from vintry_sdk import Platform, SiteContext

app = typer.Typer(help="Flash sales (seckill): counters, holds and the expiry sweep.",
                  no_args_is_help=True)


def _site(code: str) -> SiteContext:
    platform = Platform()
    site = platform.site(code)
    if not site.is_enabled("seckill"):
        raise typer.BadParameter(f"seckill is not enabled on site {code!r}", param_hint="SITE")
    return site


@app.command("expire")
def expire(site: str = typer.Argument(..., help="Site code.")) -> None:
    """Expire the site's holds whose time ran out; their units return to the quotas."""
    from vintry_seckill.holds import expire_due

    report = expire_due(_site(site))
    typer.echo(f"expired {report.holds} hold(s), {report.units} unit(s) back on sale at {site}")


@app.command("status")
def status(
    site: str = typer.Argument(..., help="Site code."),
    campaign: str = typer.Argument(..., help="The flash sale's campaign code."),
) -> None:
    """Print a flash sale's counter."""
    from vintry_seckill.holds import sale_status
    from vintry_seckill.sales import sale_cache

    context = _site(site)
    sale = sale_cache(context.platform).get(context, campaign)
    found = sale_status(context, sale, with_redis=True)
    table = Table(title=f"{found.campaign} at {site} ({found.state}, {found.backend})")
    for column in ("quota", "taken", "remaining", "held", "ordered", "paid"):
        table.add_column(column, justify="right")
    table.add_row(*(str(getattr(found, c)) for c in
                    ("quota", "taken", "remaining", "held", "ordered", "paid")))
    Console().print(table)


@app.command("rebuild")
def rebuild(
    site: str = typer.Argument(..., help="Site code."),
    campaign: str = typer.Argument(..., help="The flash sale's campaign code."),
) -> None:
    """Reload a flash sale's Redis counter from the database."""
    from vintry_seckill.admission import load_into_redis, redis_counter
    from vintry_seckill.sales import sale_cache

    context = _site(site)
    counter = redis_counter(context)
    if counter is None:
        typer.echo(f"{site} counts flash sales in SQL only: nothing to rebuild")
        return
    load_into_redis(counter, context, sale_cache(context.platform).get(context, campaign))
    typer.echo(f"reloaded the Redis counter of {campaign} at {site} from the database")
