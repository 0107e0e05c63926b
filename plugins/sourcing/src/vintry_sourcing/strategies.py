"""The heuristic strategies: priority, nearest-with-stock, fewest-splits, cost-local-search.

Each takes a :class:`~vintry_sdk.SourcingRequest` and returns a plan covering every line
from the eligible warehouses the kernel passed (it filtered them by activity, region, the
rule's allowed list and its maximum distance), honouring ``no_split``; when the lines
cannot be covered it raises ``Conflict(code="out_of_stock")``.
"""

from __future__ import annotations

from collections.abc import Sequence

from vintry_sdk import SourcingPlan, SourcingRequest

from vintry_sourcing.instance import SourcingInstance

PRIORITY = "priority"
NEAREST = "nearest-with-stock"
FEWEST_SPLITS = "fewest-splits"
COST_LOCAL_SEARCH = "cost-local-search"
SEARCH_NODE_LIMIT = 2_000
"""Sets fewest-splits examines before it settles for a greedy cover."""

Allocation = list[tuple[int, int, int]]


def fill_in_order(instance: SourcingInstance, order: Sequence[int]) -> Allocation | None:
    """Each line from the warehouses in *order*, taking what each has: None if short."""
    allocation: Allocation = []
    for s, wanted in enumerate(instance.demand):
        left = wanted
        for w in order:
            take = min(left, instance.stock[w][s])
            if take:
                allocation.append((w, s, take))
                left -= take
                if not left:
                    break
        if left:
            return None
    return allocation


def whole_order(instance: SourcingInstance, order: Sequence[int]) -> Allocation | None:
    """The whole order from the first warehouse in *order* holding all of it, or None."""
    for w in order:
        if instance.holds_all(w):
            return [(w, s, wanted) for s, wanted in enumerate(instance.demand)]
    return None


def _settle(
    instance: SourcingInstance, strategy: str, order: Sequence[int], ranking: str
) -> SourcingPlan:
    if instance.no_split:
        allocation = whole_order(instance, order)
        if allocation is None:
            raise instance.out_of_stock()
        return instance.plan(strategy, allocation, f"{ranking}; no split allowed")
    allocation = fill_in_order(instance, order)
    if allocation is None:
        raise instance.out_of_stock()
    return instance.plan(strategy, allocation, f"{ranking}, splitting where one runs short")


def priority(request: SourcingRequest) -> SourcingPlan:
    """Warehouses by priority (1 first), then distance, then code; each line from the first
    that has it, the rest from the next (Magento MSI's priority selection)."""
    instance = SourcingInstance.of(request)
    order = sorted(
        range(instance.size),
        key=lambda w: (instance.priority[w], instance.km[w], instance.codes[w]),
    )
    ranking = ", ".join(f"{instance.codes[w]} (p{instance.priority[w]})" for w in order[:4])
    return _settle(instance, PRIORITY, order, f"by priority: {ranking}")


def nearest_with_stock(request: SourcingRequest) -> SourcingPlan:
    """The nearest warehouse holding the whole order; when none does, each line from the
    nearest warehouses that have it, split across them."""
    instance = SourcingInstance.of(request)
    order = list(range(instance.size))  # already nearest first
    allocation = whole_order(instance, order)
    if allocation is not None:
        w = allocation[0][0]
        return instance.plan(
            NEAREST,
            allocation,
            f"nearest with the whole order: {instance.codes[w]} at {instance.km[w]:,.0f} km",
        )
    return _settle(instance, NEAREST, order, "no warehouse holds it all: nearest first")


def fewest_splits(request: SourcingRequest) -> SourcingPlan:
    """The fewest warehouses that cover the order (an exact search, bounded to
    :data:`SEARCH_NODE_LIMIT` sets), the cheapest such set when several tie."""
    instance = SourcingInstance.of(request)
    if instance.shortfall():
        raise instance.out_of_stock()
    singles = [w for w in range(instance.size) if instance.holds_all(w)]
    if singles:
        best = min(singles, key=lambda w: _cost(instance, (w,)))
        found = instance.assign((best,))
        assert found is not None
        return instance.plan(FEWEST_SPLITS, found[1], "one warehouse holds it all")
    if instance.no_split:
        raise instance.out_of_stock()
    sets, exhausted = _smallest_covers(instance)
    if sets:
        best_set = min(sets, key=lambda chosen: _cost(instance, chosen))
        found = instance.assign(best_set)
        assert found is not None
        note = (
            f"fewest warehouses: {len(best_set)}, cheapest of {len(sets)} such set(s)"
            if exhausted
            else f"{len(best_set)} warehouses (search bounded)"
        )
        return instance.plan(FEWEST_SPLITS, found[1], note)
    cover = _greedy_cover(instance)
    found = instance.assign(cover)
    assert found is not None
    return instance.plan(FEWEST_SPLITS, found[1], "greedy cover (search bounded)")


def _cost(instance: SourcingInstance, chosen: Sequence[int]) -> float:
    found = instance.assign(chosen)
    return found[0] if found is not None else float("inf")


