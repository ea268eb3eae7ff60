"""idempotency keys found by lead: the verdict's transaction writes the keyed request's final response"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0003", "0002"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_index("ix_idempotency_keys_lead_id", "idempotency_keys", ["lead_id"],
                    postgresql_where=sa.text("lead_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_lead_id", table_name="idempotency_keys")
