"""HQ's product library over the API: brands, nested categories, products, SKUs.

Money crosses as Decimal yuan strings and is stored in fen; unknown fields and bad values
are refused by name; duplicates and dangling references get their own codes; every change
is audited on the root site with the record before and after it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient
from vintry.audit.models import AuditEntry
from vintry.catalog.models import Brand, Sku
from vintry.platform import Platform

from .conftest import EAST, WEST, Tree, audit_entries, error_of, row_count

FEITIAN_500 = {
    "code": "FT-500",
    "product": "FEITIAN",
    "name": "Feitian 53% 500 ml",
    "volume_ml": 500,
    "abv": "53.0",
    "case_size": 6,
    "barcode": "6901234567892",
    "batch": "2024B11",
    "best_before": "2030-12-31",
    "base_price": "1499.00",
}


def _seed(admin: TestClient) -> None:
    for path, body in (
        ("brands", {"code": "MT", "name": "Maotai"}),
        ("categories", {"code": "BAIJIU", "name": "Baijiu"}),
        ("categories", {"code": "SAUCE-AROMA", "name": "Sauce aroma", "parent": "BAIJIU"}),
        ("products", {"code": "FEITIAN", "name": "Feitian", "brand": "MT",
                      "category": "SAUCE-AROMA", "tags": ["flagship", "banquet", "flagship"]}),
        ("skus", FEITIAN_500),
    ):
        response = admin.post(f"/api/v1/catalog/{path}", json=body)
        assert response.status_code == 201, response.text


def test_admin_builds_the_library_and_reads_it_back(
    vintry_admin: TestClient, vintry_platform: Platform
) -> None:
    _seed(vintry_admin)
    sku = vintry_admin.get("/api/v1/catalog/skus/FT-500").json()
    assert sku | {"updated_at": None} == {
        **FEITIAN_500, "brand": "MT", "category": "SAUCE-AROMA", "active": True,
        "updated_at": None,
    }
    assert sku["updated_at"] == "2026-01-01T00:00:00Z"
    with vintry_platform.hq.reading() as session:
        assert session.scalar(select(Sku.base_price_fen).where(Sku.code == "FT-500")) == 149_900
    product = vintry_admin.get("/api/v1/catalog/products/FEITIAN").json()
    assert product["tags"] == ["banquet", "flagship"]
    assert vintry_admin.get("/api/v1/catalog/categories/SAUCE-AROMA").json() == {
        "code": "SAUCE-AROMA", "name": "Sauce aroma", "parent": "BAIJIU",
    }
    assert vintry_admin.get("/api/v1/catalog/brands").json() == [{"code": "MT", "name": "Maotai"}]

    entries = audit_entries(vintry_platform)
    created = [(e.action, e.object_id) for e in entries if e.object_type != "site"]
    assert created[-5:] == [
        ("brand.create", "MT"), ("category.create", "BAIJIU"),
        ("category.create", "SAUCE-AROMA"), ("product.create", "FEITIAN"),
        ("sku.create", "FT-500"),
    ]
    sku_entry = entries[-1]
    assert sku_entry.before is None and sku_entry.after is not None
    assert sku_entry.after["base_price"] == "1499.00" and sku_entry.actor == "admin"
    root = vintry_platform.directory().root
    assert root is not None and {e.site_id for e in entries[-5:]} == {root.id}


def test_prices_are_decimal_yuan_never_rounded_through_float(vintry_admin: TestClient) -> None:
    _seed(vintry_admin)
    for given, shown in ((1299.9, "1299.90"), ("0.10", "0.10"), (99, "99.00")):
        response = vintry_admin.patch("/api/v1/catalog/skus/FT-500", json={"base_price": given})
        assert response.status_code == 200, response.text
        assert response.json()["base_price"] == shown
    error = error_of(
        vintry_admin.patch("/api/v1/catalog/skus/FT-500", json={"base_price": "12.345"}),
        422, "validation_failed",
    )
    assert error["field"] == "body.base_price"
    error = error_of(
        vintry_admin.patch("/api/v1/catalog/skus/FT-500", json={"base_price": -1}),
        422, "validation_failed",
    )
    assert error["field"] == "body.base_price"


def test_patch_changes_only_what_it_names_and_audits_before_and_after(
    vintry_admin: TestClient, vintry_platform: Platform
) -> None:
    _seed(vintry_admin)
    changed = vintry_admin.patch(
        "/api/v1/catalog/skus/FT-500", json={"base_price": "1599", "barcode": None, "active": False}
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["base_price"], body["barcode"], body["active"], body["batch"]) == (
        "1599.00", None, False, "2024B11"
    )
    [entry] = audit_entries(vintry_platform, "sku.update")
    assert entry.before is not None and entry.after is not None
    assert {k: (entry.before[k], entry.after[k]) for k in entry.before
            if entry.before[k] != entry.after[k]} == {
        "base_price": ("1499.00", "1599.00"),
        "barcode": ("6901234567892", None),
        "active": (True, False),
    }
    # Nothing new: no audit entry.
    again = vintry_admin.patch("/api/v1/catalog/skus/FT-500", json={"active": False})
    assert again.status_code == 200
    assert vintry_admin.patch("/api/v1/catalog/brands/MT", json={}).status_code == 200
    assert len(audit_entries(vintry_platform, "sku.update")) == 1
    assert audit_entries(vintry_platform, "brand.update") == []


def test_duplicates_and_dangling_references_have_their_own_codes(
    vintry_admin: TestClient, vintry_platform: Platform
) -> None:
    _seed(vintry_admin)
    before = row_count(vintry_platform, AuditEntry)
    cases: list[tuple[str, dict[str, Any], int, str, str]] = [
        ("brands", {"code": "MT", "name": "Again"}, 409, "brand_exists", "code"),
        ("categories", {"code": "BAIJIU", "name": "Again"}, 409, "category_exists", "code"),
        ("categories", {"code": "NEW", "name": "N", "parent": "NOPE"}, 404,
         "category_not_found", "parent"),
        ("products", {"code": "FEITIAN", "name": "F", "brand": "MT", "category": "BAIJIU"}, 409,
         "product_exists", "code"),
        ("products", {"code": "P2", "name": "F", "brand": "NOPE", "category": "BAIJIU"}, 404,
         "brand_not_found", "brand"),
        ("products", {"code": "P2", "name": "F", "brand": "MT", "category": "NOPE"}, 404,
         "category_not_found", "category"),
        ("skus", FEITIAN_500, 409, "sku_exists", "code"),
        ("skus", {**FEITIAN_500, "code": "FT-1000"}, 409, "barcode_exists", "barcode"),
        ("skus", {**FEITIAN_500, "code": "FT-1000", "barcode": None, "product": "NOPE"}, 404,
         "product_not_found", "product"),
    ]
    for path, body, status, code, field in cases:
        error = error_of(vintry_admin.post(f"/api/v1/catalog/{path}", json=body), status, code)
        assert error["field"] == field, (path, error)
    for path, code in (
        ("brands/NOPE", "brand_not_found"), ("categories/NOPE", "category_not_found"),
        ("products/NOPE", "product_not_found"), ("skus/NOPE", "sku_not_found"),
    ):
        error_of(vintry_admin.get(f"/api/v1/catalog/{path}"), 404, code)
        error_of(vintry_admin.patch(f"/api/v1/catalog/{path}", json={}), 404, code)
    assert row_count(vintry_platform, AuditEntry) == before


def test_unknown_fields_nulls_and_bad_values_are_refused_by_name(
    vintry_admin: TestClient, vintry_platform: Platform
) -> None:
    _seed(vintry_admin)
    cases: list[tuple[str, str, dict[str, Any], str, str]] = [
        ("POST", "brands", {"code": "X1", "name": "X", "country": "CN"}, "body.country",
         "unknown_field"),
        ("PATCH", "skus/FT-500", {"price": "1.00"}, "body.price", "unknown_field"),
        ("PATCH", "skus/FT-500", {"name": None}, "body.name", "invalid_value"),
        ("PATCH", "products/FEITIAN", {"brand": None}, "body.brand", "invalid_value"),
        ("POST", "skus", {**FEITIAN_500, "code": "ft-lower"}, "body.code", "invalid_value"),
        ("POST", "skus", {**FEITIAN_500, "code": "A2", "barcode": "69-01"}, "body.barcode",
         "invalid_value"),
        ("POST", "skus", {**FEITIAN_500, "code": "A2", "abv": "153"}, "body.abv", "invalid_value"),
        ("POST", "skus", {**FEITIAN_500, "code": "A2", "case_size": 0}, "body.case_size",
         "invalid_value"),
        ("POST", "skus", {**FEITIAN_500, "code": "A2", "best_before": "2030-02-30"},
         "body.best_before", "invalid_value"),
    ]
    for method, path, body, field, code in cases:
        error = error_of(
            vintry_admin.request(method, f"/api/v1/catalog/{path}", json=body),
            422, "validation_failed",
        )
        assert {"field": field, "code": code} in [
            {"field": p["field"], "code": p["code"]} for p in error["details"]["errors"]
        ], (path, error)
    assert row_count(vintry_platform, Sku) == 1
    assert row_count(vintry_platform, Brand) == 1


def test_categories_nest_and_never_in_themselves(vintry_admin: TestClient) -> None:
    _seed(vintry_admin)
    vintry_admin.post("/api/v1/catalog/categories",
                      json={"code": "MOUTAI-TOWN", "name": "Town", "parent": "SAUCE-AROMA"})
    for parent in ("MOUTAI-TOWN", "SAUCE-AROMA"):
        error = error_of(
            vintry_admin.patch("/api/v1/catalog/categories/SAUCE-AROMA", json={"parent": parent}),
            422, "category_cycle",
        )
        assert error["field"] == "parent"
    top = vintry_admin.patch("/api/v1/catalog/categories/SAUCE-AROMA", json={"parent": None})
    assert top.json()["parent"] is None
    listed = vintry_admin.get("/api/v1/catalog/categories").json()
    assert [(c["code"], c["parent"]) for c in listed] == [
        ("BAIJIU", None), ("MOUTAI-TOWN", "SAUCE-AROMA"), ("SAUCE-AROMA", None),
    ]


def test_sku_listing_filters_and_pages_by_code(vintry_admin: TestClient) -> None:
    _seed(vintry_admin)
    vintry_admin.post("/api/v1/catalog/categories",
                      json={"code": "LIGHT-AROMA", "name": "Light", "parent": "BAIJIU"})
    vintry_admin.post("/api/v1/catalog/brands", json={"code": "FJ", "name": "Fenjiu"})
    vintry_admin.post("/api/v1/catalog/products", json={
        "code": "QINGHUA", "name": "Qinghua", "brand": "FJ", "category": "LIGHT-AROMA"})
    for code, active in (("QH-20", True), ("QH-30", False)):
        response = vintry_admin.post("/api/v1/catalog/skus", json={
            **FEITIAN_500, "code": code, "product": "QINGHUA", "name": f"Qinghua {code}",
            "barcode": None, "active": active})
        assert response.status_code == 201, response.text

    def codes(query: str) -> list[str]:
        response = vintry_admin.get(f"/api/v1/catalog/skus{query}")
        assert response.status_code == 200, response.text
        return [sku["code"] for sku in response.json()]

    assert codes("") == ["FT-500", "QH-20", "QH-30"]
    assert codes("?category=BAIJIU") == ["FT-500", "QH-20", "QH-30"]
    assert codes("?category=LIGHT-AROMA&active=true") == ["QH-20"]
    assert codes("?brand=MT") == ["FT-500"]
    assert codes("?q=qinghua") == ["QH-20", "QH-30"]
    assert codes("?q=nothing%20like%20it") == []
    assert codes("?q=QH-3") == ["QH-30"]
    assert codes("?q=6901234567892") == ["FT-500"]
    assert codes("?limit=2") == ["FT-500", "QH-20"]
    assert codes("?after=QH-20") == ["QH-30"]
    error = error_of(vintry_admin.get("/api/v1/catalog/skus?brand=NOPE"), 404, "brand_not_found")
    assert error["field"] == "query.brand"


def test_every_role_reads_the_library_only_hq_writes_it(tree: Tree) -> None:
    admin = tree.admin()
    _seed(admin)
    for client in (tree.operator(EAST), tree.dealer(WEST)):
        assert client.get("/api/v1/catalog/skus/FT-500").status_code == 200
        error_of(client.post("/api/v1/catalog/brands", json={"code": "X", "name": "X"}), 403,
                 "permission_denied")
        error_of(client.patch("/api/v1/catalog/skus/FT-500", json={}), 403, "permission_denied")
    # The library is one: HQ's administrator changes it from any site it addresses.
    east_admin = tree.admin(EAST)
    assert east_admin.patch("/api/v1/catalog/brands/MT", json={"name": "Moutai"}).status_code == 200
    assert admin.get("/api/v1/catalog/brands/MT").json()["name"] == "Moutai"
