"""Alembic script directories of the auction plugin."""
