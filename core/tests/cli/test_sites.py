"""``vintry site``."""

from __future__ import annotations

from collections.abc import Callable

from typer.testing import Result
from vintry.platform import Platform
from vintry.sites.models import SiteKind

Invoke = Callable[..., Result]


def test_site_create_list_and_tree(vintry: Invoke, platform: Platform) -> None:
    vintry("init")
    created = vintry(
        "site", "create", "east", "East Region",
        "--domain", "east.vintry.localhost", "--domain", "east.example.com",
    )
    assert "Created region site east (East Region) under hq." in created.stdout
    vintry("site", "create", "shop-1", "Shop One", "--parent", "east")

    directory = platform.directory()
    assert directory.get("east").kind is SiteKind.REGION
    assert set(directory.get("east").domains) == {"east.vintry.localhost", "east.example.com"}
    assert directory.get("shop-1").kind is SiteKind.STORE
    assert directory.get("shop-1").parent_code == "east"

    listed = vintry("site", "list").stdout
    assert "Sites (3)" in listed
    for text in ("East Region", "east.vintry.localhost", "Shop One", "region", "store"):
        assert text in listed
    # Depth first: the store is listed under its region.
    assert listed.index("shop-1") > listed.index("East Region")

    tree = vintry("site", "tree").stdout.splitlines()
    assert tree[0].startswith("hq ")
    assert tree[1].startswith("└── east East Region region")
    assert tree[2].strip().startswith("└── shop-1 Shop One store")


def test_a_duplicate_site_is_one_red_line_and_exit_code_1(vintry: Invoke) -> None:
    vintry("init")
    vintry("site", "create", "east", "East")

    result = vintry("site", "create", "east", "East again", expect=1)
    assert result.stderr.strip() == "error site_exists: site 'east' exists (field: code)"
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_invalid_arguments_name_the_field(vintry: Invoke) -> None:
    vintry("init")
    bad_code = vintry("site", "create", "East", "East", expect=1)
    assert bad_code.stderr.startswith("error invalid_input: ")
    assert "(field: code)" in bad_code.stderr
    taken = vintry("site", "create", "east", "East", "--domain", "localhost", expect=1)
    assert "domain_taken" in taken.stderr and "(field: domains.0)" in taken.stderr
    no_parent = vintry("site", "create", "east", "East", "--parent", "nowhere", expect=1)
    assert "site_not_found" in no_parent.stderr
