"""dealers: which dealers may write, from leadnet.public.dealers.v1 (review M2); access_log: who read which record
unmasked (domain.md §3 保密). Issue 16 §3-4.

Both are new tables. The dealer directory fills from the compacted topic when the new consumer group first reads it
from the beginning; until it has, dealer tokens are refused writes (403 dealer_not_active) for a few seconds.
"""

from alembic import op

from leadnet_shared import ddl
from leadnet_shared.access_log import access_log_migration

revision, down_revision = "0007", "20261205_lead_life_cycle"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    ddl.dealer_directory_2026_11_22(op)
    access_log_migration(op)


def downgrade() -> None:
    ddl.drop_tables(op, "access_log", "dealers")
