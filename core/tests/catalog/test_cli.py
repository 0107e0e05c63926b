"""``vintry catalog import FILE.csv``, on the test platform's own databases (both backends)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import Result
from vintry.catalog.models import Sku
from vintry.platform import Platform

from .test_importer import GOOD, TOP, _csv

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "catalog" / "liquor_catalog.csv"
Invoke = Callable[..., Result]


def _skus(platform: Platform) -> int:
    with platform.hq.reading() as session:
        return session.scalar(select(func.count()).select_from(Sku)) or 0


def test_import_reports_counts_and_a_rerun_changes_nothing(
    platform_cli: Invoke, vintry_platform: Platform
) -> None:
    first = platform_cli("catalog", "import", str(EXAMPLE))
    rows = len(EXAMPLE.read_text(encoding="utf-8").splitlines()) - 1
    assert f"liquor_catalog.csv: {rows} row(s)" in first.stdout
    assert f"│ created   │ {rows:>5} │" in first.stdout
    assert "Created 4 brand(s), 4 category(s), 13 product(s), 41 sku(s)." in first.stdout
    assert "Done" in first.stdout and first.stderr == ""
    assert _skus(vintry_platform) == rows
    again = platform_cli("catalog", "import", str(EXAMPLE))
    assert f"│ unchanged │ {rows:>5} │" in again.stdout
    assert "│ created   │     0 │" in again.stdout and "Created" not in again.stdout


def test_bad_rows_are_named_on_stderr_and_the_exit_status_is_1(
    platform_cli: Invoke, vintry_platform: Platform, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(
        _csv([TOP, {**GOOD, "sku_code": "CS-X", "barcode": "", "base_price": "abc"}]),
        encoding="utf-8",
    )
    result = platform_cli("catalog", "import", str(path), expect=1)
    assert "rejected line 3 (SKU CS-X): base_price: 'abc':" in result.stderr
    assert "1 row(s) rejected" in result.stdout
    assert _skus(vintry_platform) == 1


def test_a_file_that_cannot_be_read_is_one_clear_error(
    platform_cli: Invoke, tmp_path: Path
) -> None:
    path = tmp_path / "columns.csv"
    path.write_text("sku_code,name\nA,B\n", encoding="utf-8")
    result = platform_cli("catalog", "import", str(path), expect=1)
    assert "error invalid_csv: columns.csv: missing column(s) brand_code" in result.stderr
    assert "Traceback" not in result.stderr
    platform_cli("catalog", "import", str(tmp_path / "absent.csv"), expect=2)
