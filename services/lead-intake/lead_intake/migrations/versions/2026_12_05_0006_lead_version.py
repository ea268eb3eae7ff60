"""leads: the router's `lead_version` of the verdict or reassignment last applied (review M4)

A lead's `lead.reassigned` can arrive before its `lead.accepted`; the verdict consumer then keeps the status and
dealer of the newer one and still records the verdict. 0: nothing versioned applied yet.

Revision ID: 20261205_lead_version
Revises: 20261205_kit_reliability
Create Date: 2026-12-05
"""

from alembic import op

revision = "20261205_lead_version"
down_revision = "20261205_kit_reliability"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute("ALTER TABLE leads ADD COLUMN lead_version integer NOT NULL DEFAULT 0")


def downgrade() -> None:
    op.execute("ALTER TABLE leads DROP COLUMN lead_version")
