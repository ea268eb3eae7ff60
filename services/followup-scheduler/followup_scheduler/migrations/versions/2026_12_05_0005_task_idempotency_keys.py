"""Idempotency-Key on POST /v1/tasks (contract.md: every creating POST takes one); the kit's key table"""

from alembic import op

from leadnet_shared import ddl

revision, down_revision = "0005", "20261205_lead_version"


def upgrade() -> None:
    ddl.idempotency_keys_2026_11_22(op, "task_idempotency_keys")


def downgrade() -> None:
    op.drop_table("task_idempotency_keys")
