"""kit tables: outbox rows parked after repeated publish failures; the consumers' failure book (attempts counted
outside the rolled-back transaction, events held behind a parked key)

Revision ID: 20261205_kit_reliability
Revises: 0003
Create Date: 2026-12-05
"""

from alembic import op

from leadnet_shared.migrate import kit_reliability_downgrade, kit_reliability_migration

revision = "20261205_kit_reliability"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    kit_reliability_migration(op)


def downgrade() -> None:
    kit_reliability_downgrade(op)
