"""the application role's grants include `consumer_failures`, the kit's failure book

Revision 0003 (sale claims) redefined `ledger_grant_app_role` with revision 0002's working tables and so dropped
`consumer_failures`, which 20261205_kit_reliability had just added: a fresh database whose role revision 0004
creates, or an operator re-running the function, left the ledger's consumer unable to count a failed attempt, so
the first poison event stopped the ledger's consumer instead of parking its key.
"""

from alembic import op

from rewards_ledger.migrations import ddl as ledger

revision, down_revision = "0007", "0006"

APPEND_ONLY = (*ledger.APPEND_ONLY_2026_11_22, "payout_approvals")
WORKING = (*ledger.WORKING_2026_11_22, "consumer_failures")


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    ledger.grant_function_2026_11_22(op, APPEND_ONLY, WORKING)
    ledger.grant_if_role_exists_2026_11_22(op)


def downgrade() -> None:
    ledger.grant_function_2026_11_22(op, APPEND_ONLY, ledger.WORKING_2026_11_22)
