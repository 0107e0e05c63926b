"""Funnels: the engine agrees with the brute-force reference on generated event streams
(Hypothesis), through the real SQL path; and the API's counts, drop-off, medians and
breakdowns are right on a hand-made case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from vintry_analytics.funnel import (
    FunnelQuery,
    FunnelTally,
    Path,
    Plan,
    best_path,
    choose_plan,
    funnel_at_site,
    median,
    site_paths,
)
from vintry_analytics.models import BehaviourEvent
from vintry_analytics.reference import reference_paths
from vintry_analytics.storage import epoch_ms, from_epoch_ms

from .conftest import BASE, World

T0 = datetime(2025, 12, 20, tzinfo=UTC)
T0_MS = epoch_ms(T0)
TYPES = ("product_view", "add_to_cart", "checkout_start", "order_placed")
DEALERS = ("DE-00", "DE-01", "DE-02")
SKU_CHOICES = ("FT-500", "FT-200")

stream = st.lists(
    st.tuples(
        st.sampled_from(DEALERS),
        st.sampled_from(TYPES),
        st.integers(min_value=0, max_value=40),
        st.sampled_from(SKU_CHOICES),
    ),
    max_size=18,
)
funnel_steps = st.lists(st.sampled_from(TYPES), min_size=1, max_size=4)


def _replace_events(world: World, events: list[tuple[str, str, int, str]]) -> None:
    with world.platform.site_database("east").transaction() as session:
        session.execute(delete(BehaviourEvent))
    world.events(
        "east", [(dealer, type_, sku, from_epoch_ms(T0_MS + t)) for dealer, type_, t, sku in events]
    )


def _plans(world: World) -> list[Plan]:
    """Every plan the site's database can run: the seeks are SQLite's SQL."""
    if world.platform.site_database("east").engine.dialect.name == "sqlite":
        return list(Plan)
    return [Plan.GROUPED]


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    events=stream,
    steps=funnel_steps,
    window=st.integers(0, 25),
    cut=st.integers(0, 45),
    only=st.none() | st.frozensets(st.sampled_from(DEALERS), min_size=1),
)
def test_the_engine_equals_the_brute_force_reference(
    world: World,
    events: list[tuple[str, str, int, str]],
    steps: list[str],
    window: int,
    cut: int,
    only: frozenset[str] | None,
) -> None:
    """Strict order, repeated steps, the window from the first step, the period's end, and
    a funnel over named dealers; with every plan the database can run."""
    _replace_events(world, events)
    query = FunnelQuery(tuple(steps), window, T0_MS + 2, T0_MS + cut, only)
    counted = [event for event in events if only is None or event[0] in only]
    raw = [(dealer, type_, T0_MS + t) for dealer, type_, t, _ in counted]
    expected = reference_paths(raw, steps, window, query.start_ms, query.end_ms)
    raw_sku = [(f"{d}|{s}", type_, T0_MS + t) for d, type_, t, s in counted]
    expected_sku = reference_paths(raw_sku, steps, window, query.start_ms, query.end_ms)
    for plan in _plans(world):
        with world.platform.site_database("east").reading() as session:
            engine = site_paths(session, query, plan=plan)
            by_sku = site_paths(session, query, by_sku=True, plan=plan)
        assert {dealer: path for (dealer, _), path in engine.items()} == expected, plan
        assert {f"{d}|{s}": path for (d, s), path in by_sku.items()} == expected_sku, plan

    tally = funnel_at_site(world.platform.site("east"), query).overall
    oracle = FunnelTally(len(steps))
    for path in expected.values():
        oracle.add(path)
    assert tally.reached == oracle.reached
    assert [median(d) for d in tally.durations] == [median(d) for d in oracle.durations]


def test_the_plan_follows_how_fast_the_funnel_narrows(world: World) -> None:
    """Seeks from whichever of steps 1 and 2 is much rarer; a grouped read when they are
    alike, for a few named dealers, and always on PostgreSQL. Each plan gives the same."""
    moment = world.clock.now() - timedelta(days=5)
    dealers = world.dealers["east"]
    rows: list[tuple[str, str, str | None, datetime]] = []
    for index in range(420):
        dealer = dealers[index % len(dealers)]
        at = moment + timedelta(seconds=index)
        rows.append((dealer, "product_view", "FT-500", at))
        if index % 9 == 0:  # every dealer, a ninth of its views
            rows.append((dealer, "add_to_cart", "FT-500", at + timedelta(milliseconds=500)))
        if index % 3 == 0:
            rows.append((dealer, "search", None, at - timedelta(milliseconds=500)))
    world.events("east", rows)
    start, end = epoch_ms(moment - timedelta(hours=1)), epoch_ms(world.clock.now())
    hour = 3_600_000
    narrowing = FunnelQuery(("product_view", "add_to_cart"), hour, start, end)
    widening = FunnelQuery(("add_to_cart", "product_view"), hour, start, end)
    alike = FunnelQuery(("search", "product_view"), hour, start, end)
    named = FunnelQuery(narrowing.steps, hour, start, end, frozenset(dealers[:2]))
    sqlite = world.platform.site_database("east").engine.dialect.name == "sqlite"

    with world.platform.site_database("east").reading() as session:
        chosen = [choose_plan(session, query) for query in (narrowing, widening, alike, named)]
        results = {plan: site_paths(session, narrowing, plan=plan) for plan in _plans(world)}

    if sqlite:
        assert chosen == [Plan.SEEK_FROM_STEP_2, Plan.SEEK_FROM_STEP_1, Plan.GROUPED, Plan.GROUPED]
    else:
        assert chosen == [Plan.GROUPED] * 4
    assert len({tuple(sorted(paths.items())) for paths in results.values()}) == 1
    assert sum(path.level == 2 for path in results[Plan.GROUPED].values()) == len(dealers)


@pytest.mark.parametrize(
    ("lists", "window", "expected"),
    [
        # a later start wins when the earlier one cannot finish in the window
        ([[0, 50], [55], [60]], 20, Path(3, (50, 55, 60))),
        # the earliest matches after the latest best start
        ([[0], [1, 2], [3, 4]], 10, Path(3, (0, 1, 3))),
        # same millisecond is not "after"
        ([[5], [5], [6]], 10, Path(1, (5,))),
        # a type used twice: two distinct events are needed
        ([[1, 4], [2], [1, 4]], 10, Path(3, (1, 2, 4))),
        # window is inclusive
        ([[0], [10]], 10, Path(2, (0, 10))),
        ([[0], [11]], 10, Path(1, (0,))),
    ],
)
def test_documented_semantics(lists: list[list[int]], window: int, expected: Path) -> None:
    assert best_path(lists, window) == expected


def test_funnel_api_counts_drop_off_medians_and_breakdowns(world: World) -> None:
    start = world.clock.now() - timedelta(days=10)
    east, west, store = world.dealers["east"], world.dealers["west"], world.dealers["east-s1"]
    minute = timedelta(minutes=1)

    def walk(
        dealer: str, steps: int, gap: timedelta, sku: str = "FT-500"
    ) -> list[tuple[str, str, str | None, datetime]]:
        return [(dealer, TYPES[i], sku, start + i * gap) for i in range(steps)]

    world.events("east", walk(east[0], 4, 2 * minute) + walk(east[1], 4, 4 * minute))
    world.events("east", walk(east[2], 2, minute, "FT-200"))
    # checkout three days after the view: outside the 72 h window
    world.events(
        "east",
        [
            *walk(east[3], 2, minute),
            (east[3], "checkout_start", "FT-500", start + timedelta(days=3, minutes=5)),
        ],
    )
    world.events("west", walk(west[0], 3, 6 * minute))
    world.events("east-s1", walk(store[0], 1, minute))
    client = world.hq_client()

    report = client.get(f"{BASE}/funnel", params={"days": 30}).json()

    overall = report["overall"]
    assert overall["entrants"] == 6
    assert [s["count"] for s in overall["steps"]] == [6, 5, 3, 2]
    assert [s["drop_off"] for s in overall["steps"]] == [0, 1, 2, 1]
    assert [s["conversion_from_start"] for s in overall["steps"]] == [1.0, 0.8333, 0.5, 0.3333]
    # cart after view: 2, 4, 1, 1, 6 minutes -> median 2 minutes
    assert overall["steps"][1]["median_ms_from_previous"] == 120_000.0
    assert overall["steps"][3]["median_ms_from_previous"] == (120_000 + 240_000) / 2
    assert report["sites"] == ["hq", "east", "east-s1", "west"]

    by_site = client.get(f"{BASE}/funnel", params={"breakdown": "site"}).json()
    counts = {g["key"]: [s["count"] for s in g["steps"]] for g in by_site["groups"]}
    assert counts == {"east": [4, 4, 2, 2], "west": [1, 1, 1, 0], "east-s1": [1, 0, 0, 0]}

    by_tier = client.get(f"{BASE}/funnel", params={"breakdown": "tier"}).json()
    tiers = {g["key"]: g["entrants"] for g in by_tier["groups"]}
    # dealer n has tier [gold, silver, bronze, platinum][n % 4]
    assert tiers == {"gold": 3, "silver": 1, "bronze": 1, "platinum": 1}

    by_sku = client.get(f"{BASE}/funnel", params={"breakdown": "sku"}).json()
    skus = {g["key"]: [s["count"] for s in g["steps"]] for g in by_sku["groups"]}
    assert skus == {"FT-500": [5, 4, 3, 2], "FT-200": [1, 1, 0, 0]}

    short = client.get(
        f"{BASE}/funnel", params={"steps": "product_view,add_to_cart", "window_hours": 1}
    ).json()
    assert [s["count"] for s in short["overall"]["steps"]] == [6, 5]


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"steps": "product_view,teleport"}, "unknown_type", "steps"),
        ({"steps": ",".join(["page_view"] * 9)}, "too_many_steps", "steps"),
        ({"steps": " , "}, "missing_steps", "steps"),
        ({"breakdown": "colour"}, "invalid_breakdown", "breakdown"),
        ({"window_hours": 0}, "validation_failed", "query.window_hours"),
    ],
)
def test_a_bad_funnel_request_names_the_field(
    world: World, params: dict[str, object], code: str, field: str
) -> None:
    response = world.hq_client().get(f"{BASE}/funnel", params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field)


def test_tally_merges_across_sites_exactly() -> None:
    paths = [Path(3, (0, 5, 9)), Path(2, (1, 3)), Path(1, (7,))]
    whole, left, right = FunnelTally(3), FunnelTally(3), FunnelTally(3)
    for index, path in enumerate(paths):
        whole.add(path)
        (left if index % 2 else right).add(path)
    left.merge(right)
    assert left.reached == whole.reached == [3, 2, 1]
    assert [sorted(d) for d in left.durations] == [sorted(d) for d in whole.durations]
    assert [median(d) for d in whole.durations] == [None, 3.5, 4.0]
