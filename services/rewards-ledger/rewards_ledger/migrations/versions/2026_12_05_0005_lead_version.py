"""leads: the router's `lead_version` of the stored facts (review M4)

A lead's `lead.reassigned` can arrive before its `lead.accepted`; the ledger then keeps the reassignment's
authorized dealer (which decides whether a sale is guaranteed) and ignores the older verdict's. 0: unversioned.
"""

from leadnet_shared import ddl

revision, down_revision = "20261205_lead_version", "0004"

upgrade, downgrade = ddl.lead_version_2026_12_05, ddl.drop_lead_version_2026_12_05
