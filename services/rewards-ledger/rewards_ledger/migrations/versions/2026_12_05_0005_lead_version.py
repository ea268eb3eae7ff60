"""leads: the router's `lead_version` of the stored facts (review M4)

A lead's `lead.reassigned` can arrive before its `lead.accepted`; the ledger then keeps the reassignment's
authorized dealer (which decides whether a sale is guaranteed) and ignores the older verdict's. 0: unversioned.
"""

from alembic import op

from leadnet_shared import ddl

revision, down_revision = "20261205_lead_version", "0004"
branch_labels, depends_on = None, None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    ddl.add_columns(op, "leads", *ddl.LEAD_VERSION_2026_12_05)


def downgrade() -> None:
    ddl.drop_columns(op, "leads", *ddl.LEAD_VERSION_2026_12_05)
