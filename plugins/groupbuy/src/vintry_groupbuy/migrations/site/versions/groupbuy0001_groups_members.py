"""group-buy groups, members and transitions

Revision ID: groupbuy0001
Revises:
Create Date: 2026-12-01 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import vintry.db.base
from alembic import op

revision: str = "groupbuy0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = vintry.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "groupbuy_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("total_quantity", sa.Integer(), nullable=False),
        sa.Column("min_participants", sa.Integer(), nullable=False),
        sa.Column("min_quantity", sa.Integer(), nullable=False),
        sa.Column("max_participants", sa.Integer(), nullable=True),
        sa.Column("opened_by", sa.String(length=32), nullable=False),
        sa.Column("opened_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("succeeded_at", WHEN, nullable=True),
        sa.Column("closed_at", WHEN, nullable=True),
        sa.Column("tier_unit_fen", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.CheckConstraint(
            "participants >= 0 AND total_quantity >= 0",
            name=op.f("ck_groupbuy_groups_counts_not_negative"),
        ),
        sa.CheckConstraint(
            "max_participants IS NULL OR participants <= max_participants",
            name=op.f("ck_groupbuy_groups_not_over_full"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groupbuy_groups")),
        sa.UniqueConstraint("code", name=op.f("uq_groupbuy_groups_code")),
    )
    op.create_index(
        "ix_groupbuy_groups_status_expires_at", "groupbuy_groups", ["status", "expires_at"]
    )
    op.create_index("ix_groupbuy_groups_campaign", "groupbuy_groups", ["campaign"])
    op.create_table(
        "groupbuy_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("dealer", sa.String(length=32), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("joined_at", WHEN, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("hold_reference", sa.String(length=140), nullable=False),
        sa.Column("stock_handed_over", sa.Boolean(), nullable=False),
        sa.Column("order_number", sa.String(length=32), nullable=True),
        sa.Column("failure", sa.String(length=300), nullable=True),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_groupbuy_members_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groupbuy_groups.id"],
            name=op.f("fk_groupbuy_members_group_id_groupbuy_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groupbuy_members")),
        sa.UniqueConstraint("group_id", "dealer", name=op.f("uq_groupbuy_members_group_id")),
    )
    op.create_table(
        "groupbuy_transitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("total_quantity", sa.Integer(), nullable=False),
        sa.Column("by_dealer", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groupbuy_groups.id"],
            name=op.f("fk_groupbuy_transitions_group_id_groupbuy_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groupbuy_transitions")),
        sa.UniqueConstraint("group_id", "status", name=op.f("uq_groupbuy_transitions_group_id")),
    )


def downgrade() -> None:
    op.drop_table("groupbuy_transitions")
    op.drop_table("groupbuy_members")
    op.drop_index("ix_groupbuy_groups_campaign", table_name="groupbuy_groups")
    op.drop_index("ix_groupbuy_groups_status_expires_at", table_name="groupbuy_groups")
    op.drop_table("groupbuy_groups")
