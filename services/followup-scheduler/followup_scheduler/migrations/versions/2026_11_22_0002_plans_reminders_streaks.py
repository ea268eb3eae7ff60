"""plans, sent plan reminders, known dealers; lead streak/fleet/purchase; task cancel/plan times; timer indexes"""

import sqlalchemy as sa
from alembic import op

from leadnet_shared import ddl

revision, down_revision = "0002", "0001"


def upgrade() -> None:
    op.add_column("tasks", sa.Column("cancelled_at", sa.DateTime(timezone=True)))
    op.add_column("tasks", sa.Column("planned_at", sa.DateTime(timezone=True)))
    op.create_index("ix_tasks_escalation_pending", "tasks", ["escalate_at"],
                    postgresql_where=sa.text("escalated_at IS NULL AND status = 'overdue'"))
    op.create_index("ix_tasks_dealer_kind_completed", "tasks", ["dealer", "kind", "completed_at"],
                    postgresql_where=sa.text("completed_at IS NOT NULL"))
    op.create_index("ix_tasks_dealer_promotions", "tasks", ["dealer", "planned_at"],
                    postgresql_where=sa.text("kind = 'promotion'"))
    op.add_column("leads", sa.Column("unreachable_streak", sa.Integer, nullable=False, server_default="0"))
    op.add_column("leads", sa.Column("fleet_vehicles", sa.Integer))
    op.add_column("leads", sa.Column("purchased_at", sa.DateTime(timezone=True)))
    op.add_column("leads", sa.Column("closed_reason", sa.String(40)))
    ddl.dealer_directory_2026_11_22(op)
    ddl.create_table(
        "plans",
        "dealer varchar(32) NOT NULL",
        "month varchar(7) NOT NULL",
        "sales_plan integer NOT NULL",
        "callbacks_planned integer",
        "promotions_planned integer",
        "updated_at timestamptz NOT NULL",
        "updated_by varchar(100) NOT NULL",
        "CONSTRAINT pk_plans PRIMARY KEY (dealer, month)",
    )
    ddl.create_table(
        "plan_reminders",
        "dealer varchar(32) NOT NULL",
        "plan varchar(20) NOT NULL",
        "period varchar(10) NOT NULL",
        "days_before integer NOT NULL",
        "event_id varchar(64) NOT NULL",
        "sent_at timestamptz NOT NULL",
        "CONSTRAINT pk_plan_reminders PRIMARY KEY (dealer, plan, period, days_before)",
    )


def downgrade() -> None:
    ddl.drop_tables(op, "plan_reminders", "plans", "dealers")
    for column in ("closed_reason", "purchased_at", "fleet_vehicles", "unreachable_streak"):
        op.drop_column("leads", column)
    for index in ("ix_tasks_dealer_promotions", "ix_tasks_dealer_kind_completed", "ix_tasks_escalation_pending"):
        op.drop_index(index, table_name="tasks")
    op.drop_column("tasks", "planned_at")
    op.drop_column("tasks", "cancelled_at")
