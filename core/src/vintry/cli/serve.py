"""``vintry serve``: the API under uvicorn, with request ids in every log line."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import typer
import uvicorn

from vintry.cli.console import console
from vintry.cli.platform import initialised_directory, open_platform
from vintry.sites.models import SiteKind

app = typer.Typer()

APP_FACTORY = "vintry.api.app:create_app"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class LogLevel(StrEnum):
    """The log levels ``serve`` accepts."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """The ``logging.config.dictConfig`` schema ``serve`` hands to uvicorn (and its workers).

    The request-id filter sits on the handler rather than a logger, so every record that
    reaches it has ``request_id``, uvicorn's own included.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "vintry.context.RequestIdFilter"}},
        "formatters": {"default": {"format": LOG_FORMAT}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["request_id"],
            },
        },
        "loggers": {
            "vintry": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            # vintry.access already logs one line per request, with its id.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def _browsable(host: str) -> str:
    return "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, min=1, help="Worker processes (ignored with --reload)."),
    reload: bool = typer.Option(False, "--reload/--no-reload", help="Restart on code changes."),
    log_level: LogLevel = typer.Option(LogLevel.INFO, case_sensitive=False, help="Log level."),
) -> None:
    """Serve the HTTP API (HQ and every regional mall) with uvicorn."""
    with open_platform() as platform:
        directory, root = initialised_directory(platform)
        # The first region created, which in the demo is the first of REGIONS.
        region = min(
            (node for node in directory.nodes.values() if node.kind is SiteKind.REGION),
            key=lambda node: node.id,
            default=None,
        )
    shown = _browsable(host)
    console.print(f"HQ:        http://{shown}:{port}/")
    console.print(f"API docs:  http://{shown}:{port}/docs")
    if region is not None:
        # *.localhost resolves to this machine in browsers and curl without any set-up.
        local = [domain for domain in region.domains if domain.endswith(".localhost")]
        domain = (local or list(region.domains) or [f"{region.code}.vintry.localhost"])[0]
        console.print(f"A mall:    http://{domain}:{port}/   ({region.code})")
    example = region.code if region is not None else root.code
    console.print(f"Any site:  http://{shown}:{port}/sites/{example}/   (/sites/<code>/ prefix)")
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        log_config=logging_config(log_level.value.upper()),
        log_level=log_level.value,
        access_log=False,
    )
