"""``vintry init`` and ``vintry migrate``."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result
from vintry.accounts.service import authenticate
from vintry.platform import Platform

Invoke = Callable[..., Result]

TOKEN = re.compile(r"vt_[0-9a-f]{12}_\S+")


def test_init_twice_shows_the_admin_token_only_the_first_time(
    vintry: Invoke, data_dir: Path, platform: Platform
) -> None:
    first = vintry("init")
    assert "Migrated the HQ database: vintry-hq" in first.stdout
    assert "Created the root site hq" in first.stdout
    assert "not shown again" in first.stdout
    tokens = TOKEN.findall(first.stdout)
    assert len(tokens) == 1
    assert (data_dir / "hq.db").exists()
    assert (data_dir / "sites" / "hq.db").exists()

    second = vintry("init")
    assert TOKEN.search(second.stdout) is None
    assert "up to date" in second.stdout
    assert "The root site hq exists" in second.stdout
    assert "no token was issued" in second.stdout

    principal = authenticate(platform, tokens[0], platform.directory())
    assert principal.username == "admin"
    assert principal.site == "hq"


def test_init_names_the_root(vintry: Invoke, platform: Platform) -> None:
    vintry("init", "--root-code", "brand")
    root = platform.directory().root
    assert root is not None and root.code == "brand"
    assert "--root-code other ignored" in vintry("init", "--root-code", "other").stdout


def test_commands_before_init_say_to_run_it(vintry: Invoke) -> None:
    result = vintry("site", "list", expect=1)
    assert "not_initialised" in result.stderr
    assert "vintry init" in result.stderr
    assert "Traceback" not in result.output


def test_migrate_upgrades_hq_and_every_site(
    vintry: Invoke, data_dir: Path, platform: Platform
) -> None:
    vintry("init")
    vintry("site", "create", "east", "East")
    vintry("site", "create", "west", "West")
    # A site database lost (or never made) is recreated and brought to head.
    (data_dir / "sites" / "west.db").unlink()

    result = vintry("migrate")
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in result.stdout.splitlines()
        if line.startswith("│")
    }
    # The recreated site gets the kernel's site track, then each installed plugin's.
    site_tracks = ", ".join(t.name for t in platform.migration_tracks("site"))
    assert rows == {
        "HQ": "up to date",
        "site hq": "up to date",
        "site east": "up to date",
        "site west": site_tracks,
    }
    assert site_tracks.startswith("vintry-site")
    assert "Done: HQ and 3 site(s) at head; 1 site(s) changed." in result.stdout
    assert (data_dir / "sites" / "west.db").exists()
    assert platform.site(code="west").database.engine is not None
