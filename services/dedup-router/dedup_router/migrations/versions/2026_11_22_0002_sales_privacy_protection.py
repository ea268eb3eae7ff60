"""sales, sold VINs, sale idempotency keys; lookup indexes for privacy reads; customer product line"""

import sqlalchemy as sa
from alembic import op

from leadnet_shared import ddl

revision, down_revision = "0002", "0001"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("customers", sa.Column("product_line", sa.String(32)))
    # A dealer reads the customers it entered: found through its leads without scanning them.
    op.create_index("ix_leads_entered_by_customer", "leads", ["entered_by", "customer_id"])
    op.create_index("ix_leads_customer", "leads", ["customer_id", "entered_at"])
    ddl.create_table(
        "sales",
        "sale_id varchar(36) CONSTRAINT pk_sales PRIMARY KEY",
        "customer_id varchar(36) NOT NULL",
        "seller varchar(32) NOT NULL",
        "supplied_by varchar(32) NOT NULL",
        "sold_at timestamptz NOT NULL",
        "attributed_lead_id varchar(36)",
        "credited_dealer varchar(32)",
        "cross_region_exempt boolean NOT NULL",
        "violation varchar(40)",
        "rewards jsonb NOT NULL",
        "explanation jsonb NOT NULL",
        "status varchar(20) NOT NULL",
        "created_at timestamptz NOT NULL",
        "cancelled_at timestamptz",
    )
    op.create_index("ix_sales_customer", "sales", ["customer_id"])
    op.create_index("ix_sales_attributed_lead", "sales", ["attributed_lead_id"])
    ddl.create_table(
        "sold_vehicles",
        "sale_id varchar(36) NOT NULL",
        "vin varchar(17) NOT NULL",
        "model varchar(100)",
        "product_line varchar(32)",
        "cancelled boolean NOT NULL",
        "CONSTRAINT pk_sold_vehicles PRIMARY KEY (sale_id, vin)",
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
