"""leads: the record's county adcode, so every `ledger.entry_posted` can say which region its money went to

HQ's dashboards read only the public topics (issue 20) and group rewards by region; the ledger learns the region
from the lead events it already reads. Nullable: leads stored before this revision learn it from their next event.
"""

from alembic import op

revision, down_revision = "0006", "20261205_lead_version"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute("ALTER TABLE leads ADD COLUMN region_code varchar(6)")


def downgrade() -> None:
    op.execute("ALTER TABLE leads DROP COLUMN region_code")
