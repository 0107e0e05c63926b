"""Health endpoints, request ids, the one error model and the published API description.

Every response carries an ``X-Request-ID`` (the caller's when well formed, a fresh one
otherwise); every error body repeats it, and so does every audit entry the request wrote.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import select
from starlette.testclient import TestClient
from vintry import __version__
from vintry.api import create_app
from vintry.api.app import api_routes
from vintry.api.security import public
from vintry.audit.models import AuditEntry
from vintry.clock import ManualClock
from vintry.platform import Platform
from vintry.settings import VintrySettings
from vintry_sdk.testing import VintryFactory

if TYPE_CHECKING:
    from httpx2 import Response  # what starlette's TestClient returns

GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")
JSON = "application/json"


def _error_body(response: Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "field", "request_id", "details"}
    return error


# --- health --------------------------------------------------------------------------------


def test_live_answers_with_the_version(vintry_factory: VintryFactory) -> None:
    response = vintry_factory.client().get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__, "sites": None}


def test_ready_counts_the_sites_of_the_tree(vintry_factory: VintryFactory) -> None:
    anonymous = vintry_factory.client()
    assert anonymous.get("/health/ready").json() == {
        "status": "ok", "version": __version__, "sites": 1,
    }
    vintry_factory.site("east")
    vintry_factory.site("east-s1", parent="east")
    ready = anonymous.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["sites"] == 3


def test_ready_is_503_before_the_platform_is_initialised(tmp_path: Path) -> None:
    platform = Platform(VintrySettings(data_dir=tmp_path, hq_database_url=None,
                                       site_database_url=None, load_plugins=None),
                        clock=ManualClock())
    try:
        platform.ensure_hq()
        with TestClient(create_app(platform), raise_server_exceptions=False) as client:
            not_ready = client.get("/health/ready")
            assert client.get("/health/live").status_code == 200
        assert not_ready.status_code == 503
        assert _error_body(not_ready)["code"] == "not_initialised"
    finally:
        platform.close()


def test_ready_is_503_when_hq_does_not_answer(tmp_path: Path) -> None:
    unreachable = f"sqlite:///{tmp_path / 'missing-dir' / 'hq.db'}"
    platform = Platform(VintrySettings(data_dir=tmp_path, hq_database_url=unreachable,
                                       site_database_url=None, load_plugins=None),
                        clock=ManualClock())
    try:
        with TestClient(create_app(platform), raise_server_exceptions=False) as client:
            response = client.get("/health/ready")
        assert response.status_code == 503
        error = _error_body(response)
        assert error["code"] == "hq_unavailable" and error["request_id"]
    finally:
        platform.close()


# --- request ids ---------------------------------------------------------------------------


@pytest.mark.parametrize("incoming", ["abc-123", "Trace.ID_42", "x" * 64])
def test_well_formed_request_id_is_echoed(incoming: str, vintry_factory: VintryFactory) -> None:
    anonymous = vintry_factory.client()
    ok = anonymous.get("/health/live", headers={"X-Request-ID": incoming})
    assert ok.headers["x-request-id"] == incoming
    refused = anonymous.get("/api/v1/me", headers={"X-Request-ID": incoming})
    assert refused.status_code == 401
    assert refused.headers["x-request-id"] == _error_body(refused)["request_id"] == incoming


@pytest.mark.parametrize(
    "incoming",
    [b"has space", b"x" * 65, b"", b"semi;colon", b"new\\nline", "\u00fcn\u00efcode".encode(),
     b"../../etc"],
    ids=["space", "too-long", "empty", "semicolon", "backslash", "non-ascii", "slashes"],
)
def test_malformed_request_id_is_replaced(incoming: bytes, vintry_factory: VintryFactory) -> None:
    response = vintry_factory.client().get("/api/v1/me", headers={b"x-request-id": incoming})
    assert response.status_code == 401
    replaced = response.headers["x-request-id"]
    assert GENERATED_ID.match(replaced) and replaced.encode() != incoming
    assert _error_body(response)["request_id"] == replaced


def test_every_response_gets_its_own_request_id(vintry_factory: VintryFactory) -> None:
    anonymous = vintry_factory.client()
    ids = {anonymous.get("/health/live").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5 and all(GENERATED_ID.match(i) for i in ids)


def test_request_id_is_recorded_in_the_audit_entries_it_wrote(
    vintry_admin: TestClient, vintry_platform: Platform
) -> None:
    created = vintry_admin.post("/api/v1/sites", json={"code": "east", "name": "East"},
                                headers={"X-Request-ID": "req-site-east"})
    assert created.status_code == 201, created.text
    dealer = vintry_admin.post("/api/v1/dealers", json={"code": "D-HQ", "name": "HQ shop"},
                               headers={"X-Request-ID": "has space"})
    assert dealer.status_code == 201
    with vintry_platform.hq.reading() as session:
        recorded = dict(session.execute(
            select(AuditEntry.object_id, AuditEntry.request_id)
            .where(AuditEntry.object_id.in_(["east", "D-HQ"]))
        ).all())
    assert recorded == {"east": "req-site-east", "D-HQ": dealer.headers["x-request-id"]}
    listed = vintry_admin.get("/api/v1/audit", params={"object_type": "site"}).json()
    assert listed[0]["object_id"] == "east" and listed[0]["request_id"] == "req-site-east"


# --- the error model -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/api/v1/no-such-route", {}, 404, "not_found"),
        ("PUT", "/api/v1/site", {}, 405, "method_not_allowed"),
        ("GET", "/api/v1/site", {"headers": {"host": "bad host"}}, 400, "invalid_host"),
        ("GET", "/api/v1/site", {"headers": {"host": "nowhere.example"}}, 404, "site_not_found"),
        ("GET", "/sites/nosuch/api/v1/site", {}, 404, "site_not_found"),
        ("POST", "/api/v1/sites", {"json": {"code": "east"}}, 422, "validation_failed"),
        ("POST", "/api/v1/sites", {"content": b"{", "headers": {"content-type": JSON}}, 400,
         "invalid_json"),
        ("POST", "/api/v1/sites", {"content": b"x" * 2_000_000}, 413, "payload_too_large"),
        ("PATCH", "/api/v1/sites/hq", {"json": {"active": False}}, 422, "root_required"),
    ],
    ids=["no-route", "wrong-method", "bad-host", "unknown-host", "unknown-site", "validation",
         "invalid-json", "too-large", "service-error"],
)
def test_every_error_has_the_one_model_with_the_request_id(
    method: str, path: str, kwargs: dict[str, Any], status: int, code: str,
    vintry_admin: TestClient,
) -> None:
    response = vintry_admin.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    error = _error_body(response)
    assert error["code"] == code and error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    assert response.headers["content-type"] == "application/json"


def test_validation_error_lists_every_problem_and_names_the_first(
    vintry_admin: TestClient,
) -> None:
    response = vintry_admin.post("/api/v1/dealers", json={"code": "lower", "tier": "diamond"})
    error = _error_body(response)
    assert response.status_code == 422 and error["code"] == "validation_failed"
    problems = {(p["field"], p["code"]) for p in error["details"]["errors"]}
    assert problems == {("body.code", "invalid_value"), ("body.tier", "invalid_value"),
                        ("body.name", "missing_field")}
    assert error["field"] == error["details"]["errors"][0]["field"]


def test_unexpected_exception_is_a_500_in_the_error_model_without_internals(
    vintry_app: FastAPI, vintry_factory: VintryFactory, caplog: pytest.LogCaptureFixture
) -> None:
    @vintry_app.get("/test/boom", dependencies=[Depends(public)])
    def boom() -> None:
        """A route with a bug."""
        raise RuntimeError("secret internals: password=hunter2")

    response = vintry_factory.client().get("/test/boom")
    assert response.status_code == 500
    error = _error_body(response)
    assert error["code"] == "internal_error"
    assert "hunter2" not in response.text
    assert error["request_id"] == response.headers["x-request-id"]
    [logged] = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert logged.exc_info is not None and "hunter2" in str(logged.exc_info[1])


# --- the published description -------------------------------------------------------------


def test_openapi_lists_every_route_with_the_error_model(
    vintry_app: FastAPI, vintry_factory: VintryFactory
) -> None:
    response = vintry_factory.client().get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["info"]["version"] == __version__
    for route in api_routes(vintry_app):
        for method in (route.methods or set()) - {"HEAD"}:
            assert method.lower() in spec["paths"].get(route.path, {}), (method, route.path)
    assert "ErrorResponse" in spec["components"]["schemas"]
    assert any(scheme.get("scheme") == "bearer"
               for scheme in spec["components"]["securitySchemes"].values())
    created = spec["paths"]["/api/v1/dealers"]["post"]["responses"]
    assert created["403"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorResponse"
    )


def test_interactive_docs_answer(vintry_factory: VintryFactory) -> None:
    anonymous = vintry_factory.client()
    for path in ("/docs", "/redoc"):
        response = anonymous.get(path)
        assert response.status_code == 200 and "text/html" in response.headers["content-type"]
        assert "/openapi.json" in response.text
