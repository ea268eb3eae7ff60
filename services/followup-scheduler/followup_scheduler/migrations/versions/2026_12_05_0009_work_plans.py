"""Monthly callback and weekly promotion plans as lists of customers, approved along a chain (issue 18 §3-5)

`work_plans`, `work_plan_lines`, `work_plan_steps`: the plans, their lines and who acted on them. `plan_dealer_units`:
each dealer's region and sales channel for the roll-up. `tasks.plan_id` / `tasks.planned_for`: the approved plan that
planned a task (NULL: unplanned), nullable columns added without rewriting the table.
"""

import sqlalchemy as sa
from alembic import op

from leadnet_shared import ddl

revision, down_revision = "0009", "0008"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("tasks", sa.Column("plan_id", sa.String(36)))
    op.add_column("tasks", sa.Column("planned_for", sa.Date))
    ddl.create_table(
        "work_plans",
        "plan_id varchar(36) CONSTRAINT pk_work_plans PRIMARY KEY",
        "dealer varchar(32) NOT NULL",
        "kind varchar(20) NOT NULL",
        "period varchar(8) NOT NULL",
        "status varchar(20) NOT NULL",
        "stage varchar(40)",
        "quota integer NOT NULL",
        "due_by timestamptz NOT NULL",
        "late boolean NOT NULL",
        "late_flagged_at timestamptz",
        "submitted_at timestamptz",
        "approved_at timestamptz",
        "rejected_reason text",
        "line_count integer NOT NULL",
        "updated_at timestamptz NOT NULL",
        "updated_by varchar(100) NOT NULL",
        "updated_position varchar(32)",
    )
    op.create_index("ux_work_plans_dealer_kind_period", "work_plans", ["dealer", "kind", "period"], unique=True)
    ddl.create_table(
        "work_plan_lines",
        "plan_id varchar(36) NOT NULL",
        "line_no integer NOT NULL",
        "customer_id varchar(36) NOT NULL",
        "lead_id varchar(36) NOT NULL",
        "tier varchar(20) NOT NULL",
        "reason varchar(40) NOT NULL",
        "target_date date NOT NULL",
        "position varchar(32) NOT NULL",
        "method varchar(32) NOT NULL",
        "task_id varchar(36)",
        "CONSTRAINT pk_work_plan_lines PRIMARY KEY (plan_id, line_no)",
    )
    ddl.create_table(
        "work_plan_steps",
        "step_id bigserial CONSTRAINT pk_work_plan_steps PRIMARY KEY",
        "plan_id varchar(36) NOT NULL",
        "action varchar(20) NOT NULL",
        "stage varchar(40)",
        "sub varchar(200)",
        "role varchar(20)",
        "position varchar(32)",
        "reason text",
        "at timestamptz NOT NULL",
    )
    op.create_index("ix_work_plan_steps_plan_id", "work_plan_steps", ["plan_id"])
    ddl.create_table(
        "plan_dealer_units",
        "dealer varchar(32) CONSTRAINT pk_plan_dealer_units PRIMARY KEY",
        "region varchar(6)",
        "channel varchar(32) NOT NULL",
        "updated_at timestamptz NOT NULL",
    )


def downgrade() -> None:
    op.drop_table("plan_dealer_units")
    op.drop_index("ix_work_plan_steps_plan_id", table_name="work_plan_steps")
    op.drop_table("work_plan_steps")
    op.drop_table("work_plan_lines")
    op.drop_index("ux_work_plans_dealer_kind_period", table_name="work_plans")
    op.drop_table("work_plans")
    op.drop_column("tasks", "planned_for")
    op.drop_column("tasks", "plan_id")
