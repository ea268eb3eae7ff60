"""kit tables: outbox rows parked after repeated publish failures; the consumers' failure book (attempts counted
outside the rolled-back transaction, events held behind a parked key)
"""

from alembic import op

from leadnet_shared.migrate import kit_reliability_downgrade, kit_reliability_migration

revision, down_revision = "20261205_kit_reliability", "0004"
branch_labels, depends_on = None, None


def upgrade() -> None:
    kit_reliability_migration(op)


def downgrade() -> None:
    kit_reliability_downgrade(op)
