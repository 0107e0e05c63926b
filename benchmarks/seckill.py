"""Flash-sale attempts over real HTTP against a bare FastAPI endpoint (issue 5, seckill).

``.venv/bin/python benchmarks/seckill.py [--quick] [--postgres URL] [--redis URL]``

1. A world on a temporary SQLite data directory (``synchronous=FULL``, read back with
   PRAGMA): ``vintry.bootstrap.initialise``, three regions with the seckill plugin on —
   ``east`` (SQL counter, group commit), ``west`` (SQL counter, one transaction per
   attempt: ``group_commit`` off) and ``north`` (the Redis counter, when a Redis server is
   named) — one SKU in stock, dealers with tokens in each, and live flash sales: ``ADM``
   in every region with a quota no run can exhaust (the admission phase), and ``SOLD`` in
   east with one unit, sold before the load (the sold-out phase).
2. ``uvicorn vintry.api.app:create_app --factory`` (one worker; ``VINTRY_REDIS_URL`` set
   when Redis is used) and a bare FastAPI app (one ``def`` route) with the same flags.
   Interleaved chunks, the same number of keep-alive clients per case: ``GET /bare`` (the
   baseline), attempts on east's ``ADM`` (SQL path), north's ``ADM`` (Redis path), east's
   ``SOLD`` (sold-out phase: answered 409 from the worker's memory) and west's ``ADM``
   (one transaction per attempt). Each case stops at a count or a time budget.
3. With ``--postgres URL``: the world again on PostgreSQL (a schema per site in a scratch
   database, dropped at the end), the bare app measured again beside it, east against west.
4. Afterwards every sale's counter is checked against its holds: units held beyond the
   quota, or a counter that disagrees with the holds, count as oversold.

Ratios: attempts/s ÷ bare requests/s for the SQL path, the Redis path and the sold-out
phase; batching gain = east's attempts/s ÷ west's, at the same concurrency. Targets:
SQL ≥ 0.5, Redis ≥ 0.6, sold-out ≥ 0.9, gain ≥ 3× on SQLite and ≥ 2× on PostgreSQL,
oversold 0. The last line of stdout is one JSON object: ``oversold``, ``sql_ratio``,
``redis_ratio``, ``soldout_ratio``, ``batching_gain_sqlite``, ``batching_gain_postgres``
(null where that backend or Redis is absent).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import _common as c
from order_placement import Case, Load, Uvicorn, http_load, server_env, start_bare
from rich.table import Table

BATCHED, UNBATCHED, REDIS = "east", "west", "north"
SKU = "FT-500"
ADMISSION, SOLD = "ADM", "SOLD"
BIG = 10_000_000
BASELINE = "bare FastAPI  GET /bare"
SQL_CASE = "attempt, SQL path, group commit (east)"
REDIS_CASE = "attempt, Redis path, group commit (north)"
SOLD_CASE = "attempt on a sold-out sale (east)"
ONE_TXN_CASE = "attempt, SQL path, one transaction each (west)"
TARGETS = {"sql": 0.5, "redis": 0.6, "soldout": 0.9, "gain_sqlite": 3.0, "gain_postgres": 2.0}


@dataclass
class World:
    """A populated platform and the tokens of each region's dealers."""

    platform: Any
    backend: str
    env: dict[str, str]
    tokens: dict[str, list[str]] = field(default_factory=dict)
    pragmas: dict[str, str] = field(default_factory=dict)
    setup_seconds: float = 0.0


