"""What it costs to provision sites and keep their databases migrated, and what the LRU of
site engines buys.

Run: ``.venv/bin/python benchmarks/bench_site_provisioning.py [--postgres URL] [--sites K]``

For SQLite (a file per site) and, with ``--postgres URL``, PostgreSQL with a database per
site and with a schema per site (databases made for this run, dropped at the end):

1. ``create_site`` for K regions (default 32): the site's database created and migrated, its
   HQ row, the audit entry and the counter bump.
2. ``platform.migrate()`` on databases that were just dropped (the first migration) and
   again with everything at head (the no-op every deploy and ``vintry migrate`` pays per
   site), timed per site through the ``on_site`` callback; then the parts of one no-op
   ``migrate_site`` on their own, against the baseline of one read session on the site's
   database.
3. The LRU of site engines (``Databases(cache_size=...)``): 200 site databases touched (open
   or reuse the engine, check out a connection, ``SELECT 1``) round robin and with a skewed
   (Zipf-like) pattern, with cache_size 16 against 256: time per touch, engines and file
   descriptors held, new connections made (cache misses), and on PostgreSQL the server
   connections held.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import cycle, pairwise
from pathlib import Path
from typing import Any

import _common as c
from rich.table import Table


@dataclass
class Mode:
    """A backend and layout under test."""

    name: str
    hq_url: str | None = None
    site_url: str | None = None
    scratch: c.ScratchPostgres | None = None
    mode: str | None = None


@dataclass
class ModeResult:
    """What parts 1 and 2 measured on one mode."""

    mode: str
    initialise: float = 0.0
    create: c.Stats = field(default_factory=lambda: c.Stats("create_site"))
    first_total: float = 0.0
    first: c.Stats = field(default_factory=lambda: c.Stats("migrate(): first migration, per site"))
    noop_totals: list[float] = field(default_factory=list)
    noop: c.Stats = field(default_factory=lambda: c.Stats("migrate(): at head (no-op), per site"))
    parts: dict[str, c.Stats] = field(default_factory=dict)
    connects_per_noop_site: float = 0.0


# --- parts 1 and 2 -------------------------------------------------------------------------


def per_site_migrate(platform: Any, stats: c.Stats) -> float:
    """Run ``platform.migrate()``, appending per-site times to *stats*; return the total.

    Per-site time is the gap between two ``on_site`` calls; the first site's gap also holds
    the HQ migration and the directory load, so it is left out of the per-site figures.
    """
    marks: list[float] = []
    began = time.perf_counter()
    platform.migrate(on_site=lambda _code: marks.append(time.perf_counter()))
    total = time.perf_counter() - began
    stats.samples.extend(b - a for a, b in pairwise(marks))
    return total


def drop_site_databases(platform: Any) -> int:
    """Drop every site's database (or schema), so the next migrate() starts from nothing."""
    from vintry.db.provision import drop_database

    nodes = list(platform.directory().nodes.values())
    platform.close()
    for node in nodes:
        drop_database(platform.databases.site_url(node.code, node.database_url))
    platform.invalidate_directory()
    return len(nodes)


def noop_parts(
    platform: Any, codes: list[str], *, count: int, seconds: float
) -> dict[str, c.Stats]:
    """The steps of one no-op ``migrate_site``, each cycling over the sites."""
    from sqlalchemy import text
    from vintry.db.migrate import current_revision
    from vintry.db.provision import ensure_database
    from vintry.platform import _stamp_site_code

    tracks = platform.migration_tracks("site")
    directory = platform.directory()

    def over_sites(step: Callable[[str, str | None], object]) -> Callable[[], None]:
        sites = cycle(codes)

        def run() -> None:
            code = next(sites)
            step(code, directory.get(code).database_url)

        return run

    def read(code: str, url: str | None) -> None:
        with platform.databases.site(code, url).reading() as session:
            session.execute(text("SELECT 1"))

    def heads(_code: str, _url: str | None) -> None:
        for track in tracks:
            track.head()

    def revisions(code: str, url: str | None) -> None:
        database = platform.databases.site(code, url)
        for track in tracks:
            current_revision(database, track)

    cases = {
        "read session + SELECT 1 (site db)": over_sites(read),
        "migrate_site() at head": over_sites(platform.migrate_site),
        "  ensure_database(url)": over_sites(
            lambda code, url: ensure_database(platform.databases.site_url(code, url))
        ),
        "  track.head() × site tracks": over_sites(heads),
        "  current_revision() × site tracks": over_sites(revisions),
        "  _stamp_site_code()  (write txn)": over_sites(
            lambda code, url: _stamp_site_code(platform.databases.site(code, url), code)
        ),
    }
    return c.interleave(cases, count=count, seconds=seconds, batch=4, warmup=1)


