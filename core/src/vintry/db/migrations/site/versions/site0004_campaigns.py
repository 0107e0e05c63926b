"""campaigns, their budgets' draws, and HQ's campaign templates

Revision ID: site0004
Revises: site0003
Create Date: 2026-11-25 13:35:10.882580
"""

from collections.abc import Sequence

import sqlalchemy as sa
import vintry.db.base
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "site0004"
down_revision: str | Sequence[str] | None = "site0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("stacking_group", sa.String(length=64), nullable=True),
        sa.Column(
            "target_tiers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "target_tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("budget_units", sa.Integer(), nullable=True),
        sa.Column("budget_amount_fen", sa.Integer(), nullable=True),
        sa.Column("uses_per_dealer", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_templates")),
        sa.UniqueConstraint("code", name=op.f("uq_campaign_templates_code")),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("plugin", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("starts_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("stacking_group", sa.String(length=64), nullable=True),
        sa.Column(
            "target_tiers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "target_tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "target_dealers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("budget_units", sa.Integer(), nullable=True),
        sa.Column("budget_amount_fen", sa.Integer(), nullable=True),
        sa.Column("uses_per_dealer", sa.Integer(), nullable=True),
        sa.Column("used_units", sa.Integer(), nullable=False),
        sa.Column("used_amount_fen", sa.Integer(), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "budget_amount_fen IS NULL OR used_amount_fen <= budget_amount_fen",
            name=op.f("ck_campaigns_amount_within_budget"),
        ),
        sa.CheckConstraint(
            "budget_units IS NULL OR used_units <= budget_units",
            name=op.f("ck_campaigns_units_within_budget"),
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_campaigns_window_not_empty")),
        sa.CheckConstraint(
            "used_units >= 0 AND used_amount_fen >= 0", name=op.f("ck_campaigns_used_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("code", name=op.f("uq_campaigns_code")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index("ix_campaigns_status_ends_at", ["status", "ends_at"], unique=False)
        batch_op.create_index("ix_campaigns_type", ["type"], unique=False)

    op.create_table(
        "campaign_dealer_uses",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("dealer_code", sa.String(length=32), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.CheckConstraint("uses >= 0", name=op.f("ck_campaign_dealer_uses_uses_not_negative")),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_dealer_uses_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "dealer_code", name=op.f("pk_campaign_dealer_uses")),
    )
    op.create_table(
        "campaign_redemptions",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("order_number", sa.String(length=32), nullable=False),
        sa.Column("dealer_code", sa.String(length=32), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("redeemed_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("released_at", vintry.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_redemptions_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id", "order_number", name=op.f("pk_campaign_redemptions")
        ),
    )
    with op.batch_alter_table("campaign_redemptions", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_redemptions_order", ["order_number"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("campaign_redemptions", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_redemptions_order")

    op.drop_table("campaign_redemptions")
    op.drop_table("campaign_dealer_uses")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_campaigns_type")
        batch_op.drop_index("ix_campaigns_status_ends_at")

    op.drop_table("campaigns")
    op.drop_table("campaign_templates")
