"""Malformed requests: refused with a 4xx in the one error model, and nothing written.

Covers unknown fields, wrong types, invalid JSON, oversized bodies (declared and streamed),
malformed and unknown ``Host`` headers and bad ``/sites/<code>/`` prefixes, then fuzzes
the main write routes with hypothesis. After every refusal the HQ tables a request can
write hold exactly the rows they held before: a refused request never half-happens.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from starlette.types import Message
from vintry.dealers.models import DealerTier
from vintry.dealers.schemas import DealerCreate
from vintry.platform import Platform
from vintry.sites.schemas import SiteCreate, SiteSettings
from vintry_sdk.testing import VintryFactory

from .conftest import hq_row_counts

if TYPE_CHECKING:
    from httpx2 import Response  # what starlette's TestClient returns

SITE_CODE = re.compile(r"[a-z][a-z0-9-]{1,31}")
LOCALE = re.compile(r"[a-z]{2}(-[A-Z]{2})?")
JSON = {"content-type": "application/json"}


@pytest.fixture
def hq_dealer(vintry_factory: VintryFactory) -> str:
    """A dealer of HQ for the PATCH routes to name."""
    return vintry_factory.dealer(vintry_factory.root, "D-HQ").code


def _error(response: Response) -> dict[str, Any]:
    """The error object of *response*, checked against the one error model."""
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "field", "request_id", "details"}, error
    assert error["code"] and error["message"] and error["request_id"]
    return error


def _refused(
    response: Response, status: int, code: str, field: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = _error(response)
    assert error["code"] == code, error
    if field is not None:
        assert error["field"] == field, error
    return error


# --- unknown fields and wrong types ----------------------------------------------------

UNKNOWN_FIELDS = [
    ("POST", "/api/v1/sites", {"code": "north", "name": "North", "colour": "red"}, "colour"),
    ("PATCH", "/api/v1/sites/hq", {"name": "HQ", "parent": "west"}, "parent"),
    ("POST", "/api/v1/dealers", {"code": "D-NEW", "name": "New", "discount": 5}, "discount"),
    ("PATCH", "/api/v1/dealers/D-HQ", {"site": "west"}, "site"),
    ("POST", "/api/v1/users",
     {"username": "new-user", "display_name": "N", "role": "site_operator", "password": "x"},
     "password"),
    ("POST", "/api/v1/tokens", {"name": "t", "scopes": ["everything"]}, "scopes"),
    ("POST", "/api/v1/warehouses",
     {"code": "W-001", "name": "W", "city": "Hangzhou", "latitude": 30, "longitude": 120,
      "capacity": 10}, "capacity"),
    ("POST", "/api/v1/stock/receipts",
     {"warehouse": "W-001", "sku": "S-1", "quantity": 1, "batch": "B1"}, "batch"),
    ("POST", "/api/v1/stock/adjustments",
     {"warehouse": "W-001", "sku": "S-1", "delta": -1, "note": "n", "reason": "x"}, "reason"),
]


@pytest.mark.parametrize(("method", "path", "body", "unknown"), UNKNOWN_FIELDS,
                         ids=[f"{m} {p}" for m, p, _, _ in UNKNOWN_FIELDS])
def test_unknown_body_field_is_refused_by_name(
    method: str, path: str, body: dict[str, Any], unknown: str,
    vintry_admin: TestClient, vintry_platform: Platform, hq_dealer: str,
) -> None:
    before = hq_row_counts(vintry_platform)
    error = _refused(vintry_admin.request(method, path, json=body), 422, "validation_failed")
    assert {"field": f"body.{unknown}", "code": "unknown_field"} in [
        {"field": p["field"], "code": p["code"]} for p in error["details"]["errors"]
    ]
    assert hq_row_counts(vintry_platform) == before


def test_unknown_site_setting_is_refused_by_name(
    vintry_admin: TestClient, vintry_platform: Platform
) -> None:
    before = hq_row_counts(vintry_platform)
    response = vintry_admin.patch("/api/v1/settings", json={"locale": "en-US", "colour": "red"})
    _refused(response, 422, "unknown_field", field="colour")
    assert hq_row_counts(vintry_platform) == before
    assert vintry_admin.get("/api/v1/settings").json()["values"]["locale"] == "zh-CN"


WRONG_TYPES = [
    ("POST", "/api/v1/sites", {"code": 123, "name": "North"}, "body.code"),
    ("POST", "/api/v1/sites", {"code": "North_1", "name": "North"}, "body.code"),
    ("POST", "/api/v1/sites", {"code": "north", "name": "N", "domains": "n.example"},
     "body.domains"),
    ("POST", "/api/v1/sites", {"code": "north", "name": "N", "domains": ["bad domain"]},
     "body.domains.0"),
    ("POST", "/api/v1/sites", {"code": "north", "name": "N", "kind": "galaxy"}, "body.kind"),
    ("POST", "/api/v1/sites", {"code": "north", "name": ""}, "body.name"),
    ("PATCH", "/api/v1/sites/hq", {"active": "perhaps"}, "body.active"),
    ("POST", "/api/v1/dealers", {"code": "D-NEW", "name": "N", "tier": "diamond"}, "body.tier"),
    ("POST", "/api/v1/dealers", {"code": "D-NEW", "name": "N", "tags": "vip"}, "body.tags"),
    ("POST", "/api/v1/dealers", {"code": "D-NEW", "name": "N", "phone": "call me"}, "body.phone"),
    ("POST", "/api/v1/dealers", {"name": "No code"}, "body.code"),
    ("PATCH", "/api/v1/dealers/D-HQ", {"tags": [1, 2]}, "body.tags.0"),
    ("POST", "/api/v1/users",
     {"username": "Has Space", "display_name": "N", "role": "site_operator"}, "body.username"),
    ("POST", "/api/v1/users", {"username": "new-user", "display_name": "N", "role": "root"},
     "body.role"),
    ("POST", "/api/v1/tokens", {"name": "t", "expires_in_days": 0}, "body.expires_in_days"),
    ("POST", "/api/v1/warehouses",
     {"code": "W-001", "name": "W", "city": "C", "latitude": "north", "longitude": 120},
     "body.latitude"),
    ("POST", "/api/v1/warehouses",
     {"code": "W-001", "name": "W", "city": "C", "latitude": 91, "longitude": 120},
     "body.latitude"),
    ("POST", "/api/v1/sites", [], "body"),
    ("GET", "/api/v1/dealers?tier=diamond", None, "query.tier"),
    ("GET", "/api/v1/audit?limit=many", None, "query.limit"),
    ("GET", "/api/v1/audit?limit=100000", None, "query.limit"),
    ("GET", f"/api/v1/dealers/{'D' * 33}", None, "path.code"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), WRONG_TYPES,
                         ids=[f"{m} {p} {f}" for m, p, _, f in WRONG_TYPES])
def test_wrong_type_or_value_is_refused_naming_the_field(
    method: str, path: str, body: Any, field: str,
    vintry_admin: TestClient, vintry_platform: Platform, hq_dealer: str,
) -> None:
    before = hq_row_counts(vintry_platform)
    response = vintry_admin.request(method, path, json=body) if body is not None else (
        vintry_admin.request(method, path)
    )
    error = _refused(response, 422, "validation_failed", field=field)
    assert field in [problem["field"] for problem in error["details"]["errors"]]
    assert hq_row_counts(vintry_platform) == before


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"reservation_minutes": "soon"}, "invalid_configuration", "reservation_minutes"),
        ({"reservation_minutes": 0}, "invalid_configuration", "reservation_minutes"),
        ({"min_order_amount": "-1"}, "invalid_configuration", "min_order_amount"),
        ({"locale": "chinese"}, "invalid_configuration", "locale"),
        ({"timezone": "Mars/Olympus_Mons"}, "invalid_configuration", "timezone"),
        ({"timezone": "../../etc/passwd"}, "invalid_configuration", "timezone"),
    ],
    ids=["wrong-type", "out-of-range", "negative", "pattern", "unknown-zone", "zone-path"],
)
def test_invalid_site_setting_is_refused_naming_the_field(
    changes: dict[str, Any], code: str, field: str,
    vintry_admin: TestClient, vintry_platform: Platform,
) -> None:
    before = hq_row_counts(vintry_platform)
    _refused(vintry_admin.patch("/api/v1/settings", json=changes), 422, code, field=field)
    assert hq_row_counts(vintry_platform) == before


# --- invalid JSON ------------------------------------------------------------------------

INVALID_JSON = [b'{"code": "north", "name": ', b"{'code': 'north'}", b'{"code": "north",}',
                b"{code: north}", b'{"code": "north"} trailing', b"\x00"]


@pytest.mark.parametrize("raw", INVALID_JSON, ids=[repr(raw)[:30] for raw in INVALID_JSON])
@pytest.mark.parametrize("path", ["/api/v1/sites", "/api/v1/dealers"])
def test_invalid_json_is_refused_with_400(
    raw: bytes, path: str, vintry_admin: TestClient, vintry_platform: Platform
) -> None:
    before = hq_row_counts(vintry_platform)
    _refused(vintry_admin.post(path, content=raw, headers=JSON), 400, "invalid_json", field="body")
    assert hq_row_counts(vintry_platform) == before


@pytest.mark.parametrize(
    "raw",
    [b'{"code": "\xff\xfe"}', b"[" * 100_000 + b"]" * 100_000, b'{"n": ' + b"9" * 5000 + b"}"],
    ids=["not-utf8", "nested-too-deep", "integer-too-long"],
)
def test_body_json_cannot_decode_is_a_400_not_a_500(
    raw: bytes, vintry_admin: TestClient, vintry_platform: Platform
) -> None:
    before = hq_row_counts(vintry_platform)
    response = vintry_admin.patch("/api/v1/settings", content=raw, headers=JSON)
    assert response.status_code == 400, response.text
    assert _error(response)["code"] in {"invalid_json", "bad_request"}
    assert hq_row_counts(vintry_platform) == before


# --- oversized bodies --------------------------------------------------------------------


def _oversized_site(platform: Platform) -> bytes:
    limit = platform.settings.max_request_bytes
    return json.dumps({"code": "north", "name": "n" * limit}).encode()


def test_body_declared_over_the_limit_is_refused_with_413(
    vintry_admin: TestClient, vintry_platform: Platform
) -> None:
    before = hq_row_counts(vintry_platform)
    response = vintry_admin.post("/api/v1/sites", content=_oversized_site(vintry_platform),
                                 headers=JSON)
    _refused(response, 413, "payload_too_large", field="body")
    assert hq_row_counts(vintry_platform) == before


def test_streamed_body_over_the_limit_without_content_length_is_refused_with_413(
    vintry_admin: TestClient, vintry_platform: Platform
) -> None:
    body = _oversized_site(vintry_platform)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 65_536):
            yield body[start:start + 65_536]

    before = hq_row_counts(vintry_platform)
    response = vintry_admin.post("/api/v1/sites", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    _refused(response, 413, "payload_too_large")
    assert hq_row_counts(vintry_platform) == before


def test_streamed_body_is_cut_off_once_it_crosses_the_limit(
    vintry_factory: VintryFactory, vintry_platform: Platform
) -> None:
    """The app stops reading a chunked body at the limit instead of buffering all of it."""
    limit = vintry_platform.settings.max_request_bytes
    chunk = b" " * 65_536
    total_chunks = 4 * limit // len(chunk)
    pulled = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < total_chunks}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/v1/sites", "raw_path": b"/api/v1/sites",
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 5000),
        "server": ("localhost", 80), "state": {},
        "headers": [
            (b"host", b"localhost"), (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {vintry_factory.admin_token}".encode()),
        ],
    }
    before = hq_row_counts(vintry_platform)
    asyncio.run(vintry_factory.app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 413
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    assert pulled <= limit // len(chunk) + 1 < total_chunks
    assert hq_row_counts(vintry_platform) == before


def test_content_length_that_is_not_a_number_is_refused(
    vintry_admin: TestClient, vintry_platform: Platform
) -> None:
    before = hq_row_counts(vintry_platform)
    response = vintry_admin.post("/api/v1/sites", content=b"{}",
                                 headers={**JSON, "content-length": "2x"})
    _refused(response, 400, "invalid_content_length", field="body")
    assert hq_row_counts(vintry_platform) == before


# --- Host headers and site prefixes ------------------------------------------------------

MALFORMED_HOSTS: list[bytes] = [
    b"bad host.example",
    b"east.example:99999",
    b"east.example:0",
    b"east.example:http",
    b"under_score.example",
    "ünïcode.example".encode(),
    b"\xff\xfe.example",
    b"a" * 300,
    b"a" * 64 + b".example",
    b"-leading.example",
    b"evil.example/path",
    b"user@evil.example",
    b"",
    b":8080",
    b"[not-ipv6]",
]


@pytest.mark.parametrize("host", MALFORMED_HOSTS, ids=[repr(h)[:40] for h in MALFORMED_HOSTS])
def test_malformed_host_is_refused_with_400_before_anything_else(
    host: bytes, vintry_factory: VintryFactory, vintry_platform: Platform
) -> None:
    before = hq_row_counts(vintry_platform)
    for client in (vintry_factory.admin_client(), vintry_factory.client()):
        response = client.post("/api/v1/sites", json={"code": "north", "name": "North"},
                               headers={b"host": host})
        _refused(response, 400, "invalid_host", field="header.host")
    assert hq_row_counts(vintry_platform) == before


@pytest.mark.parametrize("host", ["LOCALHOST", "localhost:8080", "localhost.", "127.0.0.1:80"])
def test_well_formed_host_of_a_site_is_served(host: str, vintry_admin: TestClient) -> None:
    response = vintry_admin.get("/api/v1/site", headers={"host": host})
    assert response.status_code == 200, response.text
    assert response.json()["code"] == "hq"


@pytest.mark.parametrize("host", ["nowhere.example", "nowhere.example:8443", "[::1]"])
def test_host_no_site_serves_is_404_naming_the_host_header(
    host: str, vintry_admin: TestClient, vintry_platform: Platform
) -> None:
    before = hq_row_counts(vintry_platform)
    response = vintry_admin.post("/api/v1/sites", json={"code": "north", "name": "North"},
                                 headers={"host": host})
    _refused(response, 404, "site_not_found", field="header.host")
    assert hq_row_counts(vintry_platform) == before


@pytest.mark.parametrize("prefix", ["BAD_CODE", "x", "hq.example", "%20hq", "a" * 40, "nosuch"])
def test_site_prefix_naming_no_site_is_404(
    prefix: str, vintry_factory: VintryFactory, vintry_platform: Platform
) -> None:
    before = hq_row_counts(vintry_platform)
    admin = vintry_factory.admin_client()
    response = admin.post(f"/sites/{prefix}/api/v1/dealers", json={"code": "D-NEW", "name": "N"})
    _refused(response, 404, "site_not_found", field="site")
    assert hq_row_counts(vintry_platform) == before


# --- fuzzing -----------------------------------------------------------------------------

_scalars = (
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
)
_json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_ascii_text = st.text(alphabet=st.characters(codec="ascii"), max_size=40)


def _is_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _not_a_json_object(raw: bytes) -> bool:
    try:
        return not isinstance(json.loads(raw), dict)
    except ValueError:
        return True


def _malformed(
    known: frozenset[str], invalid_objects: st.SearchStrategy[Any]
) -> st.SearchStrategy[bytes]:
    """Bodies no route may accept: an unknown field, a non-object, broken JSON, or a bad value."""
    unknown_key = st.text(min_size=1, max_size=12).filter(lambda key: key not in known)
    with_unknown = st.builds(
        lambda base, key, value: {**base, key: value},
        st.dictionaries(st.sampled_from(sorted(known)), _json_values, max_size=3),
        unknown_key,
        _json_values,
    )
    non_objects = _scalars | st.lists(_json_values, max_size=3)
    truncated = st.dictionaries(st.text(max_size=8), _json_values, min_size=1, max_size=3).map(
        lambda value: json.dumps(value).encode()[:-1]
    )
    garbage = st.binary(min_size=1, max_size=40).filter(_not_a_json_object)
    encoded = st.one_of(with_unknown, non_objects, invalid_objects).map(
        lambda value: json.dumps(value).encode()
    )
    return st.one_of(encoded, truncated, garbage)


_SITE_BODIES = _malformed(
    frozenset(SiteCreate.model_fields),
    st.one_of(
        st.dictionaries(st.sampled_from(["name", "kind", "domains"]), _json_values, max_size=3),
        st.builds(lambda code: {"code": code, "name": "North"},
                  _ascii_text.filter(lambda code: not SITE_CODE.fullmatch(code.strip()))),
    ),
)
_DEALER_BODIES = _malformed(
    frozenset(DealerCreate.model_fields),
    st.one_of(
        st.dictionaries(st.sampled_from(["name", "tier", "tags"]), _json_values, max_size=3),
        st.builds(lambda tier: {"code": "D-FUZZ", "name": "Fuzz", "tier": tier},
                  _ascii_text.filter(lambda t: t.strip().lower() not in set(DealerTier))),
    ),
)
_SETTINGS_BODIES = _malformed(
    frozenset(SiteSettings.model_fields),
    st.one_of(
        st.builds(lambda n: {"reservation_minutes": n},
                  st.integers().filter(lambda n: not 1 <= n <= 1440)),
        st.builds(lambda locale: {"locale": locale},
                  _ascii_text.filter(lambda value: not LOCALE.fullmatch(value))),
        st.builds(lambda amount: {"min_order_amount": str(amount)},
                  st.decimals(max_value=Decimal("-0.01"), allow_nan=False, places=2)),
        st.builds(lambda zone: {"timezone": zone},
                  _ascii_text.filter(lambda zone: not _is_time_zone(zone))),
    ),
)
_FUZZ = settings(
    max_examples=40, deadline=None, database=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _assert_refused_without_writing(
    response: Response, platform: Platform, before: dict[str, int]
) -> None:
    assert 400 <= response.status_code < 500, response.text
    _error(response)
    assert hq_row_counts(platform) == before


@_FUZZ
@given(raw=_SITE_BODIES)
def test_fuzzed_site_bodies_are_refused_with_the_error_model(
    raw: bytes, vintry_admin: TestClient, vintry_platform: Platform
) -> None:
    before = hq_row_counts(vintry_platform)
    response = vintry_admin.post("/api/v1/sites", content=raw, headers=JSON)
    _assert_refused_without_writing(response, vintry_platform, before)


@_FUZZ
@given(raw=_DEALER_BODIES)
def test_fuzzed_dealer_bodies_are_refused_with_the_error_model(
    raw: bytes, vintry_admin: TestClient, vintry_platform: Platform
) -> None:
    before = hq_row_counts(vintry_platform)
    response = vintry_admin.post("/api/v1/dealers", content=raw, headers=JSON)
    _assert_refused_without_writing(response, vintry_platform, before)


@_FUZZ
@given(raw=_SETTINGS_BODIES)
def test_fuzzed_settings_patches_are_refused_with_the_error_model(
    raw: bytes, vintry_admin: TestClient, vintry_platform: Platform
) -> None:
    before = hq_row_counts(vintry_platform)
    response = vintry_admin.patch("/api/v1/settings", content=raw, headers=JSON)
    _assert_refused_without_writing(response, vintry_platform, before)