def build_world(platform: Any, backend: str, dealers: int, redis_url: str | None) -> World:
    """Initialise; regions, stock, dealers with tokens, the sales (see the module doc)."""
    from vintry.accounts.models import Role
    from vintry.accounts.schemas import TokenCreate, UserCreate
    from vintry.accounts.service import create_user, find_user, issue_token
    from vintry.bootstrap import initialise
    from vintry.campaigns.schemas import CampaignCreate, CampaignTransition
    from vintry.campaigns.service import create_campaign, transition_campaign
    from vintry.catalog.models import Brand, Category, Product, Sku
    from vintry.dealers.models import DealerTier
    from vintry.dealers.schemas import DealerCreate
    from vintry.dealers.service import create_dealer
    from vintry.inventory import stock
    from vintry.inventory.models import Warehouse
    from vintry.sites.configuration import change_overrides
    from vintry.sites.enablement import config_namespace, loaded_plugin, set_enablement
    from vintry.sites.inheritance import EnablementState
    from vintry.sites.models import SiteKind
    from vintry.sites.schemas import SiteCreate
    from vintry.sites.service import create_site

    actor = c.bench_actor()
    began = time.perf_counter()
    initialise(platform, actor=actor)
    root = platform.directory().root
    regions = [BATCHED, UNBATCHED] + ([REDIS] if redis_url else [])
    ids = {}
    for code in regions:
        ids[code] = create_site(
            platform,
            parent_code=root.code,
            request=SiteCreate(code=code, name=code.title(), kind=SiteKind.REGION,
                               domains=[f"{code}.bench.localhost"]),
            actor=actor,
        ).id
        set_enablement(platform, "seckill", code, state=EnablementState.ON, actor=actor,
                       actor_is_hq_admin=True)
        namespace = config_namespace(loaded_plugin(platform, "seckill"))
        change_overrides(
            platform,
            namespace,
            code,
            set_fields={
                "group_commit": code != UNBATCHED,
                "counter_backend": "redis" if code == REDIS else "sql",
            },
            actor=actor,
        )
    now = platform.clock.now()
    with platform.hq.transaction() as session:
        brand, category = Brand(code="MT", name="Maotai"), Category(code="SAUCE", name="Sauce")
        session.add_all([brand, category])
        session.flush()
        product = Product(code="FEITIAN", name="Feitian", brand_id=brand.id,
                          category_id=category.id, tags=[])
        session.add(product)
        session.flush()
        sku = Sku(code=SKU, product_id=product.id, name="Feitian 500 ml", volume_ml=500,
                  abv=Decimal("53.0"), case_size=6, base_price_fen=149_900, updated_at=now)
        session.add(sku)
        session.flush()
        for code in regions:
            warehouse = Warehouse(code=f"WH-{code.upper()}", name=code, city=code,
                                  region_site_id=ids[code], latitude=Decimal("30.0"),
                                  longitude=Decimal("120.0"), priority=1)
            session.add(warehouse)
            session.flush()
            stock.receive(session, warehouse_id=warehouse.id, sku_id=sku.id, quantity=BIG,
                          now=now)
    world = World(platform, backend, {})
    for code in regions:
        world.tokens[code] = []
        for n in range(1, dealers + 1):
            dealer = f"D-{code.upper()}-{n:03d}"
            create_dealer(platform, code, DealerCreate(code=dealer, name=dealer,
                                                       tier=DealerTier.SILVER), actor=actor)
            username = f"{code}-dealer-{n:03d}"
            create_user(platform, UserCreate(username=username, display_name=username,
                                             role=Role.DEALER, site=code, dealer=dealer),
                        default_site=code, actor=actor)
            with platform.hq.transaction() as session:
                world.tokens[code].append(
                    issue_token(platform, find_user(session, username),
                                TokenCreate(name="bench", expires_in_days=30),
                                session=session, actor=actor).token
                )
        site = platform.site(code)
        sales = [(ADMISSION, BIG, 100_000)] + ([(SOLD, 1, 1)] if code == BATCHED else [])
        for sale, quota, limit in sales:
            create_campaign(
                site,
                CampaignCreate(code=sale, type="seckill", name=sale,
                               config={"sku": SKU, "price": "999.00", "quantity": quota,
                                       "per_dealer_limit": limit, "hold_minutes": 60},
                               starts_at=now, ends_at=now + timedelta(days=1)),
                actor=actor,
            )
            transition_campaign(site, sale, CampaignTransition(to="scheduled"), actor=actor)
    world.setup_seconds = time.perf_counter() - began
    if platform.hq.backend == "sqlite":
        with platform.site_database(BATCHED).engine.connect() as connection:
            for pragma in ("synchronous", "journal_mode"):
                world.pragmas[pragma] = str(connection.exec_driver_sql(f"PRAGMA {pragma}").scalar())
    world.env = server_env(platform.settings)
    if redis_url:
        world.env["VINTRY_REDIS_URL"] = redis_url
    return world


