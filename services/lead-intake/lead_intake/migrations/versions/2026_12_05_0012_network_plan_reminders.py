"""network_plan_reminders: one row per owner, plan period and reminder sent, so that replicas and restarts send
each reminder once. A new table.
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0011", "0010"
branch_labels, depends_on = None, None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_table(
        "network_plan_reminders",
        sa.Column("owner", sa.String(32), primary_key=True),
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("days_before", sa.Integer, primary_key=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("network_plan_reminders")
