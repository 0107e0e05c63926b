"""``vintry dealer``."""

from __future__ import annotations

from collections.abc import Callable

from typer.testing import Result
from vintry.dealers.models import DealerTier
from vintry.dealers.service import list_dealers
from vintry.platform import Platform

Invoke = Callable[..., Result]


def test_dealer_create_and_list(vintry: Invoke, platform: Platform) -> None:
    vintry("init")
    vintry("site", "create", "east", "East")
    vintry("site", "create", "west", "West")
    created = vintry(
        "dealer", "create", "east", "D-E-001", "East Wines",
        "--tier", "gold", "--tag", "banquet", "--tag", "online", "--city", "Hangzhou",
    )
    assert "Created dealer D-E-001 (East Wines) at east: gold, tags banquet, online." in (
        created.stdout
    )
    vintry("dealer", "create", "east", "D-E-002", "East Spirits")
    vintry("dealer", "create", "west", "D-W-001", "West Wines", "--tag", "online")

    with platform.hq.reading() as session:
        east = list_dealers(session, platform.directory(), "east")
    assert [(d.code, d.tier, d.tags, d.city) for d in east] == [
        ("D-E-001", DealerTier.GOLD, ["banquet", "online"], "Hangzhou"),
        ("D-E-002", DealerTier.SILVER, [], None),
    ]

    everything = vintry("dealer", "list").stdout
    assert "Dealers (3)" in everything
    assert all(code in everything for code in ("D-E-001", "D-E-002", "D-W-001"))
    east_only = vintry("dealer", "list", "east").stdout
    assert "Dealers (2)" in east_only and "D-W-001" not in east_only
    gold = vintry("dealer", "list", "--tier", "gold").stdout
    assert "Dealers (1)" in gold and "D-E-001" in gold
    online = vintry("dealer", "list", "--tag", "online").stdout
    assert "Dealers (2)" in online and "D-E-002" not in online


def test_dealer_errors(vintry: Invoke) -> None:
    vintry("init")
    vintry("site", "create", "east", "East")
    vintry("dealer", "create", "east", "D-E-001", "East Wines")
    duplicate = vintry("dealer", "create", "east", "D-E-001", "Again", expect=1)
    assert "dealer_exists" in duplicate.stderr and "(field: code)" in duplicate.stderr
    nowhere = vintry("dealer", "create", "north", "D-N-001", "North", expect=1)
    assert "site_not_found" in nowhere.stderr
    assert "Traceback" not in duplicate.output + nowhere.output
