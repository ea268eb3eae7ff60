"""leads: the life cycle the other services decide (closed, returned by HQ, reopened by a re-check)

A lead closed as invalid by the scheduler must stop counting as its entrant's open lead (the same dealer may
enter the customer again), and withdrawal and sales attribution must ignore it; a lead HQ returned stays the
entrant's lead while it is re-checked. The facts are kept as columns that commute (earliest close, highest
rounds), so the order in which the events arrive never changes the state (contract.md "Lead life cycle").
"""

from alembic import op

revision, down_revision = "20261205_lead_life_cycle", "0006"
branch_labels, depends_on = None, None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    # Nullable columns and constant defaults: no table rewrite.
    op.execute("ALTER TABLE leads ADD COLUMN closed_at timestamptz")
    op.execute("ALTER TABLE leads ADD COLUMN closed_reason varchar(40)")
    op.execute("ALTER TABLE leads ADD COLUMN return_round integer NOT NULL DEFAULT 0")
    op.execute("ALTER TABLE leads ADD COLUMN reopen_round integer NOT NULL DEFAULT 0")


def downgrade() -> None:
    for column in ("reopen_round", "return_round", "closed_reason", "closed_at"):
        op.execute(f"ALTER TABLE leads DROP COLUMN {column}")
