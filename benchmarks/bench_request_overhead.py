"""What one API request costs beyond the route's own work: authentication, tenancy, and the
change-counter refresh that every authorised request does.

Run: ``.venv/bin/python benchmarks/bench_request_overhead.py [--postgres URL] [--skip-http]``

1. In process (httpx2 ``ASGITransport`` against ``vintry.api.create_app(platform)``, one
   caller, no sockets) on a temporary SQLite data directory initialised with
   ``vintry.bootstrap.initialise`` plus the 32 demo regions: ``GET /health/live`` (no auth,
   no database: the baseline) against ``/health/ready``, an authenticated
   ``/sites/<code>/api/v1/site``, and ``/api/v1/dealers`` on regions with N dealers. Then the
   parts of ``authorize`` timed on their own, and the SQL statements each route sends.
2. With ``--postgres URL``: part 1 again on PostgreSQL (a schema per site, in a database made
   for this run and dropped at the end).
3. Over real HTTP (unless ``--skip-http``): ``uvicorn vintry.api.app:create_app --factory``
   on a free loopback port, a few concurrent keep-alive clients, each route bounded by a
   request count and a time budget; throughput, latency percentiles, and the server's CPU
   time per request.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common as c
from rich.table import Table

BASELINE = "GET /health/live"
AUTHORIZE_PARTS = "authorize's calls in sequence"


@dataclass
class Deployment:
    """A populated platform and what the routes need to address it."""

    platform: Any
    token: str
    backend: str
    regions: list[str]
    dealer_sites: dict[int, str] = field(default_factory=dict)
    setup_seconds: float = 0.0


def populate(platform: Any, backend: str, dealer_counts: list[int]) -> Deployment:
    """Initialise, create the 32 demo regions, and give the first regions N dealers each."""
    from vintry.bootstrap import initialise
    from vintry.dealers.models import DealerTier
    from vintry.dealers.schemas import DealerCreate
    from vintry.dealers.service import create_dealer
    from vintry.demo.data import REGIONS, demo_dealers
    from vintry.sites.models import SiteKind
    from vintry.sites.schemas import SiteCreate
    from vintry.sites.service import create_site

    actor = c.bench_actor()
    began = time.perf_counter()
    result = initialise(platform, actor=actor)
    assert result.admin_token, "a fresh data directory yields an admin token"
    root = platform.directory().root
    for region in REGIONS:
        create_site(
            platform,
            parent_code=root.code,
            request=SiteCreate(
                code=region.code,
                name=region.name_en,
                kind=SiteKind.REGION,
                domains=[region.domain],
            ),
            actor=actor,
        )
    deployment = Deployment(platform, result.admin_token, backend, [r.code for r in REGIONS])
    for region, count in zip(REGIONS, dealer_counts, strict=False):
        for dealer in demo_dealers(region, count):
            create_dealer(
                platform,
                region.code,
                DealerCreate(
                    code=dealer.code,
                    name=dealer.name,
                    tier=DealerTier(dealer.tier),
                    tags=list(dealer.tags),
                    city=dealer.city,
                ),
                actor=actor,
            )
        deployment.dealer_sites[count] = region.code
    deployment.setup_seconds = time.perf_counter() - began
    return deployment


def route_table(deployment: Deployment) -> dict[str, tuple[str, bool]]:
    """Case name → (path, authenticated)."""
    site = deployment.regions[0]
    routes = {
        BASELINE: ("/health/live", False),
        "GET /health/ready": ("/health/ready", False),
        "GET /sites/<r>/api/v1/site": (f"/sites/{site}/api/v1/site", True),
    }
    for count, code in deployment.dealer_sites.items():
        routes[f"GET /sites/<r>/api/v1/dealers  N={count}"] = (
            f"/sites/{code}/api/v1/dealers",
            True,
        )
    return routes


# --- in process --------------------------------------------------------------------------


@dataclass
class InProcess:
    """What part 1 measured on one backend."""

    backend: str
    routes: dict[str, c.Stats]
    parts: dict[str, c.Stats]
    statements: dict[str, c.StatementCount]
    per_request: int


async def measure_in_process(deployment: Deployment, *, count: int, seconds: float) -> InProcess:
    """Routes through the ASGI app, then the parts of ``authorize`` on their own."""
    import httpx2
    from vintry.accounts.service import authenticate
    from vintry.api import create_app
    from vintry.dealers import service as dealers

    platform = deployment.platform
    app = create_app(platform)
    auth = {"Authorization": f"Bearer {deployment.token}"}
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:

        def call(path: str, authenticated: bool) -> Any:
            headers = auth if authenticated else {}

            async def request() -> None:
                response = await client.get(path, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:300]}")

            return request

        cases = {
            name: call(path, authed) for name, (path, authed) in route_table(deployment).items()
        }
        routes = await c.interleave_async(cases, count=count, seconds=seconds)

        # SQL statements and pool checkouts per request, counted outside the timed loop.
        per_request = 10
        statements: dict[str, c.StatementCount] = {}
        for name, fn in cases.items():
            with c.count_statements() as found:
                for _ in range(per_request):
                    await fn()
            statements[name] = found

        # The parts of authorize, called directly (no HTTP, no thread hop), beside the
        # same baseline request so the ratios share a run.
        directory = platform.directory()
        site = deployment.regions[0]
        largest = max(deployment.dealer_sites) if deployment.dealer_sites else None

        async def refresh() -> None:
            platform.refresh()

        async def authenticate_token() -> None:
            authenticate(platform, deployment.token, directory)

        async def site_context() -> None:
            platform.site(site, directory)

        async def authorize_parts() -> None:
            current = platform.directory()
            principal = authenticate(platform, deployment.token, current)
            principal.reaches_site(current, site)
            platform.site(site, current)

        part_cases: dict[str, Any] = {
            BASELINE: cases[BASELINE],
            "platform.refresh()  (counters query)": refresh,
            "authenticate()  (token ⋈ user)": authenticate_token,
            "platform.site(code, directory)": site_context,
            AUTHORIZE_PARTS: authorize_parts,
        }
        if largest is not None:
            code = deployment.dealer_sites[largest]

            async def list_dealers() -> None:
                with platform.hq.reading() as session:
                    dealers.list_dealers(session, directory, code)

            part_cases[f"dealers.list_dealers  N={largest}"] = list_dealers
        parts = await c.interleave_async(part_cases, count=count, seconds=seconds * 0.6)
    return InProcess(deployment.backend, routes, parts, statements, per_request)


def report_in_process(result: InProcess) -> None:
    """Print part 1's tables for one backend."""
    live = result.routes[BASELINE]
    site_route = result.routes["GET /sites/<r>/api/v1/site"]
    c.console.print(
        c.stats_table(
            f"In-process requests ({result.backend}): one caller, ASGI transport, no sockets",
            list(result.routes.values()),
            baseline=BASELINE,
            rate_label="req/s",
        )
    )
    c.console.print(
        c.stats_table(
            f"The parts of authorize, called directly ({result.backend})",
            list(result.parts.values()),
            baseline=BASELINE,
            caption="Baseline: the in-process GET /health/live, measured interleaved with these.",
        )
    )
    parts = result.parts
    refresh = parts["platform.refresh()  (counters query)"].median
    in_sequence = parts[AUTHORIZE_PARTS].median
    overhead = site_route.median - live.median
    c.note(
        f"authorised GET /site − /health/live = {c.fmt_duration(overhead)} per request "
        f"({c.fmt_ratio(site_route.median / live.median)} the baseline); authorize's calls "
        f"in sequence = {c.fmt_duration(in_sequence)}, "
        f"of which each counters refresh is {c.fmt_duration(refresh)}."
    )

    table = Table(
        title=f"SQL per request ({result.backend}), counted over {result.per_request} requests",
        title_justify="left",
    )
    for column in (
        "case",
        "statements/req",
        "pool checkouts/req",
        "pre-ping trips/req",
        "new connections",
        "by kind /req",
    ):
        table.add_column(column, justify="left" if column in ("case", "by kind /req") else "right")
    for name, found in result.statements.items():
        kinds = ", ".join(
            f"{kind} {n / result.per_request:g}" for kind, n in found.statements.most_common()
        )
        table.add_row(
            name,
            f"{found.total / result.per_request:g}",
            f"{found.checkouts / result.per_request:g}",
            f"{found.pings / result.per_request:g}",
            str(found.connects),
            kinds,
        )
    c.console.print(table)
    site_stats = result.statements["GET /sites/<r>/api/v1/site"]
    if site_stats.pings:
        c.finding(
            f"pool_pre_ping is on: each of the {site_stats.checkouts / result.per_request:g} "
            "checkouts of an authorised request first sends SELECT 1 (a server round trip the "
            "statement count above does not include)."
        )
    checkouts = site_stats.checkouts / result.per_request
    if checkouts >= 3:
        c.finding(
            f"an authorised GET /site opens {checkouts:g} HQ sessions: authorize calls "
            "platform.directory() (counters query), authenticate() (token query), then "
            "platform.site(code, directory), whose refresh() reads the counters a second time "
            "although the directory was just passed in."
        )


