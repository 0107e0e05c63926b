"""kernel HQ schema

Revision ID: hq0001
Revises:
Create Date: 2026-11-25 10:38:10.646059
"""

from collections.abc import Sequence

import sqlalchemy as sa
import vintry.db.base
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "hq0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "change_counters",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_change_counters")),
    )
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("hq", "region", "store", name="sitekind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("database_url", sa.String(length=500), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(kind = 'hq' AND parent_id IS NULL) OR (kind <> 'hq' AND parent_id IS NOT NULL)",
            name=op.f("ck_sites_root_is_hq"),
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["sites.id"], name=op.f("fk_sites_parent_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
        sa.UniqueConstraint("code", name=op.f("uq_sites_code")),
    )
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sites_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "dealers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column(
            "tier",
            sa.Enum(
                "platinum",
                "gold",
                "silver",
                "bronze",
                name="dealertier",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("contact_name", sa.String(length=100), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_dealers_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dealers")),
        sa.UniqueConstraint("code", name=op.f("uq_dealers_code")),
    )
    with op.batch_alter_table("dealers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dealers_site_id"), ["site_id"], unique=False)

    op.create_table(
        "site_domains",
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_site_domains_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_site_domains")),
    )
    with op.batch_alter_table("site_domains", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_site_domains_site_id"), ["site_id"], unique=False)

    op.create_table(
        "site_setting_overrides",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("namespace", sa.String(length=100), nullable=False),
        sa.Column(
            "values",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_site_setting_overrides_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "namespace", name=op.f("pk_site_setting_overrides")),
    )
    op.create_table(
        "warehouses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("region_site_id", sa.Integer(), nullable=True),
        sa.Column("latitude", sa.Numeric(precision=9, scale=6), nullable=False),
        sa.Column("longitude", sa.Numeric(precision=9, scale=6), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_site_id"], ["sites.id"], name=op.f("fk_warehouses_region_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warehouses")),
        sa.UniqueConstraint("code", name=op.f("uq_warehouses_code")),
    )
    with op.batch_alter_table("warehouses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_warehouses_region_site_id"), ["region_site_id"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "hq_admin", "site_operator", "dealer", name="role", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["dealers.id"], name=op.f("fk_users_dealer_id_dealers")
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_users_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_dealer_id"), ["dealer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_users_site_id"), ["site_id"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", vintry.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", vintry.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=200), nullable=False),
        sa.Column(
            "before",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "after",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["users.id"], name=op.f("fk_audit_log_actor_user_id_users")
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_audit_log_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_site_at", ["site_id", "at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_site_at")

    op.drop_table("audit_log")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_site_id"))
        batch_op.drop_index(batch_op.f("ix_users_dealer_id"))

    op.drop_table("users")
    with op.batch_alter_table("warehouses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_warehouses_region_site_id"))

    op.drop_table("warehouses")
    op.drop_table("site_setting_overrides")
    with op.batch_alter_table("site_domains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_site_domains_site_id"))

    op.drop_table("site_domains")
    with op.batch_alter_table("dealers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dealers_site_id"))

    op.drop_table("dealers")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sites_parent_id"))

    op.drop_table("sites")
    op.drop_table("change_counters")
