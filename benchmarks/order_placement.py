"""Order placement: placements of a 10-line order per second over HTTP against a bare FastAPI
endpoint on the same stack, SQL statements per placed order and duplicates among them, and
order numbers that stay unique across worker processes.

Run: ``.venv/bin/python benchmarks/order_placement.py [--quick] [--postgres URL] [--workers N]``

1. A world on a temporary SQLite data directory (``synchronous=FULL``, checked with PRAGMA):
   ``vintry.bootstrap.initialise``, one region, 10 SKUs with plenty of stock in the region's
   warehouse, N dealers with tokens.
2. In process: the statements of a placement, counted by a ``before_cursor_execute``
   listener on every engine (HQ and site), per ASGI request (``create_app`` + httpx2
   ``ASGITransport``) and per ``place_order()`` call: statements per order, the top
   statements (normalised), duplicates (the same text with the same parameters twice in one
   placement), transactions per order. Timed against a one-UPDATE write transaction.
3. Over real HTTP: ``uvicorn vintry.api.app:create_app --factory`` (``--workers``, default 1)
   and a bare FastAPI app (one ``def`` route, in a temporary module) under the same uvicorn
   flags. Interleaved chunks of ``POST /api/v1/orders`` (a unique Idempotency-Key each),
   ``GET /bare`` and ``GET /health/live``, from a few keep-alive clients; each case bounded
   by a count and a time budget. The ratio placements/s ÷ bare requests/s is the headline.
4. Order numbers across processes: a short phase on ``--workers 2``; every number returned
   and every number in HQ checked for uniqueness.
5. With ``--postgres URL``: parts 2 and 3 again on PostgreSQL (a schema per site, in a
   scratch database dropped at the end).

The last line of stdout is one JSON object with the SQLite figures: ``placements_per_s``,
``bare_requests_per_s``, ``ratio``, ``statements_per_order``, ``duplicate_statements``
(per order).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import _common as c
from rich.table import Table

SKU_COUNT = 10
STOCK_PER_SKU = 100_000_000
REGION = "east"
BASELINE = "bare FastAPI  GET /bare"
PLACE = "POST /api/v1/orders  (10 lines)"
LIVE = "vintry  GET /health/live"
PLACE_ONE = "POST /api/v1/orders  (10 lines, 1 client)"
TARGET_RATIO = 0.15
TARGET_STATEMENTS = 10
BARE_APP = '''\
"""A bare FastAPI app: one route, no middleware, no database (the benchmark's baseline)."""

from fastapi import FastAPI


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/bare")
    def bare() -> dict[str, str]:
        return {"status": "ok"}

    return app
'''


# --- the world ---------------------------------------------------------------------------


@dataclass
class World:
    """A populated platform and what requests need to address it."""

    platform: Any
    backend: str
    env: dict[str, str]
    skus: list[str]
    dealers: list[tuple[int, str]]
    """(dealer id, bearer token)."""
    setup_seconds: float
    pragmas: dict[str, str] = field(default_factory=dict)

    @property
    def body(self) -> bytes:
        """The request body of a 10-line order."""
        lines = [{"sku": code, "quantity": 1} for code in self.skus]
        return json.dumps({"lines": lines}, separators=(",", ":")).encode()


def build_world(platform: Any, backend: str, env: dict[str, str], dealers: int) -> World:
    """Initialise, add a region, 10 SKUs stocked in its warehouse, and *dealers* dealers."""
    from sqlalchemy import select
    from vintry.accounts.models import Role
    from vintry.accounts.schemas import TokenCreate, UserCreate
    from vintry.accounts.service import create_user, find_user, issue_token
    from vintry.bootstrap import initialise
    from vintry.catalog.models import Brand, Category, Product, Sku
    from vintry.dealers.models import Dealer, DealerTier
    from vintry.dealers.schemas import DealerCreate
    from vintry.dealers.service import create_dealer
    from vintry.inventory import stock
    from vintry.inventory.models import Warehouse
    from vintry.sites.models import SiteKind
    from vintry.sites.schemas import SiteCreate
    from vintry.sites.service import create_site

    actor = c.bench_actor()
    began = time.perf_counter()
    initialise(platform, actor=actor)
    root = platform.directory().root
    region = create_site(
        platform,
        parent_code=root.code,
        request=SiteCreate(
            code=REGION, name="East", kind=SiteKind.REGION, domains=["east.bench.localhost"]
        ),
        actor=actor,
    )
    now = platform.clock.now()
    codes = [f"BJ-{n:02d}" for n in range(1, SKU_COUNT + 1)]
    with platform.hq.transaction() as session:
        brand, category = Brand(code="MT", name="Maotai"), Category(code="BAIJIU", name="Baijiu")
        session.add_all([brand, category])
        session.flush()
        product = Product(
            code="FEITIAN", name="Feitian", brand_id=brand.id, category_id=category.id, tags=[]
        )
        warehouse = Warehouse(
            code="WH-E1",
            name="East 1",
            city="Shanghai",
            region_site_id=region.id,
            latitude=Decimal("31.2304"),
            longitude=Decimal("121.4737"),
            priority=1,
        )
        session.add_all([product, warehouse])
        session.flush()
        skus = [
            Sku(
                code=code,
                product_id=product.id,
                name=f"Feitian {code}",
                volume_ml=500,
                abv=Decimal("53.0"),
                case_size=6,
                base_price_fen=149_900 + n,
                updated_at=now,
            )
            for n, code in enumerate(codes)
        ]
        session.add_all(skus)
        session.flush()
        for sku in skus:
            stock.receive(
                session,
                warehouse_id=warehouse.id,
                sku_id=sku.id,
                quantity=STOCK_PER_SKU,
                now=now,
            )
    tokens: list[tuple[int, str]] = []
    for n in range(1, dealers + 1):
        code = f"D-{n:04d}"
        create_dealer(
            platform,
            REGION,
            DealerCreate(code=code, name=f"Dealer {n}", tier=DealerTier.SILVER),
            actor=actor,
        )
        username = f"dealer-{n:04d}"
        create_user(
            platform,
            UserCreate(
                username=username,
                display_name=username,
                role=Role.DEALER,
                site=REGION,
                dealer=code,
            ),
            default_site=REGION,
            actor=actor,
        )
        with platform.hq.transaction() as session:
            token = issue_token(
                platform,
                find_user(session, username),
                TokenCreate(name="bench", expires_in_days=3650),
                session=session,
                actor=actor,
            ).token
            dealer_id = session.scalar(select(Dealer.id).where(Dealer.code == code))
        tokens.append((int(dealer_id), token))
    world = World(platform, backend, env, codes, tokens, time.perf_counter() - began)
    if platform.hq.backend == "sqlite":
        with platform.hq.engine.connect() as connection:
            for pragma in ("synchronous", "journal_mode"):
                world.pragmas[pragma] = str(connection.exec_driver_sql(f"PRAGMA {pragma}").scalar())
    return world


def server_env(settings: Any) -> dict[str, str]:
    """The environment of a server child using *settings*' databases (no other VINTRY_*)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VINTRY_")}
    env["VINTRY_DATA_DIR"] = str(settings.data_dir)
    if settings.hq_database_url:
        env["VINTRY_HQ_DATABASE_URL"] = settings.hq_database_url
    if settings.site_database_url:
        env["VINTRY_SITE_DATABASE_URL"] = settings.site_database_url
    return env


# --- in process: statements and time per placement -------------------------------------


@dataclass
class InProcess:
    """What part 2 measured on one backend."""

    backend: str
    timings: dict[str, c.Stats]
    request: list[c.LoggedOperation]
    """One operation per POST /api/v1/orders through the ASGI app."""
    service: list[c.LoggedOperation]
    """One operation per place_order() call."""
    scans: dict[str, list[str]] = field(default_factory=dict)
    """SQLite: normalised statement → the tables its plan scans in full."""


def _probe_write(platform: Any, workdir: Path) -> tuple[Callable[[], None], Callable[[], None]]:
    """A one-UPDATE durable write transaction (and its cleanup) on HQ's backend and disk."""
    from sqlalchemy import text
    from vintry.db.databases import Database

    if platform.hq.backend == "sqlite":
        probe = Database(f"sqlite:///{workdir / 'probe.db'}")
    else:
        probe = platform.hq
    with probe.transaction() as session:
        session.execute(
            text("CREATE TABLE IF NOT EXISTS vtb_probe (id INTEGER PRIMARY KEY, n INT)")
        )
        session.execute(text("DELETE FROM vtb_probe"))
        session.execute(text("INSERT INTO vtb_probe (id, n) VALUES (1, 0)"))

    def write() -> None:
        with probe.transaction() as session:
            session.execute(text("UPDATE vtb_probe SET n = n + 1 WHERE id = 1"))

    def cleanup() -> None:
        with probe.transaction() as session:
            session.execute(text("DROP TABLE vtb_probe"))
        if probe is not platform.hq:
            probe.dispose()

    return write, cleanup


async def measure_in_process(
    world: World, workdir: Path, *, count: int, seconds: float, counted: int
) -> InProcess:
    """Time placements (service and ASGI) against a write transaction; then count SQL."""
    import httpx2
    from vintry.api import create_app
    from vintry.orders.placement import place_order
    from vintry.orders.schemas import PlaceOrder

    platform = world.platform
    app = create_app(platform)
    body = world.body
    request_model = PlaceOrder.model_validate_json(body)
    keys = itertools.count()
    run = uuid.uuid4().hex[:8]
    write, cleanup = _probe_write(platform, workdir)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:

        async def via_asgi() -> None:
            n = next(keys)
            _dealer_id, token = world.dealers[n % len(world.dealers)]
            response = await client.post(
                f"/sites/{REGION}/api/v1/orders",
                content=body,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Idempotency-Key": f"ip-{run}-{n}",
                    "Content-Type": "application/json",
                },
            )
            if response.status_code != 201:
                raise RuntimeError(f"placement: {response.status_code} {response.text[:300]}")

        async def via_service() -> None:
            n = next(keys)
            dealer_id, _token = world.dealers[n % len(world.dealers)]
            result = place_order(
                platform,
                site_code=REGION,
                dealer_id=dealer_id,
                request=request_model,
                idempotency_key=f"sv-{run}-{n}",
                raw_body=request_model.model_dump_json().encode(),
            )
            if result.status != 201:
                raise RuntimeError(f"place_order: {result.status} {result.body[:300]!r}")

        async def write_txn() -> None:
            write()

        cases = {
            "write transaction, 1 UPDATE (baseline)": write_txn,
            "place_order()  (service, no HTTP)": via_service,
            "POST /api/v1/orders  (ASGI, in process)": via_asgi,
        }
        try:
            timings = await c.interleave_async(cases, count=count, seconds=seconds, batch=5)
        finally:
            cleanup()

        # Counting is separate from timing: the listener slows every statement down.
        requests = await _count(platform, via_asgi, counted)
        service = await _count(platform, via_service, counted)
    scans = explain_scans(world, requests)
    return InProcess(world.backend, timings, requests, service, scans)


async def _count(platform: Any, call: Callable[[], Any], times: int) -> list[c.LoggedOperation]:
    """The statements of *times* sequential awaits of *call*, one operation each."""
    pool = platform.hq.engine.pool
    log = c.StatementLog(lambda engine: "hq" if engine.pool is pool else "site")
    with log.listening():
        for _ in range(times):
            with log.operation():
                await call()
    return log.operations


async def count_requests(world: World, counted: int) -> list[c.LoggedOperation]:
    """The statements of *counted* POST /api/v1/orders through the ASGI app."""
    import httpx2
    from vintry.api import create_app

    platform = world.platform
    run = uuid.uuid4().hex[:8]
    pool = platform.hq.engine.pool
    log = c.StatementLog(lambda engine: "hq" if engine.pool is pool else "site")
    transport = httpx2.ASGITransport(app=create_app(platform))
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        with log.listening():
            for n in range(counted + 2):
                _dealer_id, token = world.dealers[n % len(world.dealers)]
                headers = {
                    "Authorization": f"Bearer {token}",
                    "Idempotency-Key": f"again-{run}-{n}",
                    "Content-Type": "application/json",
                }
                if n < 2:  # a fresh app: warm it outside the count
                    await client.post(
                        f"/sites/{REGION}/api/v1/orders", content=world.body, headers=headers
                    )
                    continue
                with log.operation():
                    response = await client.post(
                        f"/sites/{REGION}/api/v1/orders", content=world.body, headers=headers
                    )
                if response.status_code != 201:
                    raise RuntimeError(f"placement: {response.status_code} {response.text[:300]}")
    return log.operations


_SCAN = re.compile(r"^SCAN ([A-Za-z_]\w*)(?!.*CONSTANT ROW)")


def explain_scans(world: World, operations: list[c.LoggedOperation]) -> dict[str, list[str]]:
    """SQLite only: the statements (normalised) whose query plan scans a whole table that
    grows with every order (one the placement inserts into).

    Each distinct statement is re-run once under ``EXPLAIN QUERY PLAN`` with the
    parameters it was sent with (a plan is computed, nothing is executed)."""
    if world.platform.hq.backend != "sqlite" or not operations:
        return {}
    from vintry.db.engines import READ_ONLY_OPTION

    engines = {
        "hq": world.platform.hq.engine,
        "site": world.platform.site_database(REGION).engine,
    }
    # Only tables the placement itself inserts into: they grow with every order.
    growing = {
        m.group(1)
        for statement in operations[-1].data_statements()
        if (m := re.match(r"\s*INSERT INTO (\w+)", statement.text, re.IGNORECASE))
    }
    found: dict[str, list[str]] = {}
    seen: set[str] = set()
    for statement in operations[-1].data_statements():
        key = statement.normalised
        if key in seen or isinstance(statement.raw_parameters, list):
            continue
        seen.add(key)
        if statement.text.lstrip().upper().startswith("INSERT"):
            continue
        engine = engines[statement.database].execution_options(**{READ_ONLY_OPTION: True})
        with engine.connect() as connection:
            plan = connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement.text, statement.raw_parameters or ()
            ).all()
        tables = [
            m.group(1) for row in plan if (m := _SCAN.match(str(row[-1]))) and m.group(1) in growing
        ]
        if tables:
            found[key] = tables
    return found


def table_rows(world: World, tables: set[str]) -> dict[str, int]:
    """Row counts of HQ *tables* (names taken from query plans)."""
    from sqlalchemy import text

    counts = {}
    with world.platform.hq.reading() as session:
        for table in sorted(tables):
            if re.fullmatch(r"\w+", table):
                counts[table] = int(
                    session.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0
                )
    return counts


def _per_order(operations: list[c.LoggedOperation]) -> dict[str, float]:
    n = len(operations) or 1
    transactions: Counter[tuple[str, bool]] = Counter()
    for op in operations:
        transactions.update(op.transactions)
    return {
        "statements": sum(len(op.data_statements()) for op in operations) / n,
        "with_control": sum(len(op.statements) for op in operations) / n,
        "duplicates": sum(sum(op.duplicates().values()) for op in operations) / n,
        "checkouts": sum(op.checkouts for op in operations) / n,
        "writes": sum(v for (_, w), v in transactions.items() if w) / n,
        "reads": sum(v for (_, w), v in transactions.items() if not w) / n,
        "write_hq": transactions[("hq", True)] / n,
        "write_site": transactions[("site", True)] / n,
        "seconds_in_sql": sum(s.seconds for op in operations for s in op.data_statements()) / n,
    }


@dataclass
class StatementGroup:
    """Statements with one normalised text on one database, over all counted placements."""

    database: str
    writing: bool
    text: str
    sends: int = 0
    rows: int = 0
    seconds: float = 0.0
    duplicates: int = 0


def statement_groups(operations: list[c.LoggedOperation]) -> list[StatementGroup]:
    """Every distinct (database, normalised text), most sent first."""
    groups: dict[tuple[str, bool, str], StatementGroup] = {}
    for op in operations:
        dup_keys = op.duplicates()
        for s in op.data_statements():
            key = (s.database, s.writing, s.normalised)
            group = groups.setdefault(key, StatementGroup(s.database, s.writing, s.normalised))
            group.sends += 1
            group.rows += s.rows
            group.seconds += s.seconds
        for (database, text, _params), extra in dup_keys.items():
            normalised = c.normalise_sql(text)
            for (d, _w, t), group in groups.items():
                if d == database and t == normalised:
                    group.duplicates += extra
                    break
    return sorted(groups.values(), key=lambda g: (-g.sends, g.database, g.text))


def _short(text: str, width: int = 96) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def report_in_process(result: InProcess) -> None:
    """Print part 2's tables for one backend."""
    c.console.print(
        c.stats_table(
            f"Time per placement, in process ({result.backend}), one caller",
            list(result.timings.values()),
            baseline="write transaction, 1 UPDATE (baseline)",
            caption="Baseline: one durable write transaction (BEGIN, one UPDATE, COMMIT) on "
            "the same backend and disk, interleaved with the placements.",
        )
    )
    table = Table(
        title=f"SQL per placed order ({result.backend}): counted over "
        f"{len(result.request)} placements each",
        title_justify="left",
        caption="Statements exclude transaction control (BEGIN …), counted separately as "
        "transactions. A duplicate is the same text with the same parameters sent again within "
        "one placement. Pool checkouts on PostgreSQL each add a pre-ping round trip.",
        caption_justify="left",
    )
    for column in (
        "path",
        "statements",
        f"target ≤{TARGET_STATEMENTS}",
        "duplicates",
        "write txns (hq/site)",
        "read txns",
        "pool checkouts",
        "time in SQL",
    ):
        table.add_column(column, justify="left" if column == "path" else "right")
    for name, ops in (
        ("POST /api/v1/orders (ASGI)", result.request),
        ("place_order() only", result.service),
    ):
        f = _per_order(ops)
        table.add_row(
            name,
            f"{f['statements']:g}",
            "met" if f["statements"] <= TARGET_STATEMENTS else "[red]missed[/]",
            f"{f['duplicates']:g}",
            f"{f['writes']:g} ({f['write_hq']:g}/{f['write_site']:g})",
            f"{f['reads']:g}",
            f"{f['checkouts']:g}",
            c.fmt_duration(f["seconds_in_sql"]),
        )
    c.console.print(table)

    n = len(result.request) or 1
    breakdown = Table(
        title=f"Statements of one POST /api/v1/orders ({result.backend}), per order, "
        "most sent first",
        title_justify="left",
        caption="db: hq or site; w = inside a write transaction, r = read-only. "
        "Text normalised: one placeholder style, IN lists and multi-row VALUES folded.",
        caption_justify="left",
    )
    for column in ("#", "db", "per order", "rows", "dup", "time", "statement"):
        breakdown.add_column(column, justify="left" if column in ("db", "statement") else "right")
    for index, group in enumerate(statement_groups(result.request), start=1):
        breakdown.add_row(
            str(index),
            f"{group.database}·{'w' if group.writing else 'r'}",
            f"{group.sends / n:g}",
            f"{group.rows / n:g}",
            f"{group.duplicates / n:g}" if group.duplicates else "",
            c.fmt_duration(group.seconds / n),
            _short(group.text),
        )
    c.console.print(breakdown)
    dups = Counter[tuple[str, str]]()
    for op in result.request:
        for (database, text, _params), extra in op.duplicates().items():
            dups[(database, c.normalise_sql(text))] += extra
    for (database, text), extra in dups.most_common():
        c.finding(
            f"duplicate on {database}: sent again with the same parameters "
            f"{extra / n:g}× per order: {_short(text, 110)}"
        )
    for text, tables in result.scans.items():
        c.finding(
            f"full scan of {', '.join(sorted(set(tables)))} (SQLite EXPLAIN QUERY PLAN), a table "
            f"that grows with every order, on every order: {_short(text, 100)}"
        )


def report_growth(
    before: InProcess,
    rows_before: dict[str, int],
    after: list[c.LoggedOperation],
    rows_after: dict[str, int],
) -> None:
    """Time per order of the statements that scan a table, early and after the load."""
    if not before.scans or not after:
        return

    def per_order(operations: list[c.LoggedOperation], text: str) -> float:
        seconds = sum(
            s.seconds for op in operations for s in op.data_statements() if s.normalised == text
        )
        return seconds / len(operations)

    table = Table(
        title="Statements that scan a whole table (SQLite plan): time per order as the table grows",
        title_justify="left",
        caption="Counted in process, one caller: first before the HTTP load, then after it. "
        "A scan inside the HQ write transaction lengthens the time every writer waits.",
        caption_justify="left",
    )
    for column in ("statement", "scans", "rows then", "time then", "rows now", "time now", "×"):
        table.add_column(column, justify="left" if column in ("statement", "scans") else "right")
    for text, tables in before.scans.items():
        then, now = per_order(before.request, text), per_order(after, text)
        name = sorted(set(tables))[0]
        table.add_row(
            _short(text, 70),
            ", ".join(sorted(set(tables))),
            f"{rows_before.get(name, 0):,}",
            c.fmt_duration(then),
            f"{rows_after.get(name, 0):,}",
            c.fmt_duration(now),
            c.fmt_ratio(now / then) if then else "-",
        )
    sql_then = _per_order(before.request)["seconds_in_sql"]
    sql_now = _per_order(after)["seconds_in_sql"]
    table.add_row(
        "all statements of a placement",
        "",
        "",
        c.fmt_duration(sql_then),
        "",
        c.fmt_duration(sql_now),
        c.fmt_ratio(sql_now / sql_then) if sql_then else "-",
    )
    c.console.print(table)


# --- ranked list of statements to merge or remove ----------------------------------------


@dataclass(frozen=True)
class Remedy:
    """A rule: statements whose text matches *pattern*, and what could replace them."""

    name: str
    pattern: str
    keep: float
    """Statements left per order after the change (0 = removed)."""
    how: str
    in_lock: bool = False
    """Saved inside the HQ write transaction (SQLite: holds the single writer lock)."""
    own_transaction: bool = False
    """Each saved statement is also a session of its own: a pool checkout, BEGIN and
    COMMIT (and a pre-ping round trip on PostgreSQL)."""
    saves_commit: bool = False
    """The change also removes a durable write transaction (an fsync at FULL)."""

    def weight(self, saved: float) -> float:
        """The ranking score of saving *saved* statements per order."""
        per = 2 if (self.in_lock or self.own_transaction) else 1
        return saved * per + (10 if self.saves_commit else 0)


REMEDIES = (
    Remedy(
        "per-SKU reservation UPDATEs",
        r"^UPDATE stock SET reserved=",
        1,
        "one `UPDATE stock SET reserved = stock.reserved + v.q FROM (VALUES …) AS v(w, s, q) "
        "WHERE (warehouse_id, sku_id) = (v.w, v.s) AND on_hand - reserved >= v.q` (SQLite ≥ "
        "3.33 has UPDATE … FROM); fewer rows updated than holds → out of stock, roll back",
        in_lock=True,
    ),
    Remedy(
        "one INSERT … RETURNING per order line",
        r"^INSERT INTO order_lines .*RETURNING",
        1,
        "on SQLite SQLAlchemy sends `insert().returning(…, sort_by_parameter_order=True)` "
        "one row at a time (no implicit sentinel): drop sort_by_parameter_order and map the "
        "ids by `RETURNING id, line_no` — one multi-row INSERT",
        in_lock=True,
    ),
    Remedy(
        "one INSERT … RETURNING per reservation",
        r"^INSERT INTO reservations .*RETURNING",
        1,
        "same cause: `RETURNING id, warehouse_id, sku_id` without sort_by_parameter_order, "
        "mapped by (warehouse, SKU) — one multi-row INSERT",
        in_lock=True,
    ),
    Remedy(
        "change-counter reads (Platform.refresh)",
        r"FROM change_counters",
        1,
        "authorize's refresh() is the one needed: pass scope.directory/site into "
        "place_order and on to price_lines, offered_at, resolve_configuration and the "
        "claims close instead of platform.site()/directory() again (each a new session)",
        own_transaction=True,
    ),
    Remedy(
        "empty claims close on the site database",
        r"^UPDATE resource_claims",
        0,
        "skip _close_claims when no plugin claimed anything: saves a site write "
        "transaction and its durable commit on every order without claims",
        saves_commit=True,
    ),
    Remedy(
        "idempotency record in its own durable transaction",
        r"^INSERT INTO idempotency_records",
        1,
        "insert it inside the order transaction instead (the unique (scope, key) makes a "
        "concurrent duplicate wait, then replay): saves one durable commit; costs a "
        "duplicate's claims made and released, and departs from ARCHITECTURE §5 "
        "'record first' — or group-commit several orders' records",
        saves_commit=True,
    ),
    Remedy(
        "expired-hold sweep before the reservation",
        r"^UPDATE reservations SET status=.*expires_at <=",
        0,
        "available() (same transaction) already sums the expired holds per row: run the "
        "sweep only when it found some. On SQLite (no ANALYZE statistics) its row-value "
        "`IN (VALUES …)` is planned as a scan of all reservations, slower with every order: "
        "add `warehouse_id IN (…) AND sku_id IN (…)` beside it so ix_reservations_hold is used",
        in_lock=True,
    ),
    Remedy(
        "settings resolution (reservation_minutes)",
        r"FROM site_setting_overrides",
        0,
        "cache resolved site settings per (site, counters version) like the plugin state; "
        "today a separate session per order",
        own_transaction=True,
    ),
    Remedy(
        "assortment hides, site prices, floors: 3 reads",
        r"FROM (assortment_hides|site_prices|price_floors)",
        0,
        "fold into the SKU query as LEFT JOINs on the path's site ids (one statement), or "
        "cache a price book per (site, version)",
    ),
    Remedy(
        "allocations duplicate the reservations",
        r"^INSERT INTO order_allocations",
        0,
        "a reservation already has order (reference), warehouse, SKU and quantity: give it "
        "line_id and drop the separate allocation insert (or store allocations on the line)",
        in_lock=True,
    ),
    Remedy(
        "warehouse ids, then warehouse rows",
        r"^SELECT warehouses\.id FROM warehouses",
        0,
        "select the Warehouse rows once (the ids come with them), outside the write "
        "transaction or cached per site",
        in_lock=True,
    ),
    Remedy(
        "dealer row read",
        r"FROM dealers WHERE dealers\.id = \?",
        0,
        "authenticate() already joins the user: select the dealer's code/tier/tags/active "
        "there and hand a DealerView to the route",
    ),
)


def _ranking(operations: list[c.LoggedOperation]) -> list[tuple[Remedy, float, float, float]]:
    """(remedy, statements now per order, saved per order, seconds now per order), ranked."""
    n = len(operations) or 1
    groups = statement_groups(operations)
    found = []
    for remedy in REMEDIES:
        pattern = re.compile(remedy.pattern, re.IGNORECASE)
        matched = [g for g in groups if pattern.search(g.text)]
        now = sum(g.sends for g in matched) / n
        if now == 0:
            continue
        seconds = sum(g.seconds for g in matched) / n
        saved = max(0.0, now - remedy.keep)
        if saved > 0 or remedy.saves_commit:
            found.append((remedy, now, saved, seconds))
    found.sort(key=lambda item: (-item[0].weight(item[2]), -item[3]))
    return found


def report_ranking(result: InProcess) -> None:
    """Print the ranked list of statements that could be merged or removed."""
    n = len(result.request) or 1
    total = _per_order(result.request)["statements"]
    ranked = _ranking(result.request)
    table = Table(
        title=f"What could be merged or removed ({result.backend}), ranked by expected gain",
        title_justify="left",
        caption="Score: statements saved, ×2 inside the HQ write transaction (they hold "
        "the writer lock) or when each is a session of its own; +10 for a saved durable commit "
        "(an fsync at synchronous=FULL). 'after' = statements per order left once this and "
        "every change above it are made.",
        caption_justify="left",
    )
    for column in ("#", "what", "now/order", "saves", "time now", "after", "how"):
        table.add_column(column, justify="left" if column in ("what", "how") else "right")
    left = total
    for index, (remedy, now, saved, seconds) in enumerate(ranked, start=1):
        left -= saved
        gain = f"{saved:g}" + (" +commit" if remedy.saves_commit else "")
        table.add_row(
            str(index),
            remedy.name + (" [dim](in write lock)[/]" if remedy.in_lock else ""),
            f"{now:g}",
            gain,
            c.fmt_duration(seconds),
            f"{left:g}",
            remedy.how,
        )
    c.console.print(table)
    unmatched = [
        g
        for g in statement_groups(result.request)
        if not any(re.search(r.pattern, g.text, re.IGNORECASE) for r in REMEDIES)
    ]
    if unmatched:
        c.note(
            "kept as they are (needed once per order): "
            + "; ".join(f"{_short(g.text, 48)} ×{g.sends / n:g}" for g in unmatched)
        )


# --- real HTTP -----------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection with a minimal client (little client CPU, so
    the server, not the client, sets the pace on a shared 2-core machine)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = False
        self.reconnects = 0
        """Requests sent again on a new connection because the server had closed an idle
        keep-alive one (uvicorn's keep-alive timeout) before reading them."""

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        """Send one request; return (status, body)."""
        reused = self.writer is not None and self.used
        try:
            return await self._send(raw)
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            partial = getattr(error, "partial", b"")
            if not reused or partial:
                raise
            # The server closed the idle connection before it read the request (nothing
            # came back): send it again on a fresh connection, as HTTP clients do.
            self.reconnects += 1
            return await self._send(raw)

    async def _send(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.used = False
        assert self.reader is not None
        try:
            self.writer.write(raw)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length, close = 0, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
                elif name == b"transfer-encoding":
                    raise RuntimeError("chunked responses are not supported by this client")
            body = await self.reader.readexactly(length) if length else b""
        except BaseException:
            await self.close()
            raise
        self.used = True
        if close:
            await self.close()
        return status, body

    async def close(self) -> None:
        """Close the socket (reopened by the next send)."""
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def get_request(path: str) -> bytes:
    """A GET request's bytes."""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


class PlacementRequests:
    """POST /api/v1/orders requests: a 10-line body, a unique Idempotency-Key each, the
    dealers' tokens in turn; with *close*, a new connection each (so that the requests
    spread over several worker processes)."""

    def __init__(self, world: World, label: str, *, close: bool = False) -> None:
        body = world.body
        self.head = (
            f"POST /sites/{REGION}/api/v1/orders HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            + ("Connection: close\r\n" if close else "")
        ).encode()
        self.body = body
        self.tokens = [token for _, token in world.dealers]
        self.prefix = f"{label}-{uuid.uuid4().hex[:8]}"
        self.numbers = itertools.count()

    def __call__(self) -> bytes:
        n = next(self.numbers)
        token = self.tokens[n % len(self.tokens)]
        return (
            self.head
            + f"Authorization: Bearer {token}\r\n".encode()
            + f"Idempotency-Key: {self.prefix}-{n}\r\n\r\n".encode()
            + self.body
        )


def _process_tree(pid: int) -> list[int]:
    """*pid* and its descendants (Linux /proc)."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                stack.extend(int(p) for p in task.read_text().split())
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process *pid* (all threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Uvicorn:
    """``python -m uvicorn APP --factory`` on a free loopback port, as a child process."""

    _LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")

    def __init__(
        self,
        name: str,
        app: str,
        env: dict[str, str],
        log_path: Path,
        *,
        workers: int,
        ready_path: str,
        app_dir: Path | None = None,
    ) -> None:
        self.name, self.workers, self.ready_path = name, workers, ready_path
        self.log_path = log_path
        self.port = 0
        command = [sys.executable, "-m", "uvicorn", app, "--factory"]
        command += ["--host", "127.0.0.1", "--port", "0", "--workers", str(workers)]
        command += ["--no-access-log", "--log-level", "info"]
        if app_dir is not None:
            command += ["--app-dir", str(app_dir)]
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            command, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait for the listening line, then for the ready path to answer 200 (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.port:
            found = self._LISTENING.search(self.log_path.read_text(errors="replace"))
            if found:
                self.port = int(found.group(1))
            elif self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            else:
                time.sleep(0.05)  # reading the child's log, bounded by the deadline

        async def probe() -> bool:
            connection = Connection(self.port)
            try:
                status, _ = await connection.send(get_request(self.ready_path))
                return status == 200
            except OSError:
                return False
            finally:
                await connection.close()

        while self.port and time.monotonic() < deadline:
            # With several workers each must have started: the log says so per process.
            started = self.log_text().count("Application startup complete")
            if asyncio.run(probe()) and (self.workers <= 1 or started >= self.workers):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def log_text(self) -> str:
        """The child's output so far."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 25) -> str:
        """The end of the child's output."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def cpu(self) -> float:
        """CPU seconds of the server and its worker processes."""
        return sum(cpu_seconds(pid) for pid in _process_tree(self.process.pid))

    def worker_cpu(self) -> dict[int, float]:
        """CPU seconds per worker process (the server itself when it has no workers)."""
        tree = _process_tree(self.process.pid)
        workers = [pid for pid in tree[1:] if "resource_tracker" not in _cmdline(pid)]
        return {pid: cpu_seconds(pid) for pid in workers or tree[:1]}

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s (only this child, by its pid)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


@dataclass
class Case:
    """One kind of request against one server."""

    name: str
    server: Uvicorn
    request: Callable[[], bytes]
    expect: int
    count: int
    keep_bodies: bool = False
    clients: int | None = None
    """Connections for this case (the run's concurrency if None)."""


@dataclass
class Load:
    """One case under load."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: Counter[int] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    wall: float = 0.0
    server_cpu: float = 0.0
    reconnects: int = 0
    chunks: list[tuple[int, float]] = field(default_factory=list)
    """(expected answers, seconds) of each chunk, in order."""

    def rate_of(self, part: slice) -> float:
        """Expected answers per second over a slice of the chunks."""
        chosen = self.chunks[part]
        seconds = sum(s for _, s in chosen)
        return sum(n for n, _ in chosen) / seconds if seconds else math.nan

    @property
    def done(self) -> int:
        """Requests answered as expected."""
        return len(self.latencies)

    @property
    def failed(self) -> int:
        """Requests answered otherwise (or not at all)."""
        return sum(self.errors.values())

    @property
    def throughput(self) -> float:
        """Expected answers per second of wall time."""
        return self.done / self.wall if self.wall else math.nan


async def http_load(
    cases: list[Case], *, concurrency: int, seconds: float, chunk_seconds: float = 0.5
) -> dict[str, Load]:
    """The cases in turn, round robin, a chunk at a time, until each reaches its count or
    *seconds* of load (or 50 failures). Chunks are sized to last about *chunk_seconds*."""
    loads = {case.name: Load(case.name) for case in cases}
    connections = {
        case.name: [Connection(case.server.port) for _ in range(case.clients or concurrency)]
        for case in cases
    }
    rate: dict[str, float] = {}

    async def run_chunk(case: Case, load: Load, n: int) -> None:
        remaining = n

        async def worker(connection: Connection) -> None:
            nonlocal remaining
            while remaining > 0 and load.failed < 50:
                remaining -= 1
                raw = case.request()
                began = time.perf_counter()
                try:
                    status, body = await connection.send(raw)
                except (OSError, asyncio.IncompleteReadError, RuntimeError) as error:
                    status, body = 0, repr(error).encode()
                if status == case.expect:
                    load.latencies.append(time.perf_counter() - began)
                    if case.keep_bodies:
                        load.bodies.append(body)
                else:
                    load.errors[status] += 1
                    if len(load.error_samples) < 3:
                        load.error_samples.append(f"{status} {body[:200].decode(errors='replace')}")

        await asyncio.gather(*(worker(conn) for conn in connections[case.name]))

    try:
        for case in cases:  # warm every connection and the server's caches
            began = time.perf_counter()
            await run_chunk(case, Load(case.name), 5 * concurrency)
            rate[case.name] = 5 * concurrency / max(time.perf_counter() - began, 1e-6)
        deadline = time.monotonic() + seconds * len(cases) + 15
        turn = 0
        while time.monotonic() < deadline:
            pending = [
                case
                for case in cases
                if loads[case.name].done + loads[case.name].failed < case.count
                and loads[case.name].wall < seconds
                and loads[case.name].failed < 50
            ]
            if not pending:
                break
            turn += 1
            start = turn % len(pending)
            for case in pending[start:] + pending[:start]:
                load = loads[case.name]
                size = max(case.clients or concurrency, int(rate[case.name] * chunk_seconds))
                n = min(size, case.count - load.done - load.failed)
                cpu_before, began, done_before = case.server.cpu(), time.perf_counter(), load.done
                await run_chunk(case, load, n)
                elapsed = time.perf_counter() - began
                load.chunks.append((load.done - done_before, elapsed))
                load.wall += elapsed
                load.server_cpu += case.server.cpu() - cpu_before
                rate[case.name] = n / max(elapsed, 1e-6)
    finally:
        for name, conns in connections.items():
            for connection in conns:
                loads[name].reconnects += connection.reconnects
                await connection.close()
    return loads


@dataclass
class HttpResult:
    """Part 3 on one backend."""

    backend: str
    workers: int
    concurrency: int
    loads: dict[str, Load]

    @property
    def placements_per_s(self) -> float:
        """Placed orders per second."""
        return self.loads[PLACE].throughput

    @property
    def bare_per_s(self) -> float:
        """Bare endpoint requests per second."""
        return self.loads[BASELINE].throughput

    @property
    def ratio(self) -> float:
        """Placements/s ÷ bare requests/s."""
        return self.placements_per_s / self.bare_per_s if self.bare_per_s else math.nan


def report_http(result: HttpResult) -> None:
    """Print the HTTP table of one backend."""
    base = result.loads[BASELINE]
    base_cpu = base.server_cpu / base.done if base.done else math.nan
    table = Table(
        title=f"Real HTTP ({result.backend}): uvicorn --workers {result.workers} on 127.0.0.1, "
        f"{result.concurrency} keep-alive clients per case, cases interleaved",
        title_justify="left",
        caption="req/s = expected answers (201 / 200) per second of wall time. 'server CPU/req' "
        "sums the server's processes from /proc (10 ms ticks); its ratio is steadier than req/s "
        "because the clients share the 2 cores with the server.",
        caption_justify="left",
    )
    for column in (
        "case",
        "requests",
        "req/s",
        "÷ baseline",
        "median",
        "p95",
        "p99",
        "server CPU/req",
        "CPU ÷ baseline",
    ):
        table.add_column(column, justify="left" if column == "case" else "right")
    for name, load in result.loads.items():
        cpu = load.server_cpu / load.done if load.done else math.nan
        is_base = load is base
        table.add_row(
            name,
            f"{load.done}" + (f" ({load.failed} err)" if load.failed else ""),
            c.fmt_rate(load.throughput),
            "baseline" if is_base else f"{load.throughput / base.throughput:.3f}",
            c.fmt_duration(c.percentile(load.latencies, 50)),
            c.fmt_duration(c.percentile(load.latencies, 95)),
            c.fmt_duration(c.percentile(load.latencies, 99)),
            c.fmt_duration(cpu),
            "baseline" if is_base else c.fmt_ratio(cpu / base_cpu),
        )
    c.console.print(table)
    for load in result.loads.values():
        if load.failed:
            c.finding(
                f"{load.name}: {load.failed} unexpected answers {dict(load.errors)}; e.g. "
                + " | ".join(load.error_samples)
            )
    reconnects = {name: load.reconnects for name, load in result.loads.items() if load.reconnects}
    if reconnects:
        c.note(
            "sent again on a new connection after the server closed an idle keep-alive one "
            f"(not errors): {reconnects}"
        )
    place = result.loads[PLACE]
    quarter = max(1, len(place.chunks) // 4)
    if len(place.chunks) >= 4:
        first, last = place.rate_of(slice(0, quarter)), place.rate_of(slice(-quarter, None))
        c.note(
            f"placements/s over the first quarter of the chunks: {c.fmt_rate(first)}, over the "
            f"last: {c.fmt_rate(last)} ({c.fmt_ratio(last / first)}); the HQ tables grow as "
            "orders are placed."
        )
    ratio = result.ratio
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    place_cpu = place.server_cpu / place.done if place.done else math.nan
    c.note(
        f"ratio placements/s ÷ bare req/s = {ratio:.3f} ({verdict} the target ≥ {TARGET_RATIO}); "
        f"the same ratio by server CPU per request: {base_cpu / place_cpu:.3f}."
    )


# --- order numbers across workers -----------------------------------------------------------


@dataclass
class NumbersCheck:
    """Part 4's outcome."""

    placed: int
    errors: int
    throughput: float
    returned_unique: bool
    hq_orders: int
    hq_distinct: int
    missing_in_hq: int
    same_millisecond: int
    worker_cpu: dict[int, float]
    workers: int

    @property
    def ok(self) -> bool:
        """Every number unique, every returned number in HQ, no failed placement."""
        return (
            self.returned_unique
            and self.hq_orders == self.hq_distinct
            and self.missing_in_hq == 0
            and self.errors == 0
        )


def check_numbers(
    world: World, server: Uvicorn, *, concurrency: int, seconds: float, count: int
) -> NumbersCheck:
    """Place orders through several workers; every number must be unique, in HQ too."""
    from sqlalchemy import func, select
    from vintry.orders.models import Order

    before = server.worker_cpu()
    case = Case(
        PLACE, server, PlacementRequests(world, "w2", close=True), 201, count, keep_bodies=True
    )
    loads = asyncio.run(http_load([case], concurrency=concurrency, seconds=seconds))
    load = loads[PLACE]
    after = server.worker_cpu()
    numbers = [json.loads(body)["number"] for body in load.bodies]
    with world.platform.hq.reading() as session:
        total = session.scalar(select(func.count()).select_from(Order)) or 0
        distinct = session.scalar(select(func.count(func.distinct(Order.number)))) or 0
        stored = set(session.scalars(select(Order.number)))
    stamps = Counter(number[:12] for number in stored)
    return NumbersCheck(
        placed=len(numbers),
        errors=load.failed,
        throughput=load.throughput,
        returned_unique=len(set(numbers)) == len(numbers),
        hq_orders=int(total),
        hq_distinct=int(distinct),
        missing_in_hq=len(set(numbers) - stored),
        same_millisecond=sum(n for n in stamps.values() if n > 1),
        worker_cpu={pid: after.get(pid, 0.0) - before.get(pid, 0.0) for pid in after},
        workers=server.workers,
    )


def report_numbers(check: NumbersCheck) -> None:
    """Print part 4."""
    table = Table(
        title=f"Order numbers across {check.workers} worker processes (SQLite)",
        title_justify="left",
    )
    for column in ("check", "value", "verdict"):
        table.add_column(column, justify="left" if column != "value" else "right")
    busy = [pid for pid, cpu in check.worker_cpu.items() if cpu > 0.05]
    rows = [
        (
            "placed in this phase (201)",
            f"{check.placed}",
            "" if not check.errors else f"{check.errors} failed",
        ),
        ("placements/s with 2 workers", c.fmt_rate(check.throughput), ""),
        (
            "workers that served (CPU > 50 ms)",
            f"{len(busy)} of {len(check.worker_cpu)}",
            "ok" if len(busy) >= 2 else "[yellow]one worker did all the work[/]",
        ),
        (
            "returned numbers unique",
            str(check.returned_unique),
            "ok" if check.returned_unique else "[red]DUPLICATE[/]",
        ),
        (
            "orders in HQ / distinct numbers",
            f"{check.hq_orders} / {check.hq_distinct}",
            "ok" if check.hq_orders == check.hq_distinct else "[red]DUPLICATE[/]",
        ),
        (
            "returned numbers missing in HQ",
            str(check.missing_in_hq),
            "ok" if not check.missing_in_hq else "[red]MISSING[/]",
        ),
        (
            "orders sharing a millisecond stamp",
            str(check.same_millisecond),
            "told apart by the 6 random characters" if check.same_millisecond else "",
        ),
    ]
    for row in rows:
        table.add_row(*row)
    c.console.print(table)


# --- one backend ----------------------------------------------------------------------------


def run_http(
    world: World,
    bare: Uvicorn,
    vintry: Uvicorn,
    *,
    concurrency: int,
    seconds: float,
    place_count: int,
    bare_count: int,
) -> HttpResult:
    """Part 3 on *world*'s backend, printed."""
    cases = [
        Case(BASELINE, bare, lambda: get_request("/bare"), 200, bare_count),
        Case(PLACE, vintry, PlacementRequests(world, "http"), 201, place_count),
        Case(LIVE, vintry, lambda: get_request("/health/live"), 200, bare_count),
        Case(PLACE_ONE, vintry, PlacementRequests(world, "one"), 201, place_count, clients=1),
    ]
    loads = asyncio.run(http_load(cases, concurrency=concurrency, seconds=seconds))
    result = HttpResult(world.backend, vintry.workers, concurrency, loads)
    report_http(result)
    return result


def start_server(world: World, workdir: Path, name: str, workers: int) -> Uvicorn:
    """The vintry app for *world* (not yet waited for)."""
    return Uvicorn(
        name,
        "vintry.api.app:create_app",
        world.env,
        workdir / f"{name}.log",
        workers=workers,
        ready_path="/health/ready",
    )


def start_bare(workdir: Path, workers: int) -> Uvicorn:
    """The bare app, from a module written into *workdir* (not yet waited for)."""
    module = workdir / "vtb_bare_app.py"
    module.write_text(BARE_APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VINTRY_")}
    return Uvicorn(
        "bare",
        "vtb_bare_app:create_app",
        env,
        workdir / "bare.log",
        workers=workers,
        ready_path="/bare",
        app_dir=workdir,
    )


def summary(
    sqlite: tuple[HttpResult, InProcess], postgres: tuple[HttpResult, InProcess] | None
) -> None:
    """One row per backend: the issue's figures against its targets."""
    table = Table(title="Summary against the issue's targets", title_justify="left")
    for column in (
        "backend",
        "placements/s",
        "bare req/s",
        f"ratio (≥ {TARGET_RATIO})",
        f"statements/order (≤ {TARGET_STATEMENTS})",
        "duplicates/order (0)",
        "write txns/order",
    ):
        table.add_column(column, justify="left" if column == "backend" else "right")
    for pair in (sqlite, postgres):
        if pair is None:
            continue
        http, counted = pair
        figures = _per_order(counted.request)
        table.add_row(
            http.backend,
            c.fmt_rate(http.placements_per_s),
            c.fmt_rate(http.bare_per_s),
            f"{http.ratio:.3f}",
            f"{figures['statements']:g}",
            f"{figures['duplicates']:g}",
            f"{figures['writes']:g}",
        )
    c.console.print(table)


def main() -> None:
    parser = c.argument_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (default 1)")
    parser.add_argument("--dealers", type=int, default=None, help="dealers with tokens (20)")
    parser.add_argument("--concurrency", type=int, default=4, help="HTTP clients per case (4)")
    parser.add_argument("--seconds", type=float, default=None, help="HTTP seconds per case")
    parser.add_argument("--placements", type=int, default=None, help="HTTP placements at most")
    parser.add_argument("--counted", type=int, default=None, help="placements counted for SQL (20)")
    args = parser.parse_args()
    quick = args.quick
    dealers = args.dealers or (8 if quick else 20)
    seconds = args.seconds or (3.0 if quick else 20.0)
    place_count = args.placements or (400 if quick else 5000)
    bare_count = 40 * place_count
    counted = args.counted or (10 if quick else 20)
    timing_count, timing_seconds = (15, 3.0) if quick else (100, 15.0)
    w2_seconds = 2.5 if quick else 8.0

    started = time.perf_counter()
    c.header(
        "order_placement",
        "placements of a 10-line order per second through POST /api/v1/orders over real HTTP, "
        "against a bare FastAPI endpoint served the same way in the same run; SQL statements "
        "per placed order and duplicates among them; order numbers across worker processes.",
        "placement is the platform's hottest write: every statement inside the HQ write "
        "transaction serialises all dealers (SQLite has one writer), and every durable commit "
        "is an fsync at synchronous=FULL. The issue's targets: ratio ≥ 0.15, ≤ 10 statements "
        "and no duplicates per order.",
        read="the ratio and the statement counts are the figures to compare between runs; "
        "req/s drifts with the load average, printed here and at the end.",
    )
    workdir = Path(tempfile.mkdtemp(prefix="vintry-bench-orders-"))
    servers: list[Uvicorn] = []
    sqlite_pair: tuple[HttpResult, InProcess] | None = None
    pg_pair: tuple[HttpResult, InProcess] | None = None
    try:
        c.section("SQLite world")
        platform = c.make_platform(workdir / "data")
        try:
            world = build_world(platform, "sqlite", server_env(platform.settings), dealers)
            c.note(
                f"initialise + region {REGION!r} + {SKU_COUNT} SKUs × {STOCK_PER_SKU:,} units "
                f"+ {dealers} dealers with tokens in {world.setup_seconds:.1f} s; HQ PRAGMA "
                f"synchronous={world.pragmas.get('synchronous')} (2 = FULL), "
                f"journal_mode={world.pragmas.get('journal_mode')}"
            )
            if world.pragmas.get("synchronous") != "2":
                c.finding(f"HQ runs at synchronous={world.pragmas.get('synchronous')}, not FULL")
            bare = start_bare(workdir, args.workers)
            vintry = start_server(world, workdir, "vintry-sqlite", args.workers)
            vintry2 = start_server(world, workdir, "vintry-sqlite-w2", 2)
            servers += [bare, vintry, vintry2]

            c.section("In process on SQLite: time and SQL per placement")
            counted_sqlite = c.run_async(
                measure_in_process(
                    world, workdir, count=timing_count, seconds=timing_seconds, counted=counted
                )
            )
            report_in_process(counted_sqlite)
            scanned = {t for tables in counted_sqlite.scans.values() for t in tables}
            rows_before = table_rows(world, scanned)

            c.section(f"Over real HTTP on SQLite (uvicorn --workers {args.workers})")
            for server in servers:
                server.wait_ready()
            http_sqlite = run_http(
                world,
                bare,
                vintry,
                concurrency=args.concurrency,
                seconds=seconds,
                place_count=place_count,
                bare_count=bare_count,
            )
            sqlite_pair = (http_sqlite, counted_sqlite)
            vintry.stop()

            c.section("Order numbers across worker processes (uvicorn --workers 2, SQLite)")
            numbers = check_numbers(
                world,
                vintry2,
                concurrency=max(8, 2 * args.concurrency),
                seconds=w2_seconds,
                count=place_count,
            )
            vintry2.stop()
            report_numbers(numbers)
            if not numbers.ok:
                c.finding("order numbers are NOT unique across workers (see the table)")
            if counted_sqlite.scans:
                c.section("Full scans as the tables grow (SQLite)")
                after = c.run_async(count_requests(world, counted))
                report_growth(counted_sqlite, rows_before, after, table_rows(world, scanned))
            report_ranking(counted_sqlite)
        finally:
            platform.close()

        if args.postgres:
            version = c.check_postgres(args.postgres)
            c.section(f"PostgreSQL {version}: a schema per site")
            scratch = c.ScratchPostgres(args.postgres, "orders")
            try:
                pg = c.make_platform(
                    workdir / "pg-data",
                    hq_url=scratch.hq_url("schema"),
                    site_url=scratch.site_template("schema"),
                )
                try:
                    world_pg = build_world(
                        pg, f"postgresql {version}", server_env(pg.settings), dealers
                    )
                    c.note(f"world built in {world_pg.setup_seconds:.1f} s")
                    vintry_pg = start_server(world_pg, workdir, "vintry-pg", args.workers)
                    servers.append(vintry_pg)
                    counted_pg = c.run_async(
                        measure_in_process(
                            world_pg,
                            workdir,
                            count=timing_count,
                            seconds=timing_seconds,
                            counted=counted,
                        )
                    )
                    report_in_process(counted_pg)
                    vintry_pg.wait_ready()
                    c.section(f"Over real HTTP on PostgreSQL (uvicorn --workers {args.workers})")
                    http_pg = run_http(
                        world_pg,
                        bare,
                        vintry_pg,
                        concurrency=args.concurrency,
                        seconds=seconds,
                        place_count=place_count,
                        bare_count=bare_count,
                    )
                    vintry_pg.stop()
                    pg_pair = (http_pg, counted_pg)
                    report_ranking(counted_pg)
                finally:
                    pg.close()
            finally:
                for server in servers:
                    server.stop()
                dropped = scratch.drop_all()
                c.note(f"dropped PostgreSQL databases: {', '.join(dropped) or 'none'}")
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    assert sqlite_pair is not None
    summary(sqlite_pair, pg_pair)
    c.footer(started)
    http_sqlite, counted_sqlite = sqlite_pair
    figures = _per_order(counted_sqlite.request)
    print(
        json.dumps(
            {
                "placements_per_s": round(http_sqlite.placements_per_s, 2),
                "bare_requests_per_s": round(http_sqlite.bare_per_s, 2),
                "ratio": round(http_sqlite.ratio, 4),
                "statements_per_order": round(figures["statements"], 2),
                "duplicate_statements": round(figures["duplicates"], 2),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
