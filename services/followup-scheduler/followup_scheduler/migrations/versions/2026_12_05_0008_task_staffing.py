"""tasks: who works them and how, who acted, promotion results, the daily overdue digest (issue 18 items 2, 4, 6)

`tasks.position / method / accompany`: the staff and method matrices' answer (staffing.py), set when a callback or
promotion is planned or rescheduled, so a position's work list is one indexed query. `tasks.action_at /
result_due_at / result_late`: a promotion's action and whether its result came within 2 days (domain.md §5).
`task_actions`: the person (token sub) and position behind each action. `overdue_digest_days`: the daily digest
that replaces a `task.escalated` per task runs once a day (its index, `ix_tasks_escalation_pending`, goes). Nullable columns only: no rewrite of the tasks table;
existing open tasks get their position from the timer worker after the start (tasks.restaff_open_tasks: the
matrices are policy, read by the service, not by the migration).
`tasks.reschedules` is part of a task's timer event ids, so a rescheduled task fires again (once).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision, down_revision = "0008", "0006"
branch_labels, depends_on = None, None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("tasks", sa.Column("position", sa.String(32)))
    op.add_column("tasks", sa.Column("method", sa.String(24)))
    op.add_column("tasks", sa.Column("accompany", JSONB))
    op.add_column("tasks", sa.Column("action_at", sa.DateTime(timezone=True)))
    op.add_column("tasks", sa.Column("result_due_at", sa.DateTime(timezone=True)))
    op.add_column("tasks", sa.Column("result_late", sa.Boolean))
    # A constant default: PostgreSQL stores it in the catalogue, no rewrite.
    op.add_column("tasks", sa.Column("reschedules", sa.Integer, nullable=False, server_default="0"))
    op.create_index(
        "ix_tasks_dealer_position_open",
        "tasks",
        ["dealer", "position", "due_at", "tie_break"],
        postgresql_where=sa.text("status IN ('open', 'overdue')"),
    )
    op.create_index(
        "ix_tasks_overdue_by_dealer",
        "tasks",
        ["dealer", "escalate_at"],
        postgresql_where=sa.text("status = 'overdue'"),
    )
    op.create_table(
        "task_actions",
        sa.Column("action_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("actor_position", sa.String(32)),
        sa.Column("acted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", JSONB),
    )
    op.create_index("ix_task_actions_task_id", "task_actions", ["task_id"])
    # The per-task escalation's index: the digest reads the overdue set by dealer instead.
    op.drop_index("ix_tasks_escalation_pending", table_name="tasks")
    op.create_table(
        "overdue_digest_days",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dealers", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("overdue_digest_days")
    op.create_index(
        "ix_tasks_escalation_pending",
        "tasks",
        ["escalate_at"],
        postgresql_where=sa.text("escalated_at IS NULL AND status = 'overdue'"),
    )
    op.drop_index("ix_task_actions_task_id", table_name="task_actions")
    op.drop_table("task_actions")
    op.drop_index("ix_tasks_overdue_by_dealer", table_name="tasks")
    op.drop_index("ix_tasks_dealer_position_open", table_name="tasks")
    for column in ("reschedules", "result_late", "result_due_at", "action_at", "accompany", "method", "position"):
        op.drop_column("tasks", column)
