"""shipment carriers, service levels, distances; the arrival estimate after each node

Revision ID: hq0006
Revises: hq0005
Create Date: 2026-11-25 15:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import vintry.db.base
from alembic import op

revision: str = "hq0006"
down_revision: str | Sequence[str] | None = "hq0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("shipments", sa.Column("carrier", sa.String(length=64), nullable=True))
    op.add_column("shipments", sa.Column("service_level", sa.String(length=32), nullable=True))
    op.add_column("shipments", sa.Column("distance_km", sa.Double(), nullable=True))
    op.add_column(
        "tracking_events",
        sa.Column(
            "estimated_arrival", vintry.db.base.UTCDateTime(timezone=True), nullable=True
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("tracking_events") as batch:
        batch.drop_column("estimated_arrival")
    with op.batch_alter_table("shipments") as batch:
        batch.drop_column("distance_km")
        batch.drop_column("service_level")
        batch.drop_column("carrier")
