"""Alembic script directories of the analytics plugin (``site``: every site's database)."""
