"""Importing the library from CSV (``vintry catalog import FILE.csv``).

One row per SKU, with its brand, category and product (columns in :data:`COLUMNS`, plus the
optional ``category_parent_code``). Rows are upserted by code through the same functions as
the API, so they are validated, refused and audited alike:

* a valid row is imported; a bad one is reported with its line number, the field at fault
  and why, and the others still go in (each row is its own savepoint);
* a row that defines a brand, category, product, SKU code or barcode differently from an
  earlier row of the file is refused, so one file cannot flip a value back and forth;
* an unchanged row writes nothing (no audit entry either), so a re-run reports every row
  ``unchanged``.

Money is read as decimal text (``1499`` or ``1499.00``) into ``Decimal`` and stored in
fen; no float is ever made of it.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vintry.accounts.principal import Actor
from vintry.catalog.models import Brand, Category, Product, Sku
from vintry.catalog.schemas import (
    Abv,
    Barcode,
    Batch,
    BrandCreate,
    BrandUpdate,
    CaseSize,
    CatalogCode,
    CategoryCreate,
    CategoryUpdate,
    Name,
    ProductCreate,
    ProductUpdate,
    SkuCreate,
    SkuUpdate,
    VolumeMl,
    Yuan,
)
from vintry.catalog.service import (
    LibraryWrite,
    add_brand,
    add_category,
    add_product,
    add_sku,
    change_brand,
    change_category,
    change_product,
    change_sku,
)
from vintry.errors import InvalidInput, VintryError
from vintry.money import to_fen
from vintry.platform import Platform
from vintry.sites.schemas import RequestModel

COLUMNS = (
    "brand_code",
    "brand_name",
    "category_code",
    "category_name",
    "product_code",
    "product_name",
    "sku_code",
    "sku_name",
    "volume_ml",
    "abv",
    "case_size",
    "barcode",
    "base_price",
    "batch",
    "best_before",
    "active",
)
"""The columns every catalog CSV has (in any order)."""
OPTIONAL_COLUMNS = ("category_parent_code",)
"""Columns a file may add: a category's parent, for nested categories."""

_YUAN_TEXT = re.compile(r"^[0-9]+(\.[0-9]{1,2})?$")
Outcome = Literal["created", "updated", "unchanged"]


class CatalogRow(RequestModel):
    """One validated CSV row: a SKU with its brand, category and product."""

    brand_code: CatalogCode
    brand_name: Name
    category_code: CatalogCode
    category_name: Name
    category_parent_code: CatalogCode | None = None
    product_code: CatalogCode
    product_name: Name
    sku_code: CatalogCode
    sku_name: Name
    volume_ml: VolumeMl
    abv: Abv
    case_size: CaseSize = 6
    barcode: Barcode | None = None
    base_price: Yuan
    batch: Batch | None = None
    best_before: date | None = None
    active: bool = True

    @field_validator("base_price", mode="before")
    @classmethod
    def _plain_yuan(cls, value: Any) -> Any:
        # Text such as "1,499", "¥1499" or "1e3" is refused rather than guessed at.
        if isinstance(value, str) and not _YUAN_TEXT.match(value):
            raise ValueError("write yuan as digits with at most two decimals, e.g. 1499.00")
        return value


@dataclass(frozen=True)
class NumberedRow:
    """A CSV row as text, with the line of the file it starts on."""

    line: int
    values: Mapping[str, str | None]


@dataclass(frozen=True)
class RowProblem:
    """Why one row was not imported."""

    line: int
    field: str | None
    reason: str
    sku: str | None = None

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"line {self.line}: {where}{self.reason}"


@dataclass
class ImportReport:
    """What an import did, row by row and object by object."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    objects_created: Counter[str] = field(default_factory=Counter)
    """Brands, categories, products and SKUs created, by kind."""

    @property
    def rejected(self) -> int:
        """Rows not imported."""
        return len(self.problems)

    @property
    def rows(self) -> int:
        """Rows read."""
        return self.created + self.updated + self.unchanged + self.rejected

    def counts(self) -> dict[str, int]:
        """Rows per outcome, in reporting order."""
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
        }


class RowRejected(Exception):
    """A row the file itself contradicts (found before touching the database)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


# --- reading --------------------------------------------------------------------------