def run_mode(
    mode: Mode, workdir: Path, *, sites: int, repeats: int, count: int, seconds: float
) -> ModeResult:
    """Parts 1 and 2 on one mode."""
    from vintry.bootstrap import initialise
    from vintry.sites.models import SiteKind
    from vintry.sites.schemas import SiteCreate
    from vintry.sites.service import create_site

    result = ModeResult(mode.name)
    platform = c.make_platform(workdir / "data", hq_url=mode.hq_url, site_url=mode.site_url)
    actor = c.bench_actor()
    try:
        with c.Stopwatch() as sw:
            initialise(platform, actor=actor)
        result.initialise = sw.seconds
        root = platform.directory().root.code
        codes = [f"bench-r{i:03d}" for i in range(sites)]
        for code in codes:
            request = SiteCreate(
                code=code, name=code, kind=SiteKind.REGION, domains=[f"{code}.bench.localhost"]
            )
            began = time.perf_counter()
            create_site(platform, parent_code=root, request=request, actor=actor)
            result.create.samples.append(time.perf_counter() - began)

        drop_site_databases(platform)
        result.first_total = per_site_migrate(platform, result.first)
        for _ in range(repeats):
            result.noop_totals.append(per_site_migrate(platform, result.noop))
        with c.count_statements() as found:
            platform.migrate()
        result.connects_per_noop_site = found.connects / (sites + 1)

        result.parts = noop_parts(platform, codes, count=count, seconds=seconds)
    finally:
        platform.close()
    return result


def report_mode(result: ModeResult, sites: int) -> None:
    """The per-mode tables."""
    rows = [result.parts["read session + SELECT 1 (site db)"], result.first, result.noop]
    result.first.note = f"whole migrate() {result.first_total:.2f} s for HQ + {sites + 1} sites"
    if result.noop_totals:
        best = min(result.noop_totals)
        result.noop.note = (
            f"whole migrate() {best:.2f} s (best of {len(result.noop_totals)}); "
            f"{result.connects_per_noop_site:.1f} new DB connections per site"
        )
    rows += [stats for name, stats in result.parts.items() if not name.startswith("read session")]
    c.console.print(
        c.stats_table(
            f"migrate() per site and the parts of a no-op migrate_site ({result.mode})",
            rows,
            baseline="read session + SELECT 1 (site db)",
            caption="Indented rows are the steps of migrate_site at head, timed alone "
            "(ensure_database, then per site track: head() and current_revision(), then "
            "the site-code stamp).",
        )
    )


def report_creation(results: list[ModeResult]) -> None:
    """One table: create_site per mode, SQLite as the baseline."""
    rows = []
    for result in results:
        result.create.name = f"create_site  [{result.mode}]"
        result.create.note = f"initialise() took {c.fmt_duration(result.initialise)}"
        rows.append(result.create)
    c.console.print(
        c.stats_table(
            "Creating a site: database created + migrated, HQ row, audit, counter bump",
            rows,
            baseline=rows[0].name,
            rate_label="sites/s",
        )
    )


# --- part 3: the LRU of site engines -------------------------------------------------------


@dataclass
class LruRun:
    """One access pattern against one cache size."""

    name: str
    stats: c.Stats
    engines_open: int
    fds: int
    connects: int
    server_connections: int | None = None


