"""tasks.escalate_at: the moment a task escalates to HQ, as the scheduler's task events now carry it, so the
escalated figure and its list count the same tasks (the daily overdue digest it used to add has no task ids).
Tasks escalated by an older `task.escalated` event take that event's instant.
"""

from alembic import op

from leadnet_shared import ddl

revision, down_revision = "0003", "0002"

STATEMENTS = (
    # nullable: no table rewrite under the lock
    """ALTER TABLE tasks ADD COLUMN escalate_at TIMESTAMP WITH TIME ZONE""",
    """UPDATE tasks SET escalate_at = escalated_at WHERE escalated_at IS NOT NULL""",
    """CREATE INDEX ix_tasks_escalate ON tasks (escalate_at) WHERE escalate_at IS NOT NULL""",
)


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    ddl.execute_all(op, STATEMENTS)


def downgrade() -> None:
    op.execute("DROP INDEX ix_tasks_escalate")
    op.drop_column("tasks", "escalate_at")
