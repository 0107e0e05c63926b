"""auction sales no longer record a hand-over of stock: the order takes the lot's hold itself

Revision ID: auction0002
Revises: auction0001
Create Date: 2026-12-10 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "auction0002"
down_revision: str | Sequence[str] | None = "auction0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The kernel's place_held moves the units from the lot's hold to the order in the
    # order's own transaction, so the flag that guarded a separate release step is moot.
    with op.batch_alter_table("auction_sales") as batch_op:
        batch_op.drop_column("stock_handed_over")


def downgrade() -> None:
    with op.batch_alter_table("auction_sales") as batch_op:
        batch_op.add_column(
            sa.Column("stock_handed_over", sa.Boolean(), nullable=False, server_default=sa.false())
        )
