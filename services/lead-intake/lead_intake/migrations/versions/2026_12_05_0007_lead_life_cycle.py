"""leads: the life cycle after routing (closed, returned by HQ, reopened) and the record's earlier versions

`GET /v1/leads/{id}` must show `closed` and `returned` (contract.md "Lead life cycle"); the facts are kept as
columns that commute (earliest close, highest round returned and reopened) so the status does not depend on the
order the events arrive in. A re-check's corrections make a new version of the record; the versions it replaced
are kept in `record_versions`.
"""

from alembic import op

revision, down_revision = "20261205_lead_life_cycle", "20261205_lead_version"
branch_labels, depends_on = None, None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    # Nullable columns and constant defaults: no table rewrite.
    op.execute("ALTER TABLE leads ADD COLUMN closed_at timestamptz")
    op.execute("ALTER TABLE leads ADD COLUMN closed_reason varchar(40)")
    op.execute("ALTER TABLE leads ADD COLUMN return_round integer NOT NULL DEFAULT 0")
    op.execute("ALTER TABLE leads ADD COLUMN reopen_round integer NOT NULL DEFAULT 0")
    op.execute("ALTER TABLE leads ADD COLUMN record_versions jsonb")


def downgrade() -> None:
    for column in ("record_versions", "reopen_round", "return_round", "closed_reason", "closed_at"):
        op.execute(f"ALTER TABLE leads DROP COLUMN {column}")
