"""Alembic script directories of the seckill plugin (``site``: every site's database)."""
