"""Alembic script directories of the kernel: ``hq`` and ``site``."""
