"""access_log: who read which customer unmasked, when, through which endpoint (domain.md §3 保密, issue 16 §3)

A new, empty table: nothing to backfill, no lock on a busy table.
"""

from alembic import op

from leadnet_shared.access_log import access_log_migration

revision, down_revision = "20261205_access_log", "20261205_lead_life_cycle"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    access_log_migration(op)


def downgrade() -> None:
    op.drop_table("access_log")
