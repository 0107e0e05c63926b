"""catalog and inventory

Revision ID: hq0003
Revises: hq0002
Create Date: 2026-11-25 11:37:37.974267
"""

from collections.abc import Sequence

import sqlalchemy as sa
import vintry.db.base
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "hq0003"
down_revision: str | Sequence[str] | None = "hq0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "brands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brands")),
        sa.UniqueConstraint("code", name=op.f("uq_brands_code")),
    )
    op.create_table(
        "categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["categories.id"], name=op.f("fk_categories_parent_id_categories")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        sa.UniqueConstraint("code", name=op.f("uq_categories_code")),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_products_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["category_id"], ["categories.id"], name=op.f("fk_products_category_id_categories")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("code", name=op.f("uq_products_code")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_products_brand_id"), ["brand_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_products_category_id"), ["category_id"], unique=False)

    op.create_table(
        "skus",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("volume_ml", sa.Integer(), nullable=False),
        sa.Column("abv", sa.Numeric(precision=4, scale=1), nullable=False),
        sa.Column("case_size", sa.Integer(), nullable=False),
        sa.Column("barcode", sa.String(length=32), nullable=True),
        sa.Column("batch", sa.String(length=64), nullable=True),
        sa.Column("best_before", sa.Date(), nullable=True),
        sa.Column("base_price_fen", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("base_price_fen >= 0", name=op.f("ck_skus_base_price_not_negative")),
        sa.CheckConstraint("case_size >= 1", name=op.f("ck_skus_case_size_positive")),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_skus_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skus")),
        sa.UniqueConstraint("barcode", name=op.f("uq_skus_barcode")),
        sa.UniqueConstraint("code", name=op.f("uq_skus_code")),
    )
    with op.batch_alter_table("skus", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_skus_product_id"), ["product_id"], unique=False)

    op.create_table(
        "assortment_hides",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_assortment_hides_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_assortment_hides_sku_id_skus")
        ),
        sa.PrimaryKeyConstraint("site_id", "sku_id", name=op.f("pk_assortment_hides")),
    )
    op.create_table(
        "price_floors",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("min_price_fen", sa.Integer(), nullable=True),
        sa.Column("max_discount_bp", sa.Integer(), nullable=True),
        sa.Column("updated_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "max_discount_bp IS NULL OR (max_discount_bp >= 0 AND max_discount_bp <= 10000)",
            name=op.f("ck_price_floors_discount_in_range"),
        ),
        sa.CheckConstraint(
            "min_price_fen IS NULL OR min_price_fen >= 0",
            name=op.f("ck_price_floors_min_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_price_floors_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_price_floors_sku_id_skus")),
        sa.PrimaryKeyConstraint("site_id", "sku_id", name=op.f("pk_price_floors")),
    )
    op.create_table(
        "reservations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("warehouse_id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", vintry.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", vintry.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_reservations_quantity_positive")),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_reservations_sku_id_skus")),
        sa.ForeignKeyConstraint(
            ["warehouse_id"],
            ["warehouses.id"],
            name=op.f("fk_reservations_warehouse_id_warehouses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
    )
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reservations_hold", ["warehouse_id", "sku_id", "status", "expires_at"], unique=False
        )
        batch_op.create_index("ix_reservations_reference", ["reference"], unique=False)

    op.create_table(
        "site_prices",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("price_fen", sa.Integer(), nullable=False),
        sa.Column("updated_at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("price_fen >= 0", name=op.f("ck_site_prices_price_not_negative")),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_site_prices_site_id_sites"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_site_prices_sku_id_skus")),
        sa.PrimaryKeyConstraint("site_id", "sku_id", name=op.f("pk_site_prices")),
    )
    op.create_table(
        "stock",
        sa.Column("warehouse_id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.CheckConstraint("on_hand >= 0", name=op.f("ck_stock_on_hand_not_negative")),
        sa.CheckConstraint("reserved <= on_hand", name=op.f("ck_stock_reserved_within_on_hand")),
        sa.CheckConstraint("reserved >= 0", name=op.f("ck_stock_reserved_not_negative")),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_stock_sku_id_skus")),
        sa.ForeignKeyConstraint(
            ["warehouse_id"], ["warehouses.id"], name=op.f("fk_stock_warehouse_id_warehouses")
        ),
        sa.PrimaryKeyConstraint("warehouse_id", "sku_id", name=op.f("pk_stock")),
    )
    with op.batch_alter_table("stock", schema=None) as batch_op:
        batch_op.create_index("ix_stock_sku", ["sku_id"], unique=False)

    op.create_table(
        "stock_movements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", vintry.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("warehouse_id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("on_hand_delta", sa.Integer(), nullable=False),
        sa.Column("reserved_delta", sa.Integer(), nullable=False),
        sa.Column("reservation_id", sa.Integer(), nullable=True),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["reservations.id"],
            name=op.f("fk_stock_movements_reservation_id_reservations"),
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_stock_movements_sku_id_skus")
        ),
        sa.ForeignKeyConstraint(
            ["warehouse_id"],
            ["warehouses.id"],
            name=op.f("fk_stock_movements_warehouse_id_warehouses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_movements")),
    )
    with op.batch_alter_table("stock_movements", schema=None) as batch_op:
        batch_op.create_index("ix_stock_movements_stock", ["warehouse_id", "sku_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("stock_movements", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_movements_stock")

    op.drop_table("stock_movements")
    with op.batch_alter_table("stock", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_sku")

    op.drop_table("stock")
    op.drop_table("site_prices")
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_index("ix_reservations_reference")
        batch_op.drop_index("ix_reservations_hold")

    op.drop_table("reservations")
    op.drop_table("price_floors")
    op.drop_table("assortment_hides")
    with op.batch_alter_table("skus", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_skus_product_id"))

    op.drop_table("skus")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_products_category_id"))
        batch_op.drop_index(batch_op.f("ix_products_brand_id"))

    op.drop_table("products")
    op.drop_table("categories")
    op.drop_table("brands")
