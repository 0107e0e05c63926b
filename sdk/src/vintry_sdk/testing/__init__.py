"""The pytest harness of Vintry, for the kernel's tests and plugin authors' alike.

Registered through the ``pytest11`` entry point, so installing ``vintry-sdk`` gives every
test suite these fixtures:

``vintry_clock``
    a :class:`~vintry.clock.ManualClock`; move it instead of sleeping.
``vintry_backend``
    ``"sqlite"``, and ``"postgresql"`` too when ``VINTRY_TEST_POSTGRES_URL`` is set (the
    PostgreSQL run is skipped, with the reason, when it is not).
``vintry_platform``
    an initialised platform (HQ site ``hq`` and an ``admin``) on a temporary data directory
    or a throwaway PostgreSQL database, copied from a template migrated once per session.
``vintry_app`` / ``vintry_factory`` / ``vintry_admin``
    the FastAPI app, a :class:`~vintry_sdk.testing.factories.VintryFactory` (sites,
    dealers, users, tokens, clients per role), and a client authenticated as HQ's admin.

Campaign plugins build their two-region mall with
:func:`~vintry_sdk.testing.campaigns.campaign_world`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient
from vintry.api import create_app
from vintry.clock import ManualClock
from vintry.platform import Platform

from vintry_sdk.testing.backends import (
    POSTGRES_ENV,
    REDIS_ENV,
    Template,
    build_template,
    drop_template,
    platform_from_template,
    postgres_url,
)
from vintry_sdk.testing.campaigns import CampaignWorld, StockedSku, campaign_world
from vintry_sdk.testing.factories import VintryFactory

__all__ = ["CampaignWorld", "StockedSku", "VintryFactory", "campaign_world"]

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def _vintry_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Template]]:
    templates: dict[str, Template] = {}
    yield templates
    for template in templates.values():
        drop_template(template)


@pytest.fixture
def vintry_clock() -> ManualClock:
    """A manual clock at 2026-01-01T00:00Z."""
    return ManualClock()


@pytest.fixture(params=BACKENDS)
def vintry_backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this test run."""
    backend: str = request.param
    if backend == "postgresql" and not postgres_url():
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1/test)"
        )
    return backend


@pytest.fixture
def vintry_template(
    vintry_backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    _vintry_templates: dict[str, Template],
) -> Template:
    """The migrated platform of this backend that tests copy (built once per session)."""
    template = _vintry_templates.get(vintry_backend)
    if template is None:
        template = build_template(
            vintry_backend, tmp_path_factory.mktemp(f"vintry-{vintry_backend}"), ManualClock()
        )
        _vintry_templates[vintry_backend] = template
    return template


@pytest.fixture
def vintry_platform(
    vintry_template: Template, vintry_clock: ManualClock, tmp_path: Path
) -> Iterator[Platform]:
    """An initialised platform of its own, on the backend of this run."""
    with platform_from_template(vintry_template, tmp_path / "data", vintry_clock) as platform:
        yield platform


@pytest.fixture
def vintry_app(vintry_platform: Platform) -> FastAPI:
    """The API of the test platform."""
    return create_app(vintry_platform)


@pytest.fixture
def vintry_factory(
    vintry_platform: Platform, vintry_app: FastAPI, vintry_template: Template
) -> Iterator[VintryFactory]:
    """Sites, dealers, users, tokens and clients per role."""
    factory = VintryFactory(vintry_platform, vintry_app, vintry_template.admin_token)
    yield factory
    factory.close()


@pytest.fixture
def vintry_admin(vintry_factory: VintryFactory) -> TestClient:
    """A client authenticated as HQ's administrator, addressing HQ."""
    return vintry_factory.admin_client()


@pytest.fixture
def vintry_redis_url() -> str:
    """The Redis server tests may use; skips when ``VINTRY_TEST_REDIS_URL`` is unset."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"Redis tests need {REDIS_ENV} (e.g. redis://127.0.0.1:6379/0)")
    return url
