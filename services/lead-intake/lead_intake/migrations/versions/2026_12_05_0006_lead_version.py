"""leads: the router's `lead_version` of the verdict or reassignment last applied (review M4)

A lead's `lead.reassigned` can arrive before its `lead.accepted`; the verdict consumer then keeps the status and
dealer of the newer one and still records the verdict. 0: nothing versioned applied yet.
"""

from leadnet_shared import ddl

revision, down_revision = "20261205_lead_version", "20261205_kit_reliability"

upgrade, downgrade = ddl.lead_version_2026_12_05, ddl.drop_lead_version_2026_12_05