def lru_runs(
    make_url: Callable[[str], str],
    codes: list[str],
    *,
    passes: int,
    skewed: int,
    sizes: tuple[int, ...],
    seconds: float,
    server_connections: Callable[[], int] | None = None,
) -> list[LruRun]:
    """Touch every site round robin *passes* times, then a skewed sequence, per cache size."""
    from sqlalchemy import text
    from vintry.db.databases import Databases

    rng = random.Random(42)
    weights = [1 / (rank + 1) for rank in range(len(codes))]
    skewed_codes = rng.choices(codes, weights=weights, k=skewed)
    runs: list[LruRun] = []
    for size in sizes:
        for label, sequence in (
            (f"cache_size={size}: round robin, first pass", codes),
            (f"cache_size={size}: round robin, passes 2..{passes}", codes * (passes - 1)),
            (f"cache_size={size}: skewed (Zipf-like)", skewed_codes),
        ):
            databases = Databases("sqlite://", make_url, cache_size=size)
            try:
                if "passes 2" in label:  # warm the cache with one pass first (untimed)
                    for code in codes:
                        with databases.site(code).reading() as session:
                            session.execute(text("SELECT 1"))
                stats = c.Stats(label)
                deadline = time.perf_counter() + seconds
                with c.count_statements() as found:
                    for code in sequence:
                        began = time.perf_counter()
                        with databases.site(code).reading() as session:
                            session.execute(text("SELECT 1"))
                        stats.samples.append(time.perf_counter() - began)
                        if time.perf_counter() > deadline:
                            break
                held = server_connections() if server_connections else None
                runs.append(
                    LruRun(
                        label,
                        stats,
                        len(databases.open_site_codes),
                        c.open_fds(),
                        found.connects,
                        held,
                    )
                )
            finally:
                databases.dispose()
    return runs


def report_lru(title: str, runs: list[LruRun], baseline: str) -> None:
    """The LRU table."""
    base = next(run for run in runs if run.name == baseline).stats.median
    pg = any(run.server_connections is not None for run in runs)
    table = Table(title=title, title_justify="left")
    columns = [
        "case",
        "touches",
        "median",
        "p95",
        "touches/s",
        "× baseline",
        "new conns (misses)",
        "engines open",
        "fds",
    ]
    if pg:
        columns.append("server conns held")
    for column in columns:
        table.add_column(column, justify="left" if column == "case" else "right")
    for run in runs:
        row = [
            run.name,
            str(run.stats.n),
            c.fmt_duration(run.stats.median),
            c.fmt_duration(run.stats.p95),
            c.fmt_rate(run.stats.ops_per_second),
            "baseline" if run.name == baseline else c.fmt_ratio(run.stats.median / base),
            str(run.connects),
            str(run.engines_open),
            str(run.fds),
        ]
        if pg:
            row.append(str(run.server_connections))
        table.add_row(*row)
    c.console.print(table)


def sqlite_lru(
    workdir: Path, template: Path, *, sites: int, passes: int, skewed: int, seconds: float
) -> None:
    """Part 3 on SQLite: copies of a migrated site database."""
    folder = workdir / "lru"
    folder.mkdir()
    codes = [f"lru-{i:03d}" for i in range(sites)]
    for code in codes:
        shutil.copyfile(template, folder / f"{code}.db")
    runs = lru_runs(
        lambda code: f"sqlite:///{folder / f'{code}.db'}",
        codes,
        passes=passes,
        skewed=skewed,
        sizes=(16, 256),
        seconds=seconds,
    )
    report_lru(
        f"LRU of site engines on SQLite: {sites} site databases",
        runs,
        baseline=f"cache_size=256: round robin, passes 2..{passes}",
    )


def postgres_lru(
    scratch: c.ScratchPostgres, *, sites: int, passes: int, skewed: int, seconds: float
) -> None:
    """Part 3 on PostgreSQL, a schema per site, capped by the server's free connections."""
    from sqlalchemy import create_engine
    from vintry.db.provision import ensure_database

    maximum, budget = scratch.connection_budget()
    wanted = sites
    sites = max(16, min(sites, budget))
    database = f"{scratch.prefix}_lru"
    url = scratch.url(database)
    ensure_database(url)
    codes = [f"lru_{i:03d}" for i in range(sites)]
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for code in codes:
                connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "site_{code}"')
    finally:
        engine.dispose()
    runs = lru_runs(
        lambda code: scratch.url(database, schema=f"site_{code}"),
        codes,
        passes=passes,
        skewed=skewed,
        sizes=(16, 256),
        seconds=seconds,
        server_connections=lambda: scratch.connections(database),
    )
    report_lru(
        f"LRU of site engines on PostgreSQL (schema per site): {sites} site schemas",
        runs,
        baseline=f"cache_size=256: round robin, passes 2..{passes}",
    )
    if sites < wanted:
        c.finding(
            f"capped at {sites} sites instead of {wanted}: the server allows max_connections="
            f"{maximum}, and every engine the LRU keeps holds ≥1 idle server connection, so "
            f"cache_size 256 over {wanted} sites would need {wanted} connections from one "
            "process. With a schema per site every schema gets its own pool into the same "
            f"database: W workers × site_engine_cache_size (default 64) idle connections must "
            f"stay under {maximum}, i.e. at most {maximum // 64} worker(s) at the default."
        )


