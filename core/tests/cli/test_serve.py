"""``vintry serve``: what it hands uvicorn, and the log format."""

from __future__ import annotations

import logging
import logging.config
from collections.abc import Callable
from typing import Any

import pytest
import uvicorn
from typer.testing import Result
from vintry.cli import serve
from vintry.context import current_request_id

Invoke = Callable[..., Result]


def test_serve_runs_the_app_factory_without_uvicorn_access_log(
    vintry: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append((a, kw)))
    vintry("init")
    vintry(
        "site", "create", "east", "East",
        "--domain", "east.example.com", "--domain", "east.vintry.localhost",
    )

    result = vintry("serve", "--port", "8123", "--workers", "3")
    assert "http://127.0.0.1:8123/docs" in result.stdout
    assert "http://east.vintry.localhost:8123/" in result.stdout
    assert "http://127.0.0.1:8123/sites/east/" in result.stdout
    [(args, kwargs)] = calls
    assert args == ("vintry.api.app:create_app",)
    assert kwargs["factory"] is True
    assert kwargs["access_log"] is False
    assert (kwargs["port"], kwargs["workers"], kwargs["reload"]) == (8123, 3, False)
    loggers = kwargs["log_config"]["loggers"]
    assert loggers["uvicorn.access"]["handlers"] == []
    assert "vintry" in loggers


def test_log_lines_carry_the_request_id() -> None:
    config = serve.logging_config()
    # Build the handler the way dictConfig would, without reconfiguring this process.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(config["formatters"]["default"]["format"]))
    for name in config["handlers"]["default"]["filters"]:
        factory = logging.config.BaseConfigurator({}).resolve(config["filters"][name]["()"])
        handler.addFilter(factory())
    record = logging.LogRecord("vintry.access", logging.INFO, __file__, 1, "GET /", (), None)
    token = current_request_id.set("req-42")
    try:
        assert handler.filter(record)
    finally:
        current_request_id.reset(token)
    assert "INFO vintry.access [req-42] GET /" in handler.format(record)
