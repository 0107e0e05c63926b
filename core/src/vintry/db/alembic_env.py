"""The body of every ``env.py``: the kernel's and the plugins' alike.

Each script directory's ``env.py`` calls :func:`run_migrations`. The runner in
:mod:`vintry.db.migrate` passes the open connection, the version table and the target
metadata through ``config.attributes``, so one database holds several independent
histories (kernel HQ, kernel site, each plugin's HQ and site).
"""

from __future__ import annotations

from alembic import context


def run_migrations() -> None:
    """Run the migrations of the current script directory on the given connection."""
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("Vintry migrations run through 'vintry migrate', not the alembic CLI")
    context.configure(
        connection=connection,
        target_metadata=config.attributes.get("target_metadata"),
        version_table=config.attributes["version_table"],
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
