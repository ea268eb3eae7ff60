"""sales, sold VINs, sale idempotency keys; lookup indexes for privacy reads; customer product line"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from leadnet_shared import ddl

revision, down_revision = "0002", "0001"
branch_labels, depends_on = None, None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("customers", sa.Column("product_line", sa.String(32)))
    # A dealer reads the customers it entered: found through its leads without scanning them.
    op.create_index("ix_leads_entered_by_customer", "leads", ["entered_by", "customer_id"])
    op.create_index("ix_leads_customer", "leads", ["customer_id", "entered_at"])
    op.create_table(
        "sales",
        sa.Column("sale_id", sa.String(36), primary_key=True),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("seller", sa.String(32), nullable=False),
        sa.Column("supplied_by", sa.String(32), nullable=False),
        sa.Column("sold_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attributed_lead_id", sa.String(36)),
        sa.Column("credited_dealer", sa.String(32)),
        sa.Column("cross_region_exempt", sa.Boolean, nullable=False),
        sa.Column("violation", sa.String(40)),
        sa.Column("rewards", JSONB, nullable=False),
        sa.Column("explanation", JSONB, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_sales_customer", "sales", ["customer_id"])
    op.create_index("ix_sales_attributed_lead", "sales", ["attributed_lead_id"])
    op.create_table(
        "sold_vehicles",
        sa.Column("sale_id", sa.String(36), primary_key=True),
        sa.Column("vin", sa.String(17), primary_key=True),
        sa.Column("model", sa.String(100)),
        sa.Column("product_line", sa.String(32)),
        sa.Column("cancelled", sa.Boolean, nullable=False),
    )
    # A VIN is sold once while its sale stands; a cancelled sale frees it.
    op.create_index("ux_sold_vehicles_vin_sold", "sold_vehicles", ["vin"], unique=True,
                    postgresql_where=sa.text("NOT cancelled"))
    ddl.idempotency_keys_2026_11_22(op, "sale_idempotency_keys")


def downgrade() -> None:
    ddl.drop_tables(op, "sale_idempotency_keys", "sold_vehicles", "sales")
    op.drop_index("ix_leads_customer", "leads")
    op.drop_index("ix_leads_entered_by_customer", "leads")
    op.drop_column("customers", "product_line")
