"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import text

from vintry import __version__
from vintry.api.security import get_platform, public
from vintry.errors import ServiceUnavailable

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """A health answer."""

    status: str
    version: str
    sites: int | None = None


@router.get("/health/live", response_model=Health, dependencies=[Depends(public)])
def live() -> Health:
    """The process answers."""
    return Health(status="ok", version=__version__)


@router.get("/health/ready", response_model=Health, dependencies=[Depends(public)])
def ready(request: Request) -> Health:
    """HQ answers and the tree has a root: the process can serve traffic."""
    platform = get_platform(request)
    try:
        with platform.hq.reading() as session:
            session.execute(text("SELECT 1"))
        directory = platform.directory()
    except Exception as error:
        raise ServiceUnavailable(
            f"HQ database unavailable: {type(error).__name__}", code="hq_unavailable"
        ) from None
    if directory.root is None:
        raise ServiceUnavailable(
            "the platform has no HQ site yet: run 'vintry init'", code="not_initialised"
        )
    return Health(status="ok", version=__version__, sites=len(directory.nodes))
