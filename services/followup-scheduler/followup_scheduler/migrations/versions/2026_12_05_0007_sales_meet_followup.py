"""Sales and follow-up meet, tiers follow the newest information (issue 17 §2, §5)

`customer_sales`: the confirmed sales the scheduler has taken in (a sale may overtake its lead's verdict, so it is
kept and applied when the verdict comes). `customer_tiers`: the router's decision of a customer's current tier.
`leads.verified_by`: what verified the record (callback or sale), so it is verified once whichever comes first.
"""

import sqlalchemy as sa
from alembic import op

from leadnet_shared import ddl

revision, down_revision = "0006", "20261205_task_content"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("leads", sa.Column("verified_by", sa.String(20)))
    ddl.create_table(
        "customer_sales",
        "sale_id varchar(36) CONSTRAINT pk_customer_sales PRIMARY KEY",
        "customer_id varchar(36) NOT NULL",
        "lead_id varchar(36)",
        "seller varchar(32) NOT NULL",
        "vehicles integer NOT NULL",
        "sold_at timestamptz NOT NULL",
        "attributed_at timestamptz NOT NULL",
    )
    op.create_index("ix_customer_sales_customer_id", "customer_sales", ["customer_id"])
    ddl.create_table(
        "customer_tiers",
        "customer_id varchar(36) CONSTRAINT pk_customer_tiers PRIMARY KEY",
        "tier varchar(20) NOT NULL",
        "nature varchar(20)",
        "changed_at timestamptz NOT NULL",
    )
    # A customer's leads and open tasks are looked up by customer when a sale or a tier change arrives.
    op.create_index("ix_leads_customer_id", "leads", ["customer_id"])
    op.create_index(
        "ix_tasks_customer_open",
        "tasks",
        ["customer_id"],
        postgresql_where=sa.text("status IN ('open', 'overdue')"),
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_customer_open", table_name="tasks")
    op.drop_index("ix_leads_customer_id", table_name="leads")
    op.drop_table("customer_tiers")
    op.drop_table("customer_sales")
    op.drop_column("leads", "verified_by")