class Attempts:
    """POST …/sales/<sale>/attempts requests of one region's dealers, in turn."""

    def __init__(self, world: World, region: str, sale: str, dealers: int | None = None) -> None:
        body = b'{"quantity":1}'
        self.head = (
            f"POST /sites/{region}/api/v1/x/seckill/sales/{sale}/attempts HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
        ).encode()
        self.body = body
        self.tokens = world.tokens[region][: dealers or None]
        self.numbers = itertools.count()

    def __call__(self) -> bytes:
        token = self.tokens[next(self.numbers) % len(self.tokens)]
        return self.head + f"Authorization: Bearer {token}\r\n\r\n".encode() + self.body


def sell_out(world: World, url_port: int) -> None:
    """Sell east's one-unit sale before the load (one attempt through HTTP)."""
    import httpx

    response = httpx.post(
        f"http://127.0.0.1:{url_port}/sites/{BATCHED}/api/v1/x/seckill/sales/{SOLD}/attempts",
        headers={"Authorization": f"Bearer {world.tokens[BATCHED][0]}"},
        timeout=30,
    )
    if response.status_code != 201:
        raise RuntimeError(f"selling out {SOLD}: {response.status_code} {response.text[:300]}")


def oversold(world: World) -> tuple[int, list[str]]:
    """Units beyond a quota or counters that disagree with their holds, per region and sale."""
    from sqlalchemy import func, select
    from vintry_seckill.models import (
        TAKEN_STATUSES,
        SeckillCounter,
        SeckillDealerUnits,
        SeckillHold,
    )

    total, notes = 0, []
    for region in world.tokens:
        site = world.platform.site(region)
        with site.database.reading() as session:
            for counter in session.scalars(select(SeckillCounter)):
                held = session.scalar(
                    select(func.coalesce(func.sum(SeckillHold.quantity), 0)).where(
                        SeckillHold.campaign_code == counter.campaign_code,
                        SeckillHold.status.in_(TAKEN_STATUSES),
                    )
                )
                dealers = session.scalar(
                    select(func.coalesce(func.sum(SeckillDealerUnits.units), 0)).where(
                        SeckillDealerUnits.campaign_code == counter.campaign_code
                    )
                )
                over = max(0, int(held) - counter.quota)
                drift = abs(int(held) - counter.taken) + abs(int(dealers) - counter.taken)
                total += over + drift
                notes.append(f"{region}/{counter.campaign_code}: quota {counter.quota:,}, "
                             f"taken {counter.taken:,}, holds {int(held):,}")
    return total, notes


