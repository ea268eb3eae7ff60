"""initial: leads, idempotency keys, outbox, inbox"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from leadnet_shared import ddl

revision, down_revision = "0001", None
branch_labels, depends_on = None, None


def upgrade() -> None:
    ddl.kit_tables_2026_11_22(op)
    op.create_table(
        "leads",
        sa.Column("lead_id", sa.String(36), primary_key=True),
        sa.Column("entered_by", sa.String(32)),
        sa.Column("entered_by_role", sa.String(20), nullable=False),
        sa.Column("caller_key", sa.String(80), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("network_code", sa.String(64)),
        sa.Column("raw", JSONB, nullable=False),
        sa.Column("normalized", JSONB, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("customer_id", sa.String(36)),
        sa.Column("assigned_dealer", sa.String(32)),
        sa.Column("verdict", JSONB),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_leads_entered_by", "leads", ["entered_by", "submitted_at"])
    op.create_index("ix_leads_assigned_dealer", "leads", ["assigned_dealer"])
    ddl.idempotency_keys_2026_11_22(op, "idempotency_keys", sa.Column("lead_id", sa.String(36)))


def downgrade() -> None:
    ddl.drop_tables(op, "idempotency_keys", "leads")
    ddl.drop_kit_tables_2026_11_22(op)
