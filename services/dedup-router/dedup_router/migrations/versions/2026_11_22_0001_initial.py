"""initial: dealers, customers, leads, pool counts, outbox, inbox"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from leadnet_shared import ddl

revision, down_revision = "0001", None
branch_labels, depends_on = None, None


def upgrade() -> None:
    ddl.kit_tables_2026_11_22(op)
    op.create_table(
        "dealers",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("territories", ARRAY(sa.String(6)), nullable=False),
        sa.Column("product_lines", ARRAY(sa.String(32)), nullable=False),
        sa.Column("capability", sa.Integer, nullable=False),
        sa.Column("sales_level", sa.String(20)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.String(36), primary_key=True),
        sa.Column("phone", sa.String(20), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("nature", sa.String(20), nullable=False),
        sa.Column("assigned_dealer", sa.String(32)),
        sa.Column("authorized_dealer", sa.String(32)),
        sa.Column("protected_by", sa.String(32)),
        sa.Column("protection_until", sa.DateTime(timezone=True)),
        sa.Column("name_county_key", sa.String(64)),
        sa.Column("fleet_city_key", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_customers_assigned_dealer", "customers", ["assigned_dealer", "customer_id"])
    op.create_index("ix_customers_name_county_key", "customers", ["name_county_key"])
    op.create_index("ix_customers_fleet_city_key", "customers", ["fleet_city_key"])
    op.create_index("ix_customers_protection_until", "customers", ["protection_until"],
                    postgresql_where=sa.text("protection_until IS NOT NULL"))
    op.create_table(
        "leads",
        sa.Column("lead_id", sa.String(36), primary_key=True),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("entered_by", sa.String(32)),
        sa.Column("entrant_key", sa.String(40), nullable=False),
        sa.Column("assigned_dealer", sa.String(32)),
        sa.Column("authorized_dealer", sa.String(32)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("cross_region", sa.Boolean, nullable=False),
        sa.Column("reward_eligible", sa.Boolean, nullable=False),
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("nature", sa.String(20), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("product_line", sa.String(32)),
        sa.Column("horizon", sa.String(32)),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("network_code", sa.String(64)),
        sa.Column("protection_until", sa.DateTime(timezone=True)),
        sa.Column("rule", sa.String(80), nullable=False),
        sa.Column("explanation", JSONB, nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
    )
    # One open lead per (customer, entrant): the duplicate rule, enforced by the database itself.
    op.create_index("ix_leads_customer_entrant_open", "leads", ["customer_id", "entrant_key"], unique=True,
                    postgresql_where=sa.text("status = 'open'"))
    op.create_index("ix_leads_assigned_dealer", "leads", ["assigned_dealer", "status"])
    op.create_table(
        "pool_counts",
        sa.Column("prefix", sa.String(6), primary_key=True),
        sa.Column("product_line", sa.String(32), primary_key=True),
        sa.Column("dealer", sa.String(32), primary_key=True),
        sa.Column("assigned", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    ddl.drop_tables(op, "pool_counts", "leads", "customers", "dealers")
    ddl.drop_kit_tables_2026_11_22(op)
