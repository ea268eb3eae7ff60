"""kit tables: outbox rows parked after repeated publish failures; the consumers' failure book (attempts counted
outside the rolled-back transaction, events held behind a parked key)
"""

from alembic import op

from leadnet_shared import ddl

revision, down_revision = "20261205_kit_reliability", "0003"
branch_labels, depends_on = None, None


def upgrade() -> None:
    ddl.kit_reliability_2026_12_05(op)


def downgrade() -> None:
    ddl.drop_kit_reliability_2026_12_05(op)
