"""``vintry plugins``: what is installed, and where it is on, per site."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from vintry.cli.console import console, err_console, reported_errors
from vintry.cli.platform import cli_actor, initialised_directory, open_platform
from vintry.errors import InvalidInput, NotFound
from vintry.sites.configuration import change_overrides, resolve_configuration
from vintry.sites.enablement import config_namespace, enablement_at, loaded_plugin, set_enablement
from vintry.sites.inheritance import EnablementState

app = typer.Typer(
    help="List, enable, disable and configure plugins per site.", no_args_is_help=True
)

SITE_OPTION = typer.Option(None, "--site", help="Site code [default: the root, HQ].")


@app.command("list")
def list_plugins() -> None:
    """Installed plugins: version, hooks, where enabled; failed ones with their reason."""
    with open_platform() as platform:
        directory, _root = initialised_directory(platform)
        table = Table(title="Plugins")
        for column in ("name", "version", "distribution", "status", "hooks", "enabled on"):
            table.add_column(column)
        host = platform.plugins
        for record in host.loaded():
            enabled = [
                node.code
                for node in directory.nodes.values()
                if enablement_at(platform, record.name, node.code).enabled
            ]
            shown = (
                "everywhere (built-in)"
                if record.builtin
                else _sites_summary(enabled, len(directory.nodes))
            )
            table.add_row(
                escape(record.name),
                record.version or "-",
                escape(record.distribution or "built-in"),
                "[green]loaded[/green]",
                ", ".join(h.removeprefix("vintry_") for h in record.hooks),
                escape(shown),
            )
        for record in host.failed():
            table.add_row(
                escape(record.name),
                record.version or "-",
                escape(record.distribution or "-"),
                "[red]failed[/red]",
                "-",
                "-",
            )
        console.print(table)
        for record in host.failed():
            err_console.print(
                f"[red]plugin {escape(record.name)} not loaded:[/red] {escape(record.error or '')}",
                soft_wrap=True,
            )


def _sites_summary(codes: list[str], total: int) -> str:
    if not codes:
        return "nowhere"
    if len(codes) == total:
        return f"all {total} sites"
    shown = ", ".join(sorted(codes)[:8])
    return shown + (f" (+{len(codes) - 8})" if len(codes) > 8 else "")


def _set_state(name: str, site: str | None, state: EnablementState, required: bool = False) -> None:
    with open_platform() as platform:
        _directory, root = initialised_directory(platform)
        view = set_enablement(
            platform,
            name,
            site or root.code,
            state=state,
            required=required,
            actor=cli_actor(),
            actor_is_hq_admin=True,
        )
    answer = "[green]enabled[/green]" if view.enabled else "[yellow]disabled[/yellow]"
    console.print(
        f"{escape(name)} at {escape(view.site)}: own setting {view.state.value}"
        f"{' (required)' if view.required else ''}; now {answer}"
        f" (decided by {escape(view.decided_by or 'default')})."
    )


@app.command("enable")
def enable(
    name: str = typer.Argument(..., help="Plugin name."),
    site: str | None = SITE_OPTION,
    required: bool = typer.Option(False, help="HQ only: keep it on in the whole subtree."),
) -> None:
    """Turn NAME on at a site (and, through inheritance, below it)."""
    _set_state(name, site, EnablementState.ON, required)


@app.command("disable")
def disable(
    name: str = typer.Argument(..., help="Plugin name."), site: str | None = SITE_OPTION
) -> None:
    """Turn NAME off at a site (and, through inheritance, below it)."""
    _set_state(name, site, EnablementState.OFF)


@app.command("inherit")
def inherit(
    name: str = typer.Argument(..., help="Plugin name."), site: str | None = SITE_OPTION
) -> None:
    """Remove a site's own setting for NAME, so it follows its parent again."""
    _set_state(name, site, EnablementState.INHERIT)


def _parse_assignment(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise InvalidInput(
            f"expected FIELD=VALUE, got {text!r}", code="invalid_assignment", field=text
        )
    try:
        return key.strip(), json.loads(raw)
    except json.JSONDecodeError:
        return key.strip(), raw


@app.command("configure")
def configure(
    name: str = typer.Argument(..., help="Plugin name."),
    assignments: list[str] = typer.Argument(None, help="FIELD=VALUE (JSON or text); repeatable."),
    site: str | None = SITE_OPTION,
    clear: list[str] = typer.Option([], "--clear", help="Field to inherit again; repeatable."),
) -> None:
    """Override fields of NAME's configuration at a site; refused if any descendant would break."""
    with open_platform() as platform:
        _directory, root = initialised_directory(platform)
        namespace = config_namespace(loaded_plugin(platform, name))
        values = dict(_parse_assignment(item) for item in assignments or [])
        resolved = (
            change_overrides(
                platform,
                namespace,
                site or root.code,
                set_fields=values,
                clear_fields=clear,
                actor=cli_actor(),
            )
            if values or clear
            else resolve_configuration(platform, namespace, site or root.code)
        )
    table = Table(title=f"{name} at {resolved.site}")
    for column in ("field", "value", "decided by"):
        table.add_column(column)
    for field, value in resolved.values.items():
        table.add_row(
            escape(field),
            escape(json.dumps(value, ensure_ascii=False)),
            escape(resolved.decided_by.get(field) or "default"),
        )
    console.print(table)


@app.command("schema")
def schema(name: str = typer.Argument(..., help="Plugin name.")) -> None:
    """Print the JSON Schema of NAME's settings."""
    with open_platform() as platform:
        namespace = config_namespace(loaded_plugin(platform, name))
        console.print_json(json.dumps(namespace.model.model_json_schema()))


def find_template() -> Path:
    """The plugin template: ``templates/plugin`` of the source tree this kernel runs from."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "templates" / "plugin"
        if (candidate / "cookiecutter.json").is_file():
            return candidate
    raise NotFound(
        "the plugin template was not found; pass --template PATH (templates/plugin of the repo)",
        code="template_not_found",
        field="template",
    )


@app.command("new")
def new(
    name: str = typer.Option(
        ..., "--name", prompt="Plugin name (e.g. seckill)", help="Plugin name."
    ),
    output_dir: Path = typer.Option(Path("plugins"), help="Where the distribution is created."),
    description: str = typer.Option("A Vintry plugin.", help="One-line description."),
    author: str = typer.Option("Vintry developers", help="Author name."),
    template: Path | None = typer.Option(None, help="Template directory [default: the repo's]."),
) -> None:
    """Create a new plugin distribution from the cookiecutter template."""
    from cookiecutter.main import cookiecutter  # type: ignore[import-untyped]

    with reported_errors():
        source = template or find_template()
        output_dir.mkdir(parents=True, exist_ok=True)
        created = cookiecutter(
            str(source),
            no_input=True,
            output_dir=str(output_dir),
            extra_context={"plugin_name": name, "description": description, "author": author},
            default_config=True,  # ignore a personal ~/.cookiecutterrc: same result everywhere
        )
    console.print(
        f"Created {escape(created)}. Next: "
        f"pip install -e {escape(created)} && pytest {escape(created)}"
    )
