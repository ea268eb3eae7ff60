"""leads: the life cycle after routing (closed, returned by HQ, reopened) and the record's earlier versions

`GET /v1/leads/{id}` must show `closed` and `returned` (contract.md "Lead life cycle"); the facts are kept as
columns that commute (earliest close, highest round returned and reopened) so the status does not depend on the
order the events arrive in. A re-check's corrections make a new version of the record; the versions it replaced
are kept in `record_versions`.
"""

from leadnet_shared import ddl

revision, down_revision = "20261205_lead_life_cycle", "20261205_lead_version"

# Nullable columns and constant defaults: no table rewrite.
upgrade, downgrade = ddl.columns_revision("leads", *ddl.LEAD_LIFE_CYCLE_2026_12_05, "record_versions jsonb")
