"""initial: tasks, followed leads, outbox, inbox"""

import sqlalchemy as sa
from alembic import op

from leadnet_shared import ddl

revision, down_revision = "0001", None
branch_labels, depends_on = None, None


def upgrade() -> None:
    ddl.kit_tables_2026_11_22(op)
    op.create_table(
        "tasks",
        sa.Column("task_id", sa.String(36), primary_key=True),
        sa.Column("lead_id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("dealer", sa.String(32)),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalate_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("policy_version", sa.String(40)),
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("tie_break", sa.Integer, nullable=False),
        sa.Column("unreachable_streak", sa.Integer, nullable=False, server_default="0"),
        sa.Column("fired_at", sa.DateTime(timezone=True)),
        sa.Column("overdue_fired_at", sa.DateTime(timezone=True)),
        sa.Column("escalated_at", sa.DateTime(timezone=True)),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.String(24)),
        sa.Column("notes", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_tasks_due_unfired", "tasks", ["due_at"],
                    postgresql_where=sa.text("fired_at IS NULL AND status = 'open'"))
    op.create_index("ix_tasks_overdue_pending", "tasks", ["overdue_at"],
                    postgresql_where=sa.text("overdue_fired_at IS NULL AND status = 'open'"))
    op.create_index("ix_tasks_dealer_open", "tasks", ["dealer", "due_at", "tie_break"],
                    postgresql_where=sa.text("status IN ('open', 'overdue')"))
    op.create_index("ix_tasks_lead", "tasks", ["lead_id"])
    op.create_table(
        "leads",
        sa.Column("lead_id", sa.String(36), primary_key=True),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("entered_by", sa.String(32)),
        sa.Column("assigned_dealer", sa.String(32)),
        sa.Column("authorized_dealer", sa.String(32)),
        sa.Column("cross_region", sa.Boolean, nullable=False),
        sa.Column("reward_eligible", sa.Boolean, nullable=False),
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("nature", sa.String(20), nullable=False),
        sa.Column("region_code", sa.String(6)),
        sa.Column("product_line", sa.String(32)),
        sa.Column("horizon", sa.String(32)),
        sa.Column("source", sa.String(40)),
        sa.Column("network_code", sa.String(64)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True)),
        sa.Column("routed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    ddl.drop_tables(op, "leads", "tasks")
    ddl.drop_kit_tables_2026_11_22(op)
