"""leads: the router's `lead_version` of the verdict or reassignment last applied (review M4)

A lead's `lead.reassigned` can arrive before its `lead.accepted`; the verdict consumer then keeps the status and
dealer of the newer one and still records the verdict. 0: nothing versioned applied yet.
"""

from alembic import op

from leadnet_shared import ddl

revision, down_revision = "20261205_lead_version", "20261205_kit_reliability"
branch_labels, depends_on = None, None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    ddl.add_columns(op, "leads", *ddl.LEAD_VERSION_2026_12_05)


def downgrade() -> None:
    ddl.drop_columns(op, "leads", *ddl.LEAD_VERSION_2026_12_05)
