"""network_dealers: each dealer's sales level, from leadnet.public.dealers.v1 (the network kinds expected of it);
network_evaluations: the quarterly evaluation, one row per owner and quarter (issue 19).

Both are new tables, so nothing is rewritten under lock. network_dealers fills when the new consumer group first
reads the compacted dealers topic from its beginning.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from leadnet_shared import ddl
from lead_intake.migrations import ddl as intake

revision, down_revision = "0008", "0007"
branch_labels, depends_on = None, None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    intake.network_dealers_2026_12_05(op)
    op.create_table(
        "network_evaluations",
        sa.Column("owner", sa.String(32), primary_key=True),
        sa.Column("quarter", sa.String(6), primary_key=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("policy_versions", JSONB, nullable=False),
        sa.Column("networks_planned", sa.Integer),
        sa.Column("networks_developed", sa.Integer, nullable=False),
        sa.Column("development_completion", sa.Float),
        sa.Column("development_rating", sa.String(16)),
        sa.Column("networks", sa.Integer, nullable=False),
        sa.Column("records", sa.Integer, nullable=False),
        sa.Column("verified", sa.Integer, nullable=False),
        sa.Column("authenticity_share", sa.Float),
        sa.Column("authenticity_rating", sa.String(16)),
        sa.Column("sales_level", sa.String(20)),
        sa.Column("kinds_expected", sa.Integer),
        sa.Column("kinds_present", JSONB, nullable=False),
        sa.Column("class_counts", JSONB, nullable=False),
        sa.Column("lines", JSONB, nullable=False),
    )
    op.create_index("ix_network_evaluations_quarter", "network_evaluations", ["quarter", "owner"])


def downgrade() -> None:
    ddl.drop_tables(op, "network_evaluations", "network_dealers")