# --- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = c.argument_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=None, help="sites to create (default 32)")
    parser.add_argument(
        "--lru-sites", type=int, default=200, help="site databases the LRU part touches"
    )
    args = parser.parse_args()
    sites = args.sites or (8 if args.quick else 32)
    repeats = 2 if args.quick else 3
    count = 20 if args.quick else 120
    seconds = 3.0 if args.quick else 12.0
    lru_sites = min(args.lru_sites, 60) if args.quick else args.lru_sites
    passes, skewed = (2, 200) if args.quick else (3, 1000)

    started = time.perf_counter()
    c.header(
        "bench_site_provisioning",
        f"create_site for {sites} regions; platform.migrate() from nothing and at head, per "
        "site; the steps of a no-op migrate_site; the LRU of site engines over "
        f"{lru_sites} site databases with cache_size 16 vs 256. SQLite, and with --postgres "
        "PostgreSQL with a database and with a schema per site.",
        "provisioning a mall is an operator action, but migrate() at head runs on every deploy "
        "for every site: its per-site no-op cost times hundreds of sites is the deploy's wait. "
        "The engine LRU decides how many pools (files, server connections) a worker holds.",
        read="per-site rows are medians over the sites; '× baseline' compares with the row "
        "marked baseline in the same table (SQLite for creation, a trivial read for migrate).",
    )
    workdir = Path(tempfile.mkdtemp(prefix="vintry-bench-prov-"))
    scratches: list[c.ScratchPostgres] = []
    results: list[ModeResult] = []
    try:
        modes = [Mode("sqlite, a file per site")]
        if args.postgres:
            version = c.check_postgres(args.postgres)
            scratch = c.ScratchPostgres(args.postgres, "prov")
            scratches.append(scratch)
            for layout in ("database", "schema"):
                modes.append(
                    Mode(
                        f"postgresql {version}, a {layout} per site",
                        hq_url=scratch.hq_url(layout),
                        site_url=scratch.site_template(layout),
                        scratch=scratch,
                        mode=layout,
                    )
                )
        for index, mode in enumerate(modes):
            c.section(mode.name)
            result = run_mode(
                mode,
                workdir / f"mode{index}",
                sites=sites,
                repeats=repeats,
                count=count,
                seconds=seconds,
            )
            results.append(result)
            report_mode(result, sites)
        c.section("Creating sites, all modes")
        report_creation(results)
        if len(results) > 1:
            sqlite_noop = results[0].noop.median
            for result in results[1:]:
                c.note(
                    f"no-op migrate per site, {result.mode}: {c.fmt_duration(result.noop.median)} "
                    f"({c.fmt_ratio(result.noop.median / sqlite_noop)} SQLite's), "
                    f"{result.connects_per_noop_site:.1f} new connections per site"
                )
        connects = max(r.connects_per_noop_site for r in results)
        if connects >= 1:
            c.finding(
                f"a no-op migrate opens up to {connects:.1f} new database connections per site: "
                "ensure_database() builds and disposes a throw-away engine (on PostgreSQL to the "
                "'postgres' maintenance database, plus another for CREATE SCHEMA IF NOT EXISTS) "
                "on every call, even when the database is already there."
            )

        c.section("LRU of site engines")
        template = workdir / "mode0" / "data" / "sites" / "bench-r000.db"
        sqlite_lru(
            workdir, template, sites=lru_sites, passes=passes, skewed=skewed, seconds=seconds
        )
        if scratches:
            postgres_lru(
                scratches[0], sites=lru_sites, passes=passes, skewed=skewed, seconds=seconds
            )
        c.note(
            "A touch = Databases.site(code) + a read session + SELECT 1. 'new conns' counts pool "
            "connects during the case: each is a cache miss (an engine built, the evicted one "
            "disposed). Engines/fds/server connections are read at the end of the case."
        )
    finally:
        for scratch in scratches:
            dropped = scratch.drop_all()
            c.note(f"dropped PostgreSQL databases: {len(dropped)} ({scratch.prefix}_*)")
        shutil.rmtree(workdir, ignore_errors=True)
    c.footer(started)


if __name__ == "__main__":
    main()
