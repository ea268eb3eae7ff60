"""initial: tasks, followed leads, outbox, inbox"""

import sqlalchemy as sa
from alembic import op

from leadnet_shared import ddl

revision, down_revision = "0001", None


def upgrade() -> None:
    ddl.kit_tables_2026_11_22(op)
    ddl.create_table(
        "tasks",
        "task_id varchar(36) CONSTRAINT pk_tasks PRIMARY KEY",
        "lead_id varchar(36) NOT NULL",
        "customer_id varchar(36) NOT NULL",
        "dealer varchar(32)",
        "kind varchar(20) NOT NULL",
        "due_at timestamptz NOT NULL",
        "overdue_at timestamptz NOT NULL",
        "escalate_at timestamptz NOT NULL",
        "status varchar(20) NOT NULL",
        "reason text NOT NULL",
        "policy_version varchar(40)",
        "tier varchar(20) NOT NULL",
        "tie_break integer NOT NULL",
        "unreachable_streak integer DEFAULT '0' NOT NULL",
        "fired_at timestamptz",
        "overdue_fired_at timestamptz",
        "escalated_at timestamptz",
        "completed_at timestamptz",
        "outcome varchar(24)",
        "notes text",
        "created_at timestamptz DEFAULT now() NOT NULL",
    )
    op.create_index("ix_tasks_due_unfired", "tasks", ["due_at"],
                    postgresql_where=sa.text("fired_at IS NULL AND status = 'open'"))
    op.create_index("ix_tasks_overdue_pending", "tasks", ["overdue_at"],
                    postgresql_where=sa.text("overdue_fired_at IS NULL AND status = 'open'"))
    op.create_index("ix_tasks_dealer_open", "tasks", ["dealer", "due_at", "tie_break"],
                    postgresql_where=sa.text("status IN ('open', 'overdue')"))
    op.create_index("ix_tasks_lead", "tasks", ["lead_id"])
    ddl.create_table(
        "leads",
        "lead_id varchar(36) CONSTRAINT pk_leads PRIMARY KEY",
        "customer_id varchar(36) NOT NULL",
        "entered_by varchar(32)",
        "assigned_dealer varchar(32)",
        "authorized_dealer varchar(32)",
        "cross_region boolean NOT NULL",
        "reward_eligible boolean NOT NULL",
        "tier varchar(20) NOT NULL",
        "nature varchar(20) NOT NULL",
        "region_code varchar(6)",
        "product_line varchar(32)",
        "horizon varchar(32)",
        "source varchar(40)",
        "network_code varchar(64)",
        "status varchar(20) NOT NULL",
        "verified_at timestamptz",
        "routed_at timestamptz NOT NULL",
    )


def downgrade() -> None:
    ddl.drop_tables(op, "leads", "tasks")
    ddl.drop_kit_tables_2026_11_22(op)
