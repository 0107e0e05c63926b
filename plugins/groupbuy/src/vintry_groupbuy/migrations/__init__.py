"""Alembic script directories of the group-buy plugin."""
