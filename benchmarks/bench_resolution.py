"""What resolving inherited settings down the site tree costs, per site.

Run: ``.venv/bin/python benchmarks/bench_resolution.py [--postgres URL]``

A tree of 1 HQ / 32 regions / 320 stores (10 per region) with site-settings overrides on HQ,
on every region and on every fourth store.

1. In memory, per store: the baseline is a dict lookup of precomputed values; against it
   ``SiteDirectory.path``, the ``FieldMergeRule`` fold, ``ConfigNamespace.defaults()``,
   ``merge_chain`` (path + defaults + fold, as the code calls it), pydantic validation, and
   both together; then ``_validate_subtree`` for a change at HQ (validates all 353 sites)
   and at a region (11 sites), per site validated.
2. On a platform (SQLite; with ``--postgres URL`` PostgreSQL too, in a database made for
   this run and dropped at the end): ``resolve_configuration`` of a store and
   ``change_overrides`` at HQ / a region / a store, including the HQ reads and writes,
   against ``platform.refresh()`` (the counters read every call starts with). The 352 sites
   are inserted as HQ rows only: resolution never opens a site database.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import count as counter
from itertools import cycle
from pathlib import Path
from typing import Any

import _common as c

REGIONS = 32
STORES_PER_REGION = 10


def tree() -> tuple[Any, dict[str, dict[str, Any]]]:
    """The directory (1 / 32 / 320) and the overrides every level sets (JSON form)."""
    from vintry.sites.directory import SiteDirectory, SiteNode
    from vintry.sites.models import SiteKind

    nodes = [SiteNode(1, "hq", "HQ", SiteKind.HQ, None, None, ("hq.bench.localhost",), True)]
    overrides: dict[str, dict[str, Any]] = {
        "hq": {"min_order_amount": "500.00", "support_phone": "400-800-8888"},
    }
    next_id = counter(2)
    for r in range(REGIONS):
        region = f"r{r:02d}"
        nodes.append(
            SiteNode(
                next(next_id),
                region,
                region,
                SiteKind.REGION,
                "hq",
                None,
                (f"{region}.bench.localhost",),
                True,
            )
        )
        overrides[region] = {"reservation_minutes": 30 + r, "support_phone": f"0{r:02d}-8888-0000"}
        for s in range(STORES_PER_REGION):
            store = f"{region}-s{s:02d}"
            nodes.append(
                SiteNode(
                    next(next_id),
                    store,
                    store,
                    SiteKind.STORE,
                    region,
                    None,
                    (f"{store}.bench.localhost",),
                    True,
                )
            )
            if s % 4 == 0:
                overrides[store] = {"announcement": f"store {store} opens at 9", "locale": "zh-CN"}
    return SiteDirectory.build(nodes, version=1), overrides


# --- part 1: in memory ---------------------------------------------------------------------


def in_memory(*, count: int, seconds: float) -> dict[str, c.Stats]:
    """Per-site cost of each step of resolution, interleaved."""
    from vintry.sites.api import SITE_SETTINGS
    from vintry.sites.configuration import _validate_subtree, merge_chain
    from vintry.sites.inheritance import (
        Enablement,
        EnablementRule,
        EnablementState,
        FieldMergeRule,
        Layer,
        resolve,
    )

    directory, overrides = tree()
    stores = [n.code for n in directory.nodes.values() if n.kind.value == "store"]
    model = SITE_SETTINGS.model
    defaults = SITE_SETTINGS.defaults()
    rule = FieldMergeRule(defaults=defaults)
    merged = {code: merge_chain(SITE_SETTINGS, directory, overrides, code).value for code in stores}
    precomputed = {code: model.model_validate(values) for code, values in merged.items()}
    enablement = {"hq": Enablement(EnablementState.ON), "r03": Enablement(EnablementState.OFF)}
    hq_change = {**overrides, "hq": {**overrides["hq"], "min_order_amount": "800.00"}}
    region_change = {**overrides, "r07": {**overrides["r07"], "reservation_minutes": 90}}
    total, region_size = len(directory.nodes), len(list(directory.subtree("r07")))

    def sweep(step: Callable[[str], object]) -> Callable[[], None]:
        def run() -> None:
            for code in stores:
                step(code)

        return run

    cases: dict[str, Callable[[], object]] = {
        "dict lookup of precomputed values": sweep(precomputed.__getitem__),
        "directory.path(code)": sweep(directory.path),
        "path + FieldMergeRule  (defaults hoisted)": sweep(
            lambda code: resolve(
                rule, [Layer(n.code, overrides.get(n.code)) for n in directory.path(code)]
            )
        ),
        "path + EnablementRule  (1 plugin)": sweep(
            lambda code: resolve(
                EnablementRule(),
                [Layer(n.code, enablement.get(n.code)) for n in directory.path(code)],
            )
        ),
        "ConfigNamespace.defaults()": sweep(lambda _code: SITE_SETTINGS.defaults()),
        "merge_chain()  (path + defaults() + fold)": sweep(
            lambda code: merge_chain(SITE_SETTINGS, directory, overrides, code)
        ),
        "SiteSettings.model_validate(merged)": sweep(
            lambda code: model.model_validate(merged[code])
        ),
        "merge_chain() + model_validate": sweep(
            lambda code: model.model_validate(
                merge_chain(SITE_SETTINGS, directory, overrides, code).value
            )
        ),
        f"_validate_subtree(HQ change)  ({total} sites)": lambda: _validate_subtree(
            SITE_SETTINGS, directory, hq_change, "hq"
        ),
        f"_validate_subtree(region change)  ({region_size} sites)": lambda: _validate_subtree(
            SITE_SETTINGS, directory, region_change, "r07"
        ),
    }
    units = {name: len(stores) for name in cases}
    units[f"_validate_subtree(HQ change)  ({total} sites)"] = total
    units[f"_validate_subtree(region change)  ({region_size} sites)"] = region_size
    return c.interleave(cases, count=count, seconds=seconds, batch=2, warmup=1, units=units)


def report_in_memory(results: dict[str, c.Stats]) -> None:
    """The part 1 table and what it says about defaults()."""
    baseline = "dict lookup of precomputed values"
    c.console.print(
        c.stats_table(
            f"Resolving site settings in memory: per store ({REGIONS * STORES_PER_REGION} stores "
            "per sample), per site validated for _validate_subtree",
            list(results.values()),
            baseline=baseline,
            rate_label="sites/s",
        )
    )
    defaults = results["ConfigNamespace.defaults()"].median
    merge = results["merge_chain()  (path + defaults() + fold)"].median
    subtree = next(s for n, s in results.items() if n.startswith("_validate_subtree(HQ"))
    hoisted = results["path + FieldMergeRule  (defaults hoisted)"].median
    if merge and defaults / merge > 0.5:
        total = len(tree()[0].nodes)
        c.finding(
            f"ConfigNamespace.defaults() alone takes {c.fmt_duration(defaults)} per call, about "
            f"all of merge_chain() ({c.fmt_duration(merge)} per site; the fold itself, defaults "
            f"hoisted, is {c.fmt_duration(hoisted)}): _jsonable builds a pydantic TypeAdapter per "
            "field on every call, and merge_chain calls defaults() once per site, so an HQ change "
            f"re-derives the same constant defaults {total} times (_validate_subtree at HQ: "
            f"{c.fmt_duration(subtree.median * total)} in all). Hoisting or caching the defaults "
            "per namespace would remove most of it."
        )


# --- part 2: on a platform ---------------------------------------------------------------


def insert_tree(platform: Any) -> None:
    """Add the 32 regions and 320 stores as HQ rows (no site databases), bump the counter."""
    from vintry.db.counters import bump
    from vintry.platform import SITES_COUNTER
    from vintry.sites.models import Site, SiteKind

    directory, _ = tree()
    root = platform.directory().root
    now = datetime.now(UTC)
    with platform.hq.transaction() as session:
        ids = {"hq": root.id}
        for kind in ("region", "store"):
            for node in directory.nodes.values():
                if node.kind.value != kind:
                    continue
                site = Site(
                    code=node.code,
                    name=node.name,
                    kind=SiteKind(kind),
                    parent_id=ids[node.parent_code],
                    active=True,
                    created_at=now,
                )
                session.add(site)
                session.flush()
                ids[node.code] = site.id
        bump(session, SITES_COUNTER)


def on_platform(platform: Any, *, count: int, seconds: float) -> dict[str, c.Stats]:
    """resolve_configuration and change_overrides through the platform, interleaved."""
    from vintry.bootstrap import initialise
    from vintry.sites.api import SITE_SETTINGS
    from vintry.sites.configuration import change_overrides, load_overrides, resolve_configuration

    actor = c.bench_actor()
    initialise(platform, actor=actor)
    insert_tree(platform)
    directory, overrides = tree()
    root = platform.directory().root.code
    for code, values in overrides.items():
        change_overrides(
            platform, SITE_SETTINGS, root if code == "hq" else code, set_fields=values, actor=actor
        )
    stores = cycle(n.code for n in directory.nodes.values() if n.kind.value == "store")
    toggles = cycle(["notice A", "notice B"])
    total, region_size = len(directory.nodes), len(list(directory.subtree("r07")))

    def change(code: str) -> Callable[[], None]:
        return lambda: change_overrides(
            platform, SITE_SETTINGS, code, set_fields={"announcement": next(toggles)}, actor=actor
        )

    loaded = platform.directory()

    def load_all_overrides() -> None:
        with platform.hq.reading() as session:
            load_overrides(session, SITE_SETTINGS.name, loaded)

    cases = {
        "platform.refresh()  (counters read)": platform.refresh,
        f"load_overrides()  ({len(overrides)} rows, every site's)": load_all_overrides,
        "resolve_configuration(store)": lambda: resolve_configuration(
            platform, SITE_SETTINGS, next(stores)
        ),
        f"change_overrides at HQ  ({total} sites validated)": change(root),
        f"change_overrides at a region  ({region_size} sites)": change("r07"),
        "change_overrides at a store  (1 site)": change("r07-s01"),
    }
    results = c.interleave(cases, count=count, seconds=seconds, batch=2, warmup=1)
    results[f"change_overrides at HQ  ({total} sites validated)"].note = "per site: {}".format(
        c.fmt_duration(results[f"change_overrides at HQ  ({total} sites validated)"].median / total)
    )
    resolved = results["resolve_configuration(store)"].median
    share = results[f"load_overrides()  ({len(overrides)} rows, every site's)"].median / resolved
    results["resolve_configuration(store)"].note = f"load_overrides ≈ {share:.0%} of it"
    return results


def report_platform(backend: str, results: dict[str, c.Stats], *, explain: bool = True) -> None:
    """The part 2 table for one backend."""
    c.console.print(
        c.stats_table(
            f"Resolution through the platform ({backend}): per call",
            list(results.values()),
            baseline="platform.refresh()  (counters read)",
        )
    )
    note = results["resolve_configuration(store)"].note
    if not explain:
        return
    c.finding(
        f"resolve_configuration of ONE site reads every override row of the namespace "
        f"(load_overrides: all sites' rows as ORM objects, JSON decoded; {note}), although "
        "only the rows on the path root → site (≤ 3 here) matter; GET /api/v1/settings pays "
        "this per request, growing with the number of sites that override anything."
    )


def main() -> None:
    parser = c.argument_parser(__doc__.split("\n\n")[0])
    args = parser.parse_args()
    count = 8 if args.quick else 40
    seconds = 5.0 if args.quick else 30.0
    platform_count = 10 if args.quick else 60

    started = time.perf_counter()
    c.header(
        "bench_resolution",
        f"resolving inherited site settings on a 1 / {REGIONS} / {REGIONS * STORES_PER_REGION} "
        "tree: each step (path, merge rule, defaults, pydantic validation) per store against a "
        "dict lookup of precomputed values; _validate_subtree of an HQ and a region change per "
        "site validated; then resolve_configuration / change_overrides through a platform.",
        "every read of a site's configuration resolves the chain root → site, and every change "
        "at HQ validates every descendant before writing: that cost grows with the tree.",
        read="figures are µs per site (per store resolved, or per site validated); '× baseline' "
        "is against the dict lookup (part 1) or platform.refresh() (part 2).",
    )
    c.section("In memory")
    report_in_memory(in_memory(count=count, seconds=seconds))

    workdir = Path(tempfile.mkdtemp(prefix="vintry-bench-res-"))
    try:
        c.section("Through a platform: SQLite")
        platform = c.make_platform(workdir / "sqlite")
        try:
            report_platform(
                "sqlite", on_platform(platform, count=platform_count, seconds=seconds / 2)
            )
        finally:
            platform.close()
        if args.postgres:
            version = c.check_postgres(args.postgres)
            c.section(f"Through a platform: PostgreSQL {version}")
            scratch = c.ScratchPostgres(args.postgres, "res")
            try:
                platform = c.make_platform(
                    workdir / "pg",
                    hq_url=scratch.hq_url("schema"),
                    site_url=scratch.site_template("schema"),
                )
                try:
                    report_platform(
                        "postgresql",
                        on_platform(platform, count=platform_count, seconds=seconds / 2),
                        explain=False,
                    )
                finally:
                    platform.close()
            finally:
                dropped = scratch.drop_all()
                c.note(f"dropped PostgreSQL databases: {', '.join(dropped) or 'none'}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    c.footer(started)


if __name__ == "__main__":
    main()
