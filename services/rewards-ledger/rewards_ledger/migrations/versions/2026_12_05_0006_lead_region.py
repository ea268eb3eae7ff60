"""leads: the record's county adcode, so every `ledger.entry_posted` can say which region its money went to

HQ's dashboards read only the public topics (issue 20) and group rewards by region; the ledger learns the region
from the lead events it already reads. Nullable: leads stored before this revision learn it from their next event.
"""

from leadnet_shared import ddl

revision, down_revision = "0006", "20261205_lead_version"

upgrade, downgrade = ddl.columns_revision("leads", "region_code varchar(6)")
