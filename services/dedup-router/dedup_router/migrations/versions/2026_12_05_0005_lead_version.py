"""leads: a version counted up at every reassignment, published as `lead_version` (review M4)

Several relay replicas, or a row in backoff, can let a lead's `lead.reassigned` reach a consumer before its
`lead.accepted`; with the version on every public lead event a consumer keeps the newest fact whatever the order.
Existing leads start at 1 (the version of a first routing); their next reassignment publishes 2.
"""

from leadnet_shared import ddl

revision, down_revision = "20261205_lead_version", "0004"

# A constant default: PostgreSQL 11+ adds the column without rewriting the table.
upgrade, downgrade = ddl.columns_revision("leads", "version integer NOT NULL DEFAULT 1")
