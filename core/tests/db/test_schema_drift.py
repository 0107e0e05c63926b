"""The kernel's migrations and its models describe the same schema, on both backends.

A model changed without a migration (or the reverse) fails here, naming the difference.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from vintry.db.databases import Database
from vintry.db.migrate import kernel_tracks, upgrade
from vintry.platform import Platform


def _plugin_tables(platform: Platform, scope: str, tmp_path: Path) -> set[str]:
    """The tables installed plugins' own migrations create in a *scope* database: found by
    running only those tracks on an empty SQLite file."""
    tracks = [t for t in platform.plugins.migration_tracks() if t.scope == scope]
    if not tracks:
        return set()
    scratch = Database(f"sqlite:///{tmp_path / 'plugins.db'}")
    try:
        upgrade(scratch, tracks)
        return set(inspect(scratch.engine).get_table_names())
    finally:
        scratch.dispose()


def _table_of(difference: tuple[object, ...]) -> str | None:
    subject = difference[1]
    table = getattr(subject, "table", None)
    name = getattr(table if table is not None else subject, "name", None)
    return name if isinstance(name, str) else None


@pytest.mark.parametrize("scope", ["hq", "site"])
def test_migrations_at_head_match_the_models(
    vintry_platform: Platform, scope: str, tmp_path: Path
) -> None:
    track = next(t for t in kernel_tracks() if t.scope == scope)
    assert track.target_metadata is not None
    root = vintry_platform.directory().root
    assert root is not None
    database = vintry_platform.hq if scope == "hq" else vintry_platform.site_database(root.code)
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": track.version_table, "compare_type": True}
        )
        differences = compare_metadata(context, track.target_metadata)
    # Other tracks' version tables and installed plugins' own tables live in the same
    # database; they are not the kernel's drift.
    foreign = _plugin_tables(vintry_platform, scope, tmp_path)
    differences = [
        d
        for d in differences
        if not (d[0] == "remove_table" and d[1].name.endswith("_version"))
        and not (isinstance(d, tuple) and _table_of(d) in foreign)
    ]
    assert differences == []
