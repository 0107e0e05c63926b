"""behaviour events, ingestion rate windows, dealers' sell-out

Revision ID: analytics0001
Revises:
Create Date: 2026-11-25 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import vintry.db.base
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "analytics0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "analytics_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uid", sa.String(length=160), nullable=True),
        sa.Column("dealer", sa.String(length=32), nullable=False),
        sa.Column("session", sa.String(length=64), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("sku", sa.String(length=32), nullable=True),
        sa.Column("occurred_ms", sa.BigInteger(), nullable=False),
        sa.Column("received_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("dwell_ms", sa.BigInteger(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("properties", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_events")),
        sa.UniqueConstraint("uid", name=op.f("uq_analytics_events_uid")),
    )
    with op.batch_alter_table("analytics_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_analytics_events_funnel", ["dealer", "type", "occurred_ms", "sku"], unique=False
        )
        batch_op.create_index(
            "ix_analytics_events_time", ["type", "occurred_ms", "dealer"], unique=False
        )
    op.create_table(
        "analytics_rate_windows",
        sa.Column("dealer", sa.String(length=32), nullable=False),
        sa.Column("window_start_ms", sa.BigInteger(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.CheckConstraint("used >= 0", name=op.f("ck_analytics_rate_windows_used_not_negative")),
        sa.PrimaryKeyConstraint(
            "dealer", "window_start_ms", name=op.f("pk_analytics_rate_windows")
        ),
    )
    op.create_table(
        "analytics_sellout",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=160), nullable=False),
        sa.Column("dealer", sa.String(length=32), nullable=False),
        sa.Column("sku", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("sold_on", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reported_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_analytics_sellout_quantity_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_sellout")),
        sa.UniqueConstraint("uid", name=op.f("uq_analytics_sellout_uid")),
    )
    with op.batch_alter_table("analytics_sellout", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_sellout_dealer", ["dealer", "sku"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("analytics_sellout", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_sellout_dealer")
    op.drop_table("analytics_sellout")
    op.drop_table("analytics_rate_windows")
    with op.batch_alter_table("analytics_events", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_events_time")
        batch_op.drop_index("ix_analytics_events_funnel")
    op.drop_table("analytics_events")
