"""Importing the library from CSV: valid rows in, bad rows named by line and field, a re-run
changes nothing, and prices arrive exactly as written."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from vintry.audit.models import AuditEntry
from vintry.catalog.importer import (
    COLUMNS,
    NumberedRow,
    bundled_catalog_rows,
    import_catalog,
    read_catalog_csv,
)
from vintry.catalog.models import Category, Sku
from vintry.catalog.pricing import set_price_floor
from vintry.catalog.schemas import FloorSet
from vintry.errors import InvalidInput
from vintry.platform import Platform

from .conftest import ACTOR, audit_entries, row_count

REPO = Path(__file__).resolve().parents[3]

GOOD: dict[str, str] = {
    "brand_code": "CHISHUI",
    "brand_name": "赤水河谷 Chishui Valley",
    "category_code": "SAUCE-AROMA",
    "category_name": "酱香型 Sauce aroma",
    "category_parent_code": "BAIJIU",
    "product_code": "CS-FLAGSHIP",
    "product_name": "飞云 Feiyun",
    "sku_code": "CS-A",
    "sku_name": "飞云 53% 500ml",
    "volume_ml": "500",
    "abv": "53.0",
    "case_size": "6",
    "barcode": "6972410000014",
    "base_price": "1499.00",
    "batch": "2024B11",
    "best_before": "",
    "active": "true",
}
TOP = {
    **GOOD, "category_code": "BAIJIU", "category_name": "白酒 Baijiu",
    "category_parent_code": "", "product_code": "CS-SET", "product_name": "Tasting set",
}


def _csv(rows: list[dict[str, str]], columns: tuple[str, ...] | None = None) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns or (*COLUMNS, "category_parent_code"),
                            lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _write(tmp_path: Path, text: str, name: str = "catalog.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _fen(platform: Platform, code: str) -> int | None:
    with platform.hq.reading() as session:
        return session.scalar(select(Sku.base_price_fen).where(Sku.code == code))


def test_the_bundled_catalog_imports_once_and_a_rerun_changes_nothing(
    vintry_platform: Platform,
) -> None:
    rows = bundled_catalog_rows()
    assert 38 <= len(rows) <= 45
    lines: list[int] = []
    report = import_catalog(vintry_platform, rows, actor=ACTOR, on_row=lines.append)
    assert report.problems == []
    assert report.counts() == {"created": len(rows), "updated": 0, "unchanged": 0, "rejected": 0}
    assert dict(report.objects_created) == {
        "brand": 4, "category": 4, "product": 13, "sku": len(rows)
    }
    assert lines == list(range(2, len(rows) + 2))
    assert _fen(vintry_platform, "CS-FY-53-500") == 149_900
    assert _fen(vintry_platform, "FY-PB-42-475") == 9_900
    with vintry_platform.hq.reading() as session:
        parents = dict(session.execute(select(Category.code, Category.parent_id)).all())
        ids = dict(session.execute(select(Category.code, Category.id)).all())
        assert parents["SAUCE-AROMA"] == ids["BAIJIU"] and parents["BAIJIU"] is None
        inactive = session.scalars(select(Sku.code).where(Sku.active.is_(False))).all()
        assert inactive == ["CS-ZD-53-500-2024"]

    audited = row_count(vintry_platform, AuditEntry)
    again = import_catalog(vintry_platform, bundled_catalog_rows(), actor=ACTOR)
    assert again.counts() == {"created": 0, "updated": 0, "unchanged": len(rows), "rejected": 0}
    assert row_count(vintry_platform, AuditEntry) == audited


def test_the_example_file_is_the_one_vintry_ships() -> None:
    example = REPO / "examples" / "catalog" / "liquor_catalog.csv"
    shipped = REPO / "core" / "src" / "vintry" / "catalog" / "liquor_catalog.csv"
    assert example.read_bytes() == shipped.read_bytes()


def test_bad_rows_are_reported_by_line_and_field_and_the_good_ones_imported(
    vintry_platform: Platform, tmp_path: Path
) -> None:
    rows = [
        GOOD,                                                             # line 2
        {**GOOD, "sku_code": "B1", "barcode": "", "base_price": "12.345"},  # 3
        {**GOOD, "sku_code": "B2", "barcode": "", "base_price": "1,299"},  # 4
        {**GOOD, "sku_code": "B3", "barcode": "", "sku_name": ""},        # 5
        {**GOOD, "sku_code": "B4", "barcode": "", "abv": "120"},          # 6
        {**GOOD, "sku_code": "B5", "barcode": "69ABC"},                   # 7
        {**GOOD, "sku_code": "B6", "barcode": "", "best_before": "2027-13-01"},  # 8
        {**GOOD, "sku_code": "B7", "barcode": "", "brand_name": "Another name"},  # 9
        {**GOOD, "barcode": ""},                                          # 10: CS-A again
        {**GOOD, "sku_code": "B8", "barcode": "", "active": "maybe"},     # 11
        {**TOP, "sku_code": "CS-B", "barcode": "", "base_price": "1299.9"},  # 12: good
        {**GOOD, "sku_code": "B9", "barcode": "", "category_code": "ODD",
         "category_parent_code": "NOPE", "product_code": "P-ODD"},       # 13
        {**GOOD, "sku_code": "B10", "barcode": "", "brand_code": "OTHER"},  # 14
        {**GOOD, "sku_code": "CS-C", "barcode": "", "sku_name": "two\nlines",
         "base_price": "19.99"},                                         # 15-16: good
        {**GOOD, "sku_code": "B11", "barcode": "6972410000014"},          # 17: taken barcode
    ]
    path = _write(tmp_path, _csv(rows))
    report = import_catalog(vintry_platform, read_catalog_csv(path), actor=ACTOR)
    assert report.counts() == {"created": 3, "updated": 0, "unchanged": 0, "rejected": 12}
    assert [(p.line, p.field, p.sku) for p in report.problems] == [
        (3, "base_price", "B1"), (4, "base_price", "B2"), (5, "sku_name", "B3"),
        (6, "abv", "B4"), (7, "barcode", "B5"), (8, "best_before", "B6"),
        (9, "brand_name", "B7"), (10, "sku_code", "CS-A"), (11, "active", "B8"),
        (13, "category_parent_code", "B9"), (14, "brand_code", "B10"), (17, "barcode", "B11"),
    ]
    reasons = {p.line: p.reason for p in report.problems}
    assert "'12.345'" in reasons[3] and "two decimals" in reasons[3]
    assert reasons[5] == "is required"
    assert "differs from '赤水河谷 Chishui Valley'" in reasons[9] and "line 2" in reasons[9]
    assert reasons[10] == "SKU CS-A already appears on line 2"
    assert "'NOPE'" in reasons[13]
    assert "line 2" in reasons[17] and "CS-A" in reasons[17]
    assert str(report.problems[0]).startswith("line 3: base_price: ")
    assert _fen(vintry_platform, "CS-B") == 129_990
    assert _fen(vintry_platform, "CS-C") == 1_999
    with vintry_platform.hq.reading() as session:
        assert session.scalar(select(Sku.name).where(Sku.code == "CS-C")) == "two\nlines"
        codes = session.scalars(select(Sku.code).order_by(Sku.code)).all()
    assert codes == ["CS-A", "CS-B", "CS-C"]
    assert row_count(vintry_platform, Category) == 2  # SAUCE-AROMA and BAIJIU; not ODD

    again = import_catalog(vintry_platform, read_catalog_csv(path), actor=ACTOR)
    assert again.counts() == {"created": 0, "updated": 0, "unchanged": 3, "rejected": 12}


def test_a_changed_row_is_updated_and_audited_and_only_it(
    vintry_platform: Platform, tmp_path: Path
) -> None:
    rows = [GOOD, {**TOP, "sku_code": "CS-B", "barcode": ""}]
    import_catalog(vintry_platform, rows, actor=ACTOR)
    changed = [{**GOOD, "base_price": "1599", "batch": ""}, rows[1]]
    report = import_catalog(vintry_platform, changed, actor=ACTOR)
    assert report.counts() == {"created": 0, "updated": 1, "unchanged": 1, "rejected": 0}
    [entry] = audit_entries(vintry_platform, "sku.update")
    assert entry.object_id == "CS-A" and entry.actor == ACTOR.name
    assert entry.before is not None and entry.after is not None
    assert (entry.before["base_price"], entry.after["base_price"]) == ("1499.00", "1599.00")
    assert (entry.before["batch"], entry.after["batch"]) == ("2024B11", None)

    renamed = [
        {**GOOD, "base_price": "1599", "batch": "", "brand_name": "Chishui"},
        {**rows[1], "brand_name": "Chishui"},
    ]
    report = import_catalog(vintry_platform, renamed, actor=ACTOR)
    # The brand changed on the first row; the second row finds it already renamed.
    assert report.counts() == {"created": 0, "updated": 1, "unchanged": 1, "rejected": 0}


def test_a_base_price_below_a_floor_is_refused_for_that_row_only(
    vintry_platform: Platform,
) -> None:
    top_level = {**GOOD, "category_parent_code": ""}
    assert import_catalog(vintry_platform, [top_level], actor=ACTOR).created == 1
    set_price_floor(vintry_platform, "hq", "CS-A", FloorSet(min_price=Decimal("1400")), actor=ACTOR)
    report = import_catalog(
        vintry_platform,
        [{**top_level, "base_price": "1299"}, {**top_level, "sku_code": "CS-D", "barcode": ""}],
        actor=ACTOR,
    )
    assert report.counts() == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 1}
    [problem] = report.problems
    assert (problem.line, problem.field, problem.sku) == (2, "base_price", "CS-A")
    assert "1400.00" in problem.reason
    assert _fen(vintry_platform, "CS-A") == 149_900


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_csv([GOOD], tuple(c for c in COLUMNS if c != "abv")), "missing column(s) abv"),
        (_csv([{**GOOD, "colour": "red"}], (*COLUMNS, "category_parent_code", "colour")),
         "unknown column(s) colour"),
    ],
    ids=["missing", "unknown"],
)
def test_a_file_with_wrong_columns_is_refused_whole(
    text: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput) as refused:
        read_catalog_csv(_write(tmp_path, text))
    assert refused.value.code == "invalid_csv" and message in refused.value.message


def test_text_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes(_csv([GOOD]).encode("gbk"))
    with pytest.raises(InvalidInput) as refused:
        read_catalog_csv(path)
    assert refused.value.code == "invalid_csv" and "UTF-8" in refused.value.message


def test_extra_values_and_plain_mappings(vintry_platform: Platform, tmp_path: Path) -> None:
    top_level = {**GOOD, "category_parent_code": ""}
    text = _csv([top_level]) + ",".join(["x"] * (len(COLUMNS) + 3)) + "\n"
    rows = read_catalog_csv(_write(tmp_path, text))
    assert [row.line for row in rows] == [2, 3]
    report = import_catalog(vintry_platform, rows, actor=ACTOR)
    assert [(p.line, p.field) for p in report.problems] == [(3, "row")]
    plain: list[Any] = [{**top_level, "sku_code": "CS-E", "barcode": ""}, {**GOOD, "abv": "x"}]
    report = import_catalog(vintry_platform, plain, actor=ACTOR)
    assert [(p.line, p.field) for p in report.problems] == [(3, "abv")]
    assert isinstance(rows[0], NumberedRow)