def report(title: str, loads: dict[str, Load], cpu_note: str) -> None:
    """One table of the cases, with the ratio of each to the bare endpoint."""
    base = loads[BASELINE].throughput
    table = Table(title=title, title_justify="left", caption=cpu_note, caption_justify="left")
    for column in ("case", "answered", "errors", "req/s", "× bare", "p50", "p95", "p99"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for name, load in loads.items():
        table.add_row(
            name,
            str(load.done),
            str(load.failed),
            c.fmt_rate(load.throughput),
            c.fmt_ratio(load.throughput / base if base else math.nan),
            c.fmt_duration(c.percentile(load.latencies, 50)),
            c.fmt_duration(c.percentile(load.latencies, 95)),
            c.fmt_duration(c.percentile(load.latencies, 99)),
        )
        for sample in load.error_samples:
            c.finding(f"{name}: {sample}")
    c.console.print(table)


def measure(world: World, bare: Uvicorn, vintry: Uvicorn, *, concurrency: int,
            seconds: float, count: int, redis: bool, extra: bool) -> dict[str, Load]:
    """The interleaved cases of one backend."""
    cases = [
        Case(BASELINE, bare, lambda: b"GET /bare HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 200,
             count * 4),
        Case(SQL_CASE, vintry, Attempts(world, BATCHED, ADMISSION), 201, count),
        Case(ONE_TXN_CASE, vintry, Attempts(world, UNBATCHED, ADMISSION), 201, count),
    ]
    if extra:
        # The sold-out phase: dealers the worker has authorised during the warm-up.
        cases.append(Case(SOLD_CASE, vintry, Attempts(world, BATCHED, SOLD, concurrency), 409,
                          count * 4))
    if redis:
        cases.append(Case(REDIS_CASE, vintry, Attempts(world, REDIS, ADMISSION), 201, count))
    return c.run_async(http_load(cases, concurrency=concurrency, seconds=seconds))  # type: ignore[no-any-return]


def ratio(loads: dict[str, Load], name: str, base: str = BASELINE) -> float | None:
    """*name*'s throughput ÷ *base*'s (None when either is missing)."""
    if name not in loads or base not in loads or not loads[base].throughput:
        return None
    return loads[name].throughput / loads[base].throughput


def _redis_url(explicit: str | None) -> str | None:
    url = explicit or os.environ.get("VINTRY_REDIS_URL") or os.environ.get("VINTRY_TEST_REDIS_URL")
    if not url:
        return None
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as error:
        c.finding(f"Redis at {url} is unreachable ({error}): the Redis path is not measured")
        return None
    return url


def main() -> None:
    parser = c.argument_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--redis", metavar="URL", help="a Redis server (default: "
                        "VINTRY_REDIS_URL or VINTRY_TEST_REDIS_URL); the Redis path needs one")
    parser.add_argument("--concurrency", type=int, default=16, help="clients per case (16)")
    parser.add_argument("--dealers", type=int, default=None, help="dealers per region (16)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds of load per case")
    args = parser.parse_args()
    quick = args.quick
    seconds = args.seconds or (2.5 if quick else 12.0)
    count = 3_000 if quick else 40_000
    dealers = args.dealers or (16 if quick else 32)
    started = time.perf_counter()
    c.header(
        "seckill",
        "flash-sale attempts per second through POST /api/v1/x/seckill/sales/<sale>/attempts "
        "over real HTTP — SQL path, Redis path, and a sold-out sale — against a bare FastAPI "
        "endpoint served the same way in the same run; and the attempt path with group commit "
        "against one transaction per attempt, at the same concurrency.",
        "a flash sale is the platform's hottest row: every attempt updates one counter. One "
        "transaction per attempt queues every dealer on that row and on a durable commit; "
        "batching shares both. Targets: SQL ≥ 0.5, Redis ≥ 0.6, sold-out ≥ 0.9, gain ≥ 3× "
        "(SQLite) / ≥ 2× (PostgreSQL), oversold 0.",
        read="compare the × bare column and the gain between runs; req/s drifts with the "
        "load average (printed here and at the end).",
    )
    redis_url = _redis_url(args.redis)
    workdir = Path(tempfile.mkdtemp(prefix="vintry-bench-seckill-"))
    servers: list[Uvicorn] = []
    result: dict[str, Any] = {
        "oversold": 0, "sql_ratio": None, "redis_ratio": None, "soldout_ratio": None,
        "batching_gain_sqlite": None, "batching_gain_postgres": None,
    }
    try:
        c.section("SQLite world")
        platform = c.make_platform(workdir / "data")
        try:
            world = build_world(platform, "sqlite", dealers, redis_url)
            c.note(f"built in {world.setup_seconds:.1f} s: {len(world.tokens)} regions × "
                   f"{dealers} dealers; site database PRAGMA synchronous="
                   f"{world.pragmas.get('synchronous')} (2 = FULL), journal_mode="
                   f"{world.pragmas.get('journal_mode')}; Redis: {redis_url or 'none'}")
            if world.pragmas.get("synchronous") != "2":
                c.finding(f"sites run at synchronous={world.pragmas.get('synchronous')}")
            bare = start_bare(workdir, 1)
            vintry = Uvicorn("vintry-sqlite", "vintry.api.app:create_app", world.env,
                             workdir / "vintry-sqlite.log", workers=1, ready_path="/health/ready")
            servers += [bare, vintry]
            for server in servers:
                server.wait_ready()
            sell_out(world, vintry.port)
            c.section(f"Over real HTTP on SQLite ({args.concurrency} clients per case)")
            cpu = vintry.cpu()
            loads = measure(world, bare, vintry, concurrency=args.concurrency, seconds=seconds,
                            count=count, redis=redis_url is not None, extra=True)
            report("SQLite: attempts against the bare endpoint", loads,
                   f"server CPU {vintry.cpu() - cpu:.1f} s over the run")
            vintry.stop()
            result["sql_ratio"] = ratio(loads, SQL_CASE)
            result["soldout_ratio"] = ratio(loads, SOLD_CASE)
            result["redis_ratio"] = ratio(loads, REDIS_CASE) if redis_url else None
            result["batching_gain_sqlite"] = ratio(loads, SQL_CASE, ONE_TXN_CASE)
            over, notes = oversold(world)
            result["oversold"] += over
            for line in notes:
                c.note(line)
        finally:
            platform.close()

        if args.postgres:
            version = c.check_postgres(args.postgres)
            c.section(f"PostgreSQL {version}: a schema per site")
            scratch = c.ScratchPostgres(args.postgres, "seckill")
            try:
                pg = c.make_platform(workdir / "pg-data", hq_url=scratch.hq_url("schema"),
                                     site_url=scratch.site_template("schema"))
                try:
                    world_pg = build_world(pg, f"postgresql {version}", dealers, None)
                    c.note(f"built in {world_pg.setup_seconds:.1f} s")
                    vintry_pg = Uvicorn("vintry-pg", "vintry.api.app:create_app", world_pg.env,
                                        workdir / "vintry-pg.log", workers=1,
                                        ready_path="/health/ready")
                    servers.append(vintry_pg)
                    vintry_pg.wait_ready()
                    loads_pg = measure(world_pg, bare, vintry_pg, concurrency=args.concurrency,
                                       seconds=seconds, count=count, redis=False, extra=False)
                    report("PostgreSQL: attempts against the bare endpoint", loads_pg, "")
                    vintry_pg.stop()
                    result["batching_gain_postgres"] = ratio(loads_pg, SQL_CASE, ONE_TXN_CASE)
                    over, notes = oversold(world_pg)
                    result["oversold"] += over
                    for line in notes:
                        c.note(line)
                finally:
                    pg.close()
            finally:
                dropped = scratch.drop_all()
                c.note(f"dropped {len(dropped)} scratch database(s)")
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    summary = Table(title="Against the issue's targets", title_justify="left")
    for column in ("figure", "value", "target"):
        summary.add_column(column)
    rows = [("oversold", result["oversold"], "0"),
            ("sql_ratio", result["sql_ratio"], f"≥ {TARGETS['sql']}"),
            ("redis_ratio", result["redis_ratio"], f"≥ {TARGETS['redis']}"),
            ("soldout_ratio", result["soldout_ratio"], f"≥ {TARGETS['soldout']}"),
            ("batching_gain_sqlite", result["batching_gain_sqlite"],
             f"≥ {TARGETS['gain_sqlite']}"),
            ("batching_gain_postgres", result["batching_gain_postgres"],
             f"≥ {TARGETS['gain_postgres']}")]
    for name, value, target in rows:
        shown = "-" if value is None else (f"{value:.2f}" if isinstance(value, float) else
                                           str(value))
        summary.add_row(name, shown, target)
    c.console.print(summary)
    c.footer(started)
    rounded = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in result.items()}
    sys.stdout.write(json.dumps(rounded) + "\n")


if __name__ == "__main__":
    main()
