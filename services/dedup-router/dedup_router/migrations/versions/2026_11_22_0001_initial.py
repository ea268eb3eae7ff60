"""initial: dealers, customers, leads, pool counts, outbox, inbox"""

import sqlalchemy as sa
from alembic import op

from leadnet_shared import ddl

revision, down_revision = "0001", None


def upgrade() -> None:
    ddl.kit_tables_2026_11_22(op)
    ddl.create_table(
        "dealers",
        "code varchar(32) CONSTRAINT pk_dealers PRIMARY KEY",
        "name varchar(200) NOT NULL",
        "territories varchar(6)[] NOT NULL",
        "product_lines varchar(32)[] NOT NULL",
        "capability integer NOT NULL",
        "sales_level varchar(20)",
        "status varchar(20) NOT NULL",
        "updated_at timestamptz DEFAULT now() NOT NULL",
    )
    ddl.create_table(
        "customers",
        "customer_id varchar(36) CONSTRAINT pk_customers PRIMARY KEY",
        "phone varchar(20) NOT NULL CONSTRAINT uq_customers_phone UNIQUE",
        "name varchar(200) NOT NULL",
        "address varchar(500) NOT NULL",
        "region_code varchar(6) NOT NULL",
        "tier varchar(20) NOT NULL",
        "nature varchar(20) NOT NULL",
        "assigned_dealer varchar(32)",
        "authorized_dealer varchar(32)",
        "protected_by varchar(32)",
        "protection_until timestamptz",
        "name_county_key varchar(64)",
        "fleet_city_key varchar(64)",
        "created_at timestamptz DEFAULT now() NOT NULL",
        "updated_at timestamptz DEFAULT now() NOT NULL",
    )
    op.create_index("ix_customers_assigned_dealer", "customers", ["assigned_dealer", "customer_id"])
    op.create_index("ix_customers_name_county_key", "customers", ["name_county_key"])
    op.create_index("ix_customers_fleet_city_key", "customers", ["fleet_city_key"])
    op.create_index("ix_customers_protection_until", "customers", ["protection_until"],
                    postgresql_where=sa.text("protection_until IS NOT NULL"))
    ddl.create_table(
        "leads",
        "lead_id varchar(36) CONSTRAINT pk_leads PRIMARY KEY",
        "customer_id varchar(36) NOT NULL",
        "entered_by varchar(32)",
        "entrant_key varchar(40) NOT NULL",
        "assigned_dealer varchar(32)",
        "authorized_dealer varchar(32)",
        "status varchar(20) NOT NULL",
        "cross_region boolean NOT NULL",
        "reward_eligible boolean NOT NULL",
        "tier varchar(20) NOT NULL",
        "nature varchar(20) NOT NULL",
        "region_code varchar(6) NOT NULL",
        "product_line varchar(32)",
        "horizon varchar(32)",
        "source varchar(40) NOT NULL",
        "network_code varchar(64)",
        "protection_until timestamptz",
        "rule varchar(80) NOT NULL",
        "explanation jsonb NOT NULL",
        "entered_at timestamptz NOT NULL",
    )
    # One open lead per (customer, entrant): the duplicate rule, enforced by the database itself.
    op.create_index("ix_leads_customer_entrant_open", "leads", ["customer_id", "entrant_key"], unique=True,
                    postgresql_where=sa.text("status = 'open'"))
    op.create_index("ix_leads_assigned_dealer", "leads", ["assigned_dealer", "status"])
    ddl.create_table(
        "pool_counts",
        "prefix varchar(6) NOT NULL",
        "product_line varchar(32) NOT NULL",
        "dealer varchar(32) NOT NULL",
        "assigned integer NOT NULL",
        "CONSTRAINT pk_pool_counts PRIMARY KEY (prefix, product_line, dealer)",
    )


def downgrade() -> None:
    ddl.drop_tables(op, "pool_counts", "leads", "customers", "dealers")
    ddl.drop_kit_tables_2026_11_22(op)