def read_catalog_csv(path: Path) -> list[NumberedRow]:
    """Read a catalog CSV (UTF-8, with or without BOM) into numbered rows.

    The header must name every column of :data:`COLUMNS`; an unknown column refuses the
    whole file (422 ``invalid_csv``), as a misspelled one would otherwise be ignored.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return list(_numbered(csv.DictReader(handle), path.name))
    except UnicodeDecodeError as error:
        raise InvalidInput(
            f"{path.name} is not UTF-8 text (byte {error.start})", code="invalid_csv", field="file"
        ) from None
    except csv.Error as error:
        raise InvalidInput(f"{path.name}: {error}", code="invalid_csv", field="file") from None


def _numbered(reader: csv.DictReader[str], name: str) -> Iterable[NumberedRow]:
    header = [column.strip() for column in reader.fieldnames or ()]
    missing = [column for column in COLUMNS if column not in header]
    unknown = [c for c in header if c not in COLUMNS and c not in OPTIONAL_COLUMNS]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        raise InvalidInput(f"{name}: {'; '.join(parts)}", code="invalid_csv", field="header")
    reader.fieldnames = header
    last_line = reader.line_num
    for raw in reader:
        yield NumberedRow(last_line + 1, raw)
        last_line = reader.line_num


def bundled_catalog_rows() -> list[NumberedRow]:
    """The demo liquor catalog shipped with Vintry (``examples/catalog/liquor_catalog.csv``)."""
    source = resources.files("vintry.catalog").joinpath("liquor_catalog.csv")
    with resources.as_file(source) as path:
        return read_catalog_csv(path)


# --- validating -----------------------------------------------------------------------


def parse_row(row: NumberedRow) -> CatalogRow:
    """Validate one row; raises :class:`RowRejected` naming the first field at fault."""
    extra = row.values.get(None)  # type: ignore[call-overload]
    if extra:
        raise RowRejected("row", f"{len(extra)} more value(s) than the header has columns")
    present = {
        key: value.strip()
        for key, value in row.values.items()
        if key is not None and value is not None and value.strip() != ""
    }
    try:
        return CatalogRow.model_validate(present)
    except ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "row"
        if first["type"] == "missing":
            raise RowRejected(name, "is required") from None
        message = first["msg"].removeprefix("Value error, ")
        raise RowRejected(name, f"{present.get(name)!r}: {message}") from None


@dataclass
class _FileDefinitions:
    """What the accepted rows so far say each code is, and on which line."""

    brands: dict[str, tuple[str, int]] = field(default_factory=dict)
    categories: dict[str, tuple[str, str | None, int]] = field(default_factory=dict)
    products: dict[str, tuple[tuple[str, str, str], int]] = field(default_factory=dict)
    skus: dict[str, int] = field(default_factory=dict)
    barcodes: dict[str, tuple[str, int]] = field(default_factory=dict)

    def check(self, row: CatalogRow) -> None:
        """Refuse *row* if it contradicts an accepted row."""
        brand = self.brands.get(row.brand_code)
        if brand and brand[0] != row.brand_name:
            raise RowRejected(
                "brand_name",
                f"{row.brand_name!r} differs from {brand[0]!r} given for brand "
                f"{row.brand_code} on line {brand[1]}",
            )
        category = self.categories.get(row.category_code)
        if category and category[0] != row.category_name:
            raise RowRejected(
                "category_name",
                f"{row.category_name!r} differs from {category[0]!r} given for category "
                f"{row.category_code} on line {category[2]}",
            )
        if category and category[1] != row.category_parent_code:
            raise RowRejected(
                "category_parent_code",
                f"{row.category_parent_code!r} differs from {category[1]!r} given for category "
                f"{row.category_code} on line {category[2]}",
            )
        product = self.products.get(row.product_code)
        mine = (row.product_name, row.brand_code, row.category_code)
        if product and product[0] != mine:
            names = ("product_name", "brand_code", "category_code")
            at = next(i for i in range(3) if product[0][i] != mine[i])
            raise RowRejected(
                names[at],
                f"{mine[at]!r} differs from {product[0][at]!r} given for product "
                f"{row.product_code} on line {product[1]}",
            )
        if row.sku_code in self.skus:
            raise RowRejected(
                "sku_code", f"SKU {row.sku_code} already appears on line {self.skus[row.sku_code]}"
            )
        if row.barcode is not None and row.barcode in self.barcodes:
            holder, line = self.barcodes[row.barcode]
            raise RowRejected(
                "barcode", f"{row.barcode} is already SKU {holder}'s barcode on line {line}"
            )

    def accept(self, row: CatalogRow, line: int) -> None:
        """Record what *row* defines."""
        self.brands.setdefault(row.brand_code, (row.brand_name, line))
        self.categories.setdefault(
            row.category_code, (row.category_name, row.category_parent_code, line)
        )
        self.products.setdefault(
            row.product_code, ((row.product_name, row.brand_code, row.category_code), line)
        )
        self.skus[row.sku_code] = line
        if row.barcode is not None:
            self.barcodes[row.barcode] = (row.sku_code, line)


# --- importing ------------------------------------------------------------------------


def import_catalog(
    platform: Platform,
    rows: Iterable[NumberedRow | Mapping[str, str | None]],
    *,
    actor: Actor,
    on_row: Callable[[int], None] | None = None,
    batch_size: int = 500,
) -> ImportReport:
    """Upsert catalog *rows* by code; returns what happened to each.

    :param rows: :class:`NumberedRow` objects (see :func:`read_catalog_csv`), or plain
        mappings of column to text, numbered from line 2 as if under a header line.
    :param actor: who the audit log attributes the changes to.
    :param on_row: told each row's line once it is dealt with (progress bars).
    :param batch_size: rows per transaction.
    """
    numbered = [
        row if isinstance(row, NumberedRow) else NumberedRow(index + 2, row)
        for index, row in enumerate(rows)
    ]
    report = ImportReport()
    definitions = _FileDefinitions()
    accepted: list[tuple[int, CatalogRow]] = []
    for row in numbered:
        try:
            parsed = parse_row(row)
            definitions.check(parsed)
        except RowRejected as rejected:
            sku = row.values.get("sku_code") or None
            report.problems.append(RowProblem(row.line, rejected.field, rejected.reason, sku))
            if on_row is not None:
                on_row(row.line)
            continue
        definitions.accept(parsed, row.line)
        accepted.append((row.line, parsed))
    for start in range(0, len(accepted), batch_size):
        _import_batch(
            platform, accepted[start : start + batch_size], definitions, actor, report, on_row
        )
    report.problems.sort(key=lambda problem: problem.line)
    return report


@dataclass
class _Batch:
    """The objects a batch of rows names, loaded once, by code."""

    session: Session
    write: LibraryWrite
    definitions: _FileDefinitions
    brands: dict[str, Brand]
    categories: dict[str, Category]
    products: dict[str, Product]
    skus: dict[str, Sku]
    created: Counter[str] = field(default_factory=Counter)

    @classmethod
    def load(
        cls,
        session: Session,
        write: LibraryWrite,
        definitions: _FileDefinitions,
        rows: Sequence[CatalogRow],
    ) -> _Batch:
        brand_codes = {row.brand_code for row in rows}
        product_codes = {row.product_code for row in rows}
        sku_codes = {row.sku_code for row in rows}
        return cls(
            session=session,
            write=write,
            definitions=definitions,
            brands={
                b.code: b for b in session.scalars(select(Brand).where(Brand.code.in_(brand_codes)))
            },
            # The category tree is small and a row may name any of it (parents, cycles).
            categories={c.code: c for c in session.scalars(select(Category))},
            products={
                p.code: p
                for p in session.scalars(select(Product).where(Product.code.in_(product_codes)))
            },
            skus={s.code: s for s in session.scalars(select(Sku).where(Sku.code.in_(sku_codes)))},
        )

    def apply(self, row: CatalogRow) -> tuple[Outcome, dict[str, Any]]:
        """Upsert *row*; returns its outcome and the objects it created, by kind and code."""
        new: dict[str, Any] = {}
        changed = False
        brand = self.brands.get(row.brand_code)
        if brand is None:
            brand = add_brand(
                self.session, self.write, BrandCreate(code=row.brand_code, name=row.brand_name)
            )
            new[f"brand:{brand.code}"] = brand
        else:
            changed |= change_brand(
                self.session, self.write, brand, BrandUpdate(name=row.brand_name)
            )
        category, category_changed = self._category(row.category_code, new, ())
        changed |= category_changed
        product = self.products.get(row.product_code)
        if product is None:
            product = add_product(
                self.session,
                self.write,
                ProductCreate(
                    code=row.product_code,
                    name=row.product_name,
                    brand=brand.code,
                    category=category.code,
                ),
            )
            new[f"product:{product.code}"] = product
        else:
            changed |= change_product(
                self.session,
                self.write,
                product,
                ProductUpdate(name=row.product_name, brand=brand.code, category=category.code),
            )
        sku_fields: dict[str, Any] = {
            "product": product.code,
            "name": row.sku_name,
            "volume_ml": row.volume_ml,
            "abv": row.abv,
            "case_size": row.case_size,
            "barcode": row.barcode,
            "batch": row.batch,
            "best_before": row.best_before,
            "base_price": row.base_price,
            "active": row.active,
        }
        sku = self.skus.get(row.sku_code)
        if sku is None:
            sku = add_sku(self.session, self.write, SkuCreate(code=row.sku_code, **sku_fields))
            new[f"sku:{sku.code}"] = sku
            return "created", new
        if sku.base_price_fen != to_fen(row.base_price):
            # Lock the SKU against concurrent price and floor writes (PostgreSQL).
            self.session.execute(select(Sku.id).where(Sku.id == sku.id).with_for_update())
        changed |= change_sku(self.session, self.write, sku, SkuUpdate(**sku_fields))
        return ("updated" if changed or new else "unchanged"), new

    def _category(
        self, code: str, new: dict[str, Any], seen: tuple[str, ...]
    ) -> tuple[Category, bool]:
        """Category *code* as the file defines it, created or updated, parents first;
        returns it and whether an existing category changed."""
        name, parent_code, _line = self.definitions.categories[code]
        if code in seen:
            raise RowRejected(
                "category_parent_code", f"categories {' → '.join((*seen, code))} nest in a cycle"
            )
        changed = False
        if parent_code is not None and parent_code in self.definitions.categories:
            changed = self._category(parent_code, new, (*seen, code))[1]
        category = self.categories.get(code) or new.get(f"category:{code}")
        if category is None:
            category = add_category(
                self.session, self.write, CategoryCreate(code=code, name=name, parent=parent_code)
            )
            new[f"category:{code}"] = category
            return category, changed
        update = CategoryUpdate(name=name, parent=parent_code)
        return category, change_category(self.session, self.write, category, update) or changed

    def register(self, new: Mapping[str, Any]) -> None:
        """Remember objects a successful row created, for the rows after it."""
        known: dict[str, dict[str, Any]] = {
            "brand": self.brands,
            "category": self.categories,
            "product": self.products,
            "sku": self.skus,
        }
        for key, obj in new.items():
            kind, code = key.split(":", 1)
            self.created[kind] += 1
            known[kind][code] = obj


def _import_batch(
    platform: Platform,
    rows: Sequence[tuple[int, CatalogRow]],
    definitions: _FileDefinitions,
    actor: Actor,
    report: ImportReport,
    on_row: Callable[[int], None] | None,
) -> None:
    write = LibraryWrite.now(platform, actor)
    with platform.hq.transaction() as session:
        batch = _Batch.load(session, write, definitions, [row for _line, row in rows])
        for line, row in rows:
            try:
                with session.begin_nested():
                    outcome, new = batch.apply(row)
            except RowRejected as rejected:
                report.problems.append(
                    RowProblem(line, rejected.field, rejected.reason, row.sku_code)
                )
            except VintryError as error:
                report.problems.append(
                    RowProblem(line, _row_field(error.field), error.message, row.sku_code)
                )
            except IntegrityError:
                report.problems.append(
                    RowProblem(line, None, "conflicts with a change made meanwhile", row.sku_code)
                )
            else:
                batch.register(new)
                setattr(report, outcome, getattr(report, outcome) + 1)
            if on_row is not None:
                on_row(line)
        report.objects_created.update(batch.created)


_FIELD_TO_COLUMN = {
    "code": None,
    "name": None,
    "parent": "category_parent_code",
    "brand": "brand_code",
    "category": "category_code",
    "product": "product_code",
    "barcode": "barcode",
    "base_price": "base_price",
}


def _row_field(field_name: str | None) -> str | None:
    """The CSV column an API field error points at."""
    if field_name is None:
        return None
    return _FIELD_TO_COLUMN.get(field_name, field_name)
