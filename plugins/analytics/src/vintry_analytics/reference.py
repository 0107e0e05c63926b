"""The brute-force reference for funnels: every chain enumerated, nothing clever.

:mod:`vintry_analytics.funnel` must agree with this on every input; the tests check that
with Hypothesis on generated event streams and the benchmark on samples of real-sized data.
It is exponential in the number of events per dealer, so it is only run on small streams.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence

from vintry_analytics.funnel import Path

RawEvent = tuple[str, str, int]
"""(key, type, time in ms) — the key is a dealer, or a dealer and SKU joined by the caller."""


def reference_paths(
    events: Iterable[RawEvent],
    steps: Sequence[str],
    window_ms: int,
    start_ms: int,
    end_ms: int,
) -> dict[str, Path]:
    """Each entrant's level and representative chain, by enumerating every chain.

    A chain is a subsequence of the key's events in the period whose types are the first
    ``k`` steps, with strictly increasing times, spanning at most *window_ms*. The level is
    the longest chain; the representative is, among the longest, the one with the latest
    start, then the smallest times in order. Keys with no first-step event are left out.
    """
    by_key: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for key, type_, moment in events:
        if start_ms <= moment < end_ms and type_ in steps:
            by_key[key].append((moment, type_))
    result: dict[str, Path] = {}
    for key, own in by_key.items():
        own.sort()
        chains: list[tuple[int, ...]] = []
        for size in range(1, len(steps) + 1):
            for combo in itertools.combinations(own, size):
                in_order = all(combo[i][1] == steps[i] for i in range(size))
                increasing = all(combo[i][0] < combo[i + 1][0] for i in range(size - 1))
                if in_order and increasing and combo[-1][0] - combo[0][0] <= window_ms:
                    chains.append(tuple(moment for moment, _ in combo))
        if not chains:
            continue
        level = max(len(chain) for chain in chains)
        longest = [chain for chain in chains if len(chain) == level]
        latest_start = max(chain[0] for chain in longest)
        best = min(chain for chain in longest if chain[0] == latest_start)
        result[key] = Path(level, best)
    return result
