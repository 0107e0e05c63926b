"""The kernel's migrations and its models describe the same schema, on both backends.

A model changed without a migration (or the reverse) fails here, naming the difference.
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from vintry.db.migrate import kernel_tracks
from vintry.platform import Platform


@pytest.mark.parametrize("scope", ["hq", "site"])
def test_migrations_at_head_match_the_models(vintry_platform: Platform, scope: str) -> None:
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
    # Other tracks' version tables live in the same database; they are not drift.
    differences = [
        d for d in differences
        if not (d[0] == "remove_table" and d[1].name.endswith("_version"))
    ]
    assert differences == []
