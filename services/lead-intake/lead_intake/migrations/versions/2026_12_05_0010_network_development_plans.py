"""network_development_plans: fixed networks planned per quarter, temporary ones per month, with who is responsible
(domain.md §1); the quarterly evaluation divides the networks developed by them. A new table.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision, down_revision = "0009", "0008"
branch_labels, depends_on = None, None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_table(
        "network_development_plans",
        sa.Column("owner", sa.String(32), primary_key=True),
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("quarter", sa.String(6), nullable=False),
        sa.Column("planned_networks", sa.Integer, nullable=False),
        sa.Column("responsible", JSONB, nullable=False),
        sa.Column("due_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(80), nullable=False),
    )
    op.create_index("ix_network_development_plans_quarter", "network_development_plans", ["quarter", "owner"])


def downgrade() -> None:
    op.drop_table("network_development_plans")
