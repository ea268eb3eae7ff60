"""kit tables: outbox rows parked after repeated publish failures; the consumers' failure book (attempts counted
outside the rolled-back transaction, events held behind a parked key)
"""

from alembic import op

from leadnet_shared import ddl
from rewards_ledger.migrations import ddl as ledger

revision, down_revision = "20261205_kit_reliability", "0002"

WORKING = (*ledger.WORKING_2026_11_22, "consumer_failures")


def upgrade() -> None:
    ddl.kit_reliability_2026_12_05(op)
    # The application role works the failure book as it works the outbox and the inbox.
    ledger.grant_function_2026_11_22(op, ledger.APPEND_ONLY_2026_11_22, WORKING)
    ledger.grant_if_role_exists_2026_11_22(op)


def downgrade() -> None:
    ledger.grant_function_2026_11_22(op, ledger.APPEND_ONLY_2026_11_22, ledger.WORKING_2026_11_22)
    ddl.drop_kit_reliability_2026_12_05(op)
