"""Idempotency-Key on POST /v1/tasks (contract.md: every creating POST takes one); the kit's key table"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision, down_revision = "0005", "20261205_lead_version"
branch_labels, depends_on = None, None


def upgrade() -> None:
    # The columns of leadnet_shared.idempotency.idempotency_table.
    op.create_table(
        "task_idempotency_keys",
        sa.Column("caller_key", sa.String(80), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("response", JSONB),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_task_idempotency_keys_created_at", "task_idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_table("task_idempotency_keys")