def _smallest_covers(instance: SourcingInstance) -> tuple[list[tuple[int, ...]], bool]:
    """Every smallest covering set (iterative deepening, branching on the line furthest
    from covered); False when the node limit cut the search short."""
    budget = [SEARCH_NODE_LIMIT]
    for size in range(2, instance.size + 1):
        found: set[tuple[int, ...]] = set()
        seen: set[frozenset[int]] = set()
        complete = _deepen(instance, (), size, found, seen, budget)
        if found:
            return sorted(found), complete
        if not complete:
            return [], False
    return [], True


def _deepen(
    instance: SourcingInstance,
    chosen: tuple[int, ...],
    size: int,
    found: set[tuple[int, ...]],
    seen: set[frozenset[int]],
    budget: list[int],
) -> bool:
    key = frozenset(chosen)
    if key in seen:
        return True
    seen.add(key)
    budget[0] -= 1
    if budget[0] < 0:
        return False
    missing = [
        (wanted - sum(instance.stock[w][s] for w in chosen), s)
        for s, wanted in enumerate(instance.demand)
    ]
    missing = [(gap, s) for gap, s in missing if gap > 0]
    if not missing:
        found.add(tuple(sorted(chosen)))
        return True
    if len(chosen) == size:
        return True
    # Branch on the line with the fewest warehouses able to help it.
    _gap, line = min(
        missing,
        key=lambda item: (
            sum(1 for w in range(instance.size) if w not in key and instance.stock[w][item[1]]),
            -item[0],
        ),
    )
    helpers = [w for w in range(instance.size) if w not in key and instance.stock[w][line]]
    helpers.sort(key=lambda w: -sum(min(instance.stock[w][s], gap) for gap, s in missing))
    complete = True
    for w in helpers:
        if not _deepen(instance, (*chosen, w), size, found, seen, budget):
            complete = False
            break
    return complete


def _greedy_cover(instance: SourcingInstance) -> tuple[int, ...]:
    chosen: list[int] = []
    while not instance.covers(chosen):
        gaps = [
            max(wanted - sum(instance.stock[w][s] for w in chosen), 0)
            for s, wanted in enumerate(instance.demand)
        ]
        best = max(
            (w for w in range(instance.size) if w not in chosen),
            key=lambda w: sum(min(instance.stock[w][s], gap) for s, gap in enumerate(gaps)),
        )
        chosen.append(best)
    return tuple(chosen)


# --- cost-local-search: the production default -------------------------------------------------


def cost_local_search(request: SourcingRequest) -> SourcingPlan:
    """Near-optimal cost (units x km plus a cost per shipment) in a few milliseconds: the
    best of the cheapest single warehouse, the nearest-first fill and a greedy build, each
    improved by dropping, adding and swapping warehouses until no move pays."""
    instance = SourcingInstance.of(request)
    best = local_search(instance)
    if best is None:
        raise instance.out_of_stock()
    return instance.plan(COST_LOCAL_SEARCH, best[1], "least cost by local search")


def local_search(instance: SourcingInstance) -> tuple[float, Allocation] | None:
    """The cheapest allocation local search finds, or None when nothing covers the order."""
    if instance.shortfall():
        return None
    singles = [w for w in range(instance.size) if instance.holds_all(w)]
    starts: list[frozenset[int]] = []
    if singles:
        starts.append(frozenset({min(singles, key=lambda w: _cost(instance, (w,)))}))
    if instance.no_split:
        if not starts:
            return None
        found = instance.assign(starts[0])
        assert found is not None
        return found
    nearest = fill_in_order(instance, range(instance.size))
    if nearest is not None:
        starts.append(frozenset(w for w, _s, _u in nearest))
    starts.append(frozenset(_greedy_build(instance)))
    best: tuple[float, Allocation] | None = None
    tried: set[frozenset[int]] = set()
    for start in starts:
        if start in tried:
            continue
        tried.add(start)
        result = _improve(instance, start)
        if best is None or result[0] < best[0] - 1e-9:
            best = result
    return best


def _greedy_build(instance: SourcingInstance) -> set[int]:
    """Add the warehouse with the lowest cost per unit it newly covers until covered."""
    chosen: set[int] = set()
    gaps = list(instance.demand)
    while any(gaps):
        best_w, best_ratio = -1, float("inf")
        for w in range(instance.size):
            if w in chosen:
                continue
            covered = sum(min(instance.stock[w][s], gap) for s, gap in enumerate(gaps))
            if not covered:
                continue
            ratio = (instance.shipment_cost + covered * instance.km[w]) / covered
            if ratio < best_ratio:
                best_w, best_ratio = w, ratio
        chosen.add(best_w)
        gaps = [max(gap - instance.stock[best_w][s], 0) for s, gap in enumerate(gaps)]
    return chosen


def _improve(instance: SourcingInstance, start: frozenset[int]) -> tuple[float, Allocation]:
    found = instance.assign(start)
    assert found is not None
    cost, allocation = found
    current = frozenset(w for w, _s, _u in allocation)
    outside = [w for w in range(instance.size)]
    improved = True
    while improved:
        improved = False
        moves: list[frozenset[int]] = [current - {w} for w in current if len(current) > 1]
        moves += [current | {v} for v in outside if v not in current]
        moves += [(current - {w}) | {v} for w in current for v in outside if v not in current]
        for candidate in moves:
            found = instance.assign(candidate)
            if found is not None and found[0] < cost - 1e-9:
                cost, allocation = found
                current = frozenset(w for w, _s, _u in allocation)
                improved = True
                break
    return cost, allocation
