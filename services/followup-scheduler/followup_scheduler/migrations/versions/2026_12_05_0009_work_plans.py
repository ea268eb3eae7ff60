"""Monthly callback and weekly promotion plans as lists of customers, approved along a chain (issue 18 §3-5)

`work_plans`, `work_plan_lines`, `work_plan_steps`: the plans, their lines and who acted on them. `plan_dealer_units`:
each dealer's region and sales channel for the roll-up. `tasks.plan_id` / `tasks.planned_for`: the approved plan that
planned a task (NULL: unplanned), nullable columns added without rewriting the table.
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0009", "0008"
branch_labels, depends_on = None, None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("tasks", sa.Column("plan_id", sa.String(36)))
    op.add_column("tasks", sa.Column("planned_for", sa.Date))
    op.create_table(
        "work_plans",
        sa.Column("plan_id", sa.String(36), primary_key=True),
        sa.Column("dealer", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("stage", sa.String(40)),
        sa.Column("quota", sa.Integer, nullable=False),
        sa.Column("due_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.Column("late_flagged_at", sa.DateTime(timezone=True)),
        sa.Column("submitted_at", sa.DateTime(timezone=True)),
        sa.Column("approved_at", sa.DateTime(timezone=True)),
        sa.Column("rejected_reason", sa.Text),
        sa.Column("line_count", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.Column("updated_position", sa.String(32)),
    )
    op.create_index("ux_work_plans_dealer_kind_period", "work_plans", ["dealer", "kind", "period"], unique=True)
    op.create_table(
        "work_plan_lines",
        sa.Column("plan_id", sa.String(36), primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("lead_id", sa.String(36), nullable=False),
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("target_date", sa.Date, nullable=False),
        sa.Column("position", sa.String(32), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("task_id", sa.String(36)),
    )
    op.create_table(
        "work_plan_steps",
        sa.Column("step_id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("plan_id", sa.String(36), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("stage", sa.String(40)),
        sa.Column("sub", sa.String(200)),
        sa.Column("role", sa.String(20)),
        sa.Column("position", sa.String(32)),
        sa.Column("reason", sa.Text),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_work_plan_steps_plan_id", "work_plan_steps", ["plan_id"])
    op.create_table(
        "plan_dealer_units",
        sa.Column("dealer", sa.String(32), primary_key=True),
        sa.Column("region", sa.String(6)),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
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
