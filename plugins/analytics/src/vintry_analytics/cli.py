"""``vintry analytics ...``: every report of the registry at the command line — a table
with its evidence (or ``--json``, the API's answer), ``--csv`` and ``--svg`` files, and a
progress bar while the sites are queried — and the tracker script for static hosting."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from rich.table import Table as RichTable
from vintry.cli.console import console, progress_bar
from vintry.cli.platform import initialised_directory, open_platform
from vintry.errors import InvalidInput, NotFound
from vintry.platform import Platform
from vintry_sdk import SiteContext

from vintry_analytics.config import PLUGIN_NAME
from vintry_analytics.fanout import sites_under
from vintry_analytics.registry import REPORTS, PeriodParams, Report, ReportScope, Table, csv_text

app = typer.Typer(
    help="Behaviour analytics: funnels, insight reports, dealers' stock.", no_args_is_help=True
)

T = TypeVar("T")


@contextmanager
def _scope(site: str | None) -> Iterator[tuple[Platform, SiteContext, list[SiteContext]]]:
    with open_platform() as platform:
        directory, root = initialised_directory(platform)
        code = site or root.code
        directory.get(code)
        sites = sites_under(platform, code)
        if not sites:
            raise NotFound(
                f"plugin {PLUGIN_NAME!r} is not enabled on {code!r} or any site below it",
                code="plugin_not_enabled",
                field="site",
            )
        yield platform, platform.site(code), sites


def _with_progress(
    label: str, sites: Sequence[SiteContext], work: Callable[[Callable[[str], None]], T]
) -> T:
    with progress_bar() as progress:
        task = progress.add_task(label, total=len(sites))

        def advance(code: str) -> None:
            progress.update(task, advance=1, description=f"{label}: {code}")

        return work(advance)


def _until(value: str) -> datetime:
    try:
        end = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{value!r} is not an ISO 8601 time", code="invalid_value", field="until"
        ) from None
    if end.tzinfo is None:
        raise InvalidInput("--until needs a time zone", code="invalid_value", field="until")
    return end


def _print_json(model: BaseModel) -> None:
    console.print_json(json.dumps(model.model_dump(mode="json")))


def _write(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    console.print(f"written to [bold]{path}[/bold]")


def _rich(table: Table) -> RichTable:
    shown = RichTable(title=table.title, title_justify="left")
    for column in table.columns:
        shown.add_column(column.header, overflow="fold")
    for row in table.rows:
        shown.add_row(*(column.shown(column.cell(row)) for column in table.columns))
    if not table.rows:
        shown.caption = "nothing found"
    return shown


# --- one command per report ------------------------------------------------------------------

_KEYWORD = inspect.Parameter.KEYWORD_ONLY
_ASKED = {"start", "end"}  # not options: the CLI asks --days and --until (the period's end)


def _option(
    name: str, annotation: Any, default: Any, help_text: str, flag: str = "", **bounds: Any
) -> inspect.Parameter:
    """Parameter *name* of a command, the option ``--<name>`` (or *flag*)."""
    option = typer.Option(default, flag or "--" + name.replace("_", "-"), help=help_text, **bounds)
    return inspect.Parameter(name, _KEYWORD, annotation=annotation, default=option)


def _field_option(name: str, field: FieldInfo) -> inspect.Parameter:
    """The option for one field of a report's parameter model, with its numeric bounds."""
    bounds: dict[str, Any] = {}
    for rule in field.metadata:  # pydantic keeps ge= and le= as annotated-types rules
        for attribute, bound in (("ge", "min"), ("le", "max")):
            if hasattr(rule, attribute):
                bounds[bound] = getattr(rule, attribute)
    return _option(name, field.annotation, field.default, field.description or "", **bounds)


def _options(report: Report[Any, Any]) -> list[inspect.Parameter]:
    """A report command's options: ``--site``, the report's parameters (``--until`` for the
    period's end, no ``--start``), ``--json``, ``--csv`` and, with a chart, ``--svg``."""
    fields = report.params.model_fields
    options = [_option("site", str | None, None, "Report on this site's subtree (default: HQ).")]
    options += [_field_option(name, field) for name, field in fields.items() if name not in _ASKED]
    if issubclass(report.params, PeriodParams):
        help_text = "End of the period, ISO 8601 with a zone (default: now)."
        options.append(_option("until", str | None, None, help_text))
    json_help = "Print the report as JSON (what the API answers) instead of a table."
    options.append(_option("as_json", bool, False, json_help, "--json"))
    options.append(_option("csv_file", Path | None, None, "Write the table to this CSV.", "--csv"))
    if report.chart is not None:
        svg_help = "Write the chart to this SVG file."
        options.append(_option("svg_file", Path | None, None, svg_help, "--svg"))
    return options


def _command(report: Report[Any, Any]) -> Callable[..., None]:
    """``vintry analytics <name>``: the report over the subtree of ``--site``, printed as
    tables (or JSON), and written to CSV and SVG files when asked.

    Typer reads a command's options from its function's signature; a report's come from its
    parameter model, so the signature is set here rather than written per report.
    """

    def command(**options: Any) -> None:
        site: str | None = options.pop("site")
        as_json: bool = options.pop("as_json")
        csv_file: Path | None = options.pop("csv_file")
        svg_file: Path | None = options.pop("svg_file", None)
        until: str | None = options.pop("until", None)
        with _scope(site) as (platform, addressed, sites):
            if until is not None:
                options["end"] = _until(until)
            params = report.params.model_validate(options)
            result = _with_progress(
                report.label,
                sites,
                lambda tick: report.run(
                    ReportScope(platform, addressed, sites, platform.clock.now(), tick), params
                ),
            )
            tables = report.tables(result)
            if as_json:
                _print_json(result)
            else:
                for table in tables:
                    console.print(_rich(table))
            if csv_file is not None:
                _write(csv_file, csv_text(tables))
            if svg_file is not None and report.chart is not None:
                _write(svg_file, report.chart.render(result, addressed.code))

    command.__signature__ = inspect.Signature(_options(report))  # type: ignore[attr-defined]
    command.__doc__ = report.description
    return command


for _report in REPORTS:
    app.command(_report.name)(_command(_report))


@app.command("tracker")
def tracker(
    output: Path | None = typer.Option(None, "--output", help="Write it to this file."),
) -> None:
    """The JavaScript tracker, for hosting with a mall's static files."""
    script = files("vintry_analytics").joinpath("static/tracker.js").read_text(encoding="utf-8")
    if output is None:
        typer.echo(script, nl=False)
    else:
        _write(output, script)