# --- real HTTP -----------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process *pid* (all threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """``uvicorn vintry.api.app:create_app --factory`` on a loopback port, as a child."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"VINTRY_HQ_DATABASE_URL", "VINTRY_SITE_DATABASE_URL", "VINTRY_CONFIG_FILE"}
        }
        env["VINTRY_DATA_DIR"] = str(data_dir)
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "vintry.api.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll ``/health/ready`` until it answers 200 (bounded by *timeout*)."""
        import httpx2

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"uvicorn exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                if httpx2.get(self.base_url + "/health/ready", timeout=1.0).status_code == 200:
                    return
            except httpx2.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"uvicorn not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's output."""
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s (only this child, by its pid)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


@dataclass
class Load:
    """One route under load."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    wall: float = 0.0
    server_cpu: float = 0.0

    @property
    def throughput(self) -> float:
        """Completed requests per second of wall time."""
        return len(self.latencies) / self.wall if self.wall else float("nan")


async def http_load(
    server: Server,
    routes: dict[str, tuple[str, bool]],
    token: str,
    *,
    concurrency: int,
    count: int,
    seconds: float,
    chunk: int,
) -> dict[str, Load]:
    """Every route in turn, *chunk* requests at a time, until *count* or *seconds* each."""
    import httpx2

    auth = {"Authorization": f"Bearer {token}"}
    limits = httpx2.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [
        httpx2.AsyncClient(base_url=server.base_url, timeout=10.0, limits=limits)
        for _ in range(concurrency)
    ]
    loads = {name: Load(name) for name in routes}
    pid = server.process.pid
    try:

        async def run_chunk(load: Load, path: str, headers: dict[str, str], n: int) -> None:
            remaining = n

            async def worker(client: Any) -> None:
                nonlocal remaining
                while remaining > 0 and load.errors < 50:
                    remaining -= 1
                    began = time.perf_counter()
                    try:
                        response = await client.get(path, headers=headers)
                        ok = response.status_code == 200
                    except httpx2.HTTPError:
                        ok = False
                    if ok:
                        load.latencies.append(time.perf_counter() - began)
                    else:
                        load.errors += 1

            await asyncio.gather(*(worker(client) for client in clients))

        for name, (path, authed) in routes.items():  # warm up every route and connection
            await run_chunk(Load(name), path, auth if authed else {}, 5 * concurrency)

        overall = time.monotonic() + seconds * len(routes) + 10
        turn = 0
        while time.monotonic() < overall:
            pending = [
                name
                for name, load in loads.items()
                if len(load.latencies) + load.errors < count
                and load.wall < seconds
                and load.errors < 50
            ]
            if not pending:
                break
            turn += 1
            start = turn % len(pending)
            for name in pending[start:] + pending[:start]:
                load = loads[name]
                path, authed = routes[name]
                n = min(chunk, count - len(load.latencies) - load.errors)
                cpu_before, began = cpu_seconds(pid), time.perf_counter()
                await run_chunk(load, path, auth if authed else {}, n)
                load.wall += time.perf_counter() - began
                load.server_cpu += cpu_seconds(pid) - cpu_before
    finally:
        for client in clients:
            await client.aclose()
    return loads


def report_http(loads: dict[str, Load], concurrency: int) -> None:
    """Print the HTTP load table."""
    base = loads[BASELINE]
    base_median = c.percentile(base.latencies, 50)
    table = Table(
        title=f"Real HTTP: uvicorn (1 process) on 127.0.0.1, "
        f"{concurrency} concurrent keep-alive clients",
        title_justify="left",
        caption="Throughput ratio = route / baseline (lower is slower); latency ratio on medians. "
        "Server CPU/request comes from /proc (10 ms ticks, summed over the run).",
        caption_justify="left",
    )
    for column in (
        "case",
        "requests",
        "req/s",
        "median",
        "p95",
        "p99",
        "server CPU/req",
        "req/s × base",
        "median × base",
    ):
        table.add_column(column, justify="left" if column == "case" else "right")
    for name, load in loads.items():
        n = len(load.latencies)
        median = c.percentile(load.latencies, 50)
        is_base = load is base
        table.add_row(
            name,
            f"{n}" + (f" ({load.errors} err)" if load.errors else ""),
            c.fmt_rate(load.throughput),
            c.fmt_duration(median),
            c.fmt_duration(c.percentile(load.latencies, 95)),
            c.fmt_duration(c.percentile(load.latencies, 99)),
            c.fmt_duration(load.server_cpu / n) if n else "-",
            "baseline" if is_base else c.fmt_ratio(load.throughput / base.throughput),
            "baseline" if is_base else c.fmt_ratio(median / base_median),
        )
    c.console.print(table)


# --- main ------------------------------------------------------------------------------------


def in_process_on(deployment: Deployment, count: int, seconds: float) -> InProcess:
    """Part 1 on one populated deployment, printed."""
    c.section(f"In process on {deployment.backend}")
    c.note(
        f"setup: initialise + 32 regions + dealers {sorted(deployment.dealer_sites)} "
        f"in {deployment.setup_seconds:.1f} s"
    )
    result = c.run_async(measure_in_process(deployment, count=count, seconds=seconds))
    report_in_process(result)
    return result


def summary(results: list[InProcess]) -> None:
    """Per backend: what authentication + tenancy + refresh adds, as a ratio to the baseline."""
    table = Table(
        title="Summary: per-request cost above GET /health/live (medians, in process)",
        title_justify="left",
    )
    for column in ("backend", "case", "median", "Δ vs live", "× live", "HQ sessions/req"):
        table.add_column(column, justify="left" if column in ("backend", "case") else "right")
    for result in results:
        live = result.routes[BASELINE].median
        for name, stats in result.routes.items():
            if name == BASELINE:
                continue
            table.add_row(
                result.backend,
                name,
                c.fmt_duration(stats.median),
                "+" + c.fmt_duration(stats.median - live),
                c.fmt_ratio(stats.median / live),
                f"{result.statements[name].checkouts / result.per_request:g}",
            )
    c.console.print(table)


def main() -> None:
    parser = c.argument_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--skip-http", action="store_true", help="no uvicorn load test")
    parser.add_argument(
        "--dealers",
        default="10,200",
        help="dealer counts of the regions listed by /dealers (default 10,200)",
    )
    parser.add_argument("--count", type=int, default=None, help="samples per case (in process)")
    parser.add_argument("--seconds", type=float, default=None, help="time budget per table")
    parser.add_argument("--concurrency", type=int, default=4, help="HTTP clients (default 4)")
    parser.add_argument("--http-requests", type=int, default=2000, help="HTTP requests per route")
    parser.add_argument("--http-seconds", type=float, default=20.0, help="HTTP seconds per route")
    args = parser.parse_args()
    count = args.count or (60 if args.quick else 400)
    seconds = args.seconds or (4.0 if args.quick else 25.0)
    http_requests = min(args.http_requests, 200) if args.quick else args.http_requests
    http_seconds = min(args.http_seconds, 3.0) if args.quick else args.http_seconds
    dealer_counts = [int(n) for n in args.dealers.split(",") if n.strip()]

    started = time.perf_counter()
    c.header(
        "bench_request_overhead",
        "the cost of one API request in process and over HTTP: /health/live (no auth, no "
        "database) as the baseline, /health/ready, an authorised GET /site, and GET /dealers "
        f"on regions with N = {dealer_counts} dealers; plus the parts of authorize on their own "
        "and the SQL statements per request.",
        "every authorised request authenticates its token, resolves its site and tenant, and "
        "reads HQ's change counters (Platform.refresh) before the route does anything: that "
        "fixed cost is paid on every call of every plugin route.",
        read="'× baseline' is route median / live median from the same interleaved run; "
        "'Δ median' is the added time. Compare ratios between runs, not absolute figures.",
    )
    results: list[InProcess] = []
    workdir = Path(tempfile.mkdtemp(prefix="vintry-bench-req-"))
    try:
        data_dir = workdir / "data"
        platform = c.make_platform(data_dir)
        try:
            sqlite_deployment = populate(platform, "sqlite", dealer_counts)
            results.append(in_process_on(sqlite_deployment, count, seconds))
        finally:
            platform.close()

        if args.postgres:
            version = c.check_postgres(args.postgres)
            scratch = c.ScratchPostgres(args.postgres, "req")
            try:
                pg = c.make_platform(
                    workdir / "pg-data",
                    hq_url=scratch.hq_url("schema"),
                    site_url=scratch.site_template("schema"),
                )
                try:
                    deployment = populate(
                        pg, f"postgresql {version}, schema per site", dealer_counts
                    )
                    results.append(in_process_on(deployment, count, seconds))
                finally:
                    pg.close()
            finally:
                dropped = scratch.drop_all()
                c.note(f"dropped PostgreSQL databases: {', '.join(dropped) or 'none'}")

        summary(results)

        if not args.skip_http:
            c.section("Over real HTTP (SQLite data directory of part 1)")
            server = Server(data_dir, workdir / "uvicorn.log")
            try:
                server.wait_ready()
                loads = c.run_async(
                    http_load(
                        server,
                        route_table(sqlite_deployment),
                        sqlite_deployment.token,
                        concurrency=args.concurrency,
                        count=http_requests,
                        seconds=http_seconds,
                        chunk=max(50, http_requests // 8),
                    )
                )
                report_http(loads, args.concurrency)
                c.note(
                    f"bounded at {http_requests} requests or {http_seconds:.0f} s of load per "
                    "route. The clients share the 2 cores with the server: req/s is a floor."
                )
            finally:
                server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    c.footer(started)


if __name__ == "__main__":
    main()
