"""leads: the life cycle the other services decide (closed, returned by HQ, reopened by a re-check)

A lead closed as invalid by the scheduler must stop counting as its entrant's open lead (the same dealer may
enter the customer again), and withdrawal and sales attribution must ignore it; a lead HQ returned stays the
entrant's lead while it is re-checked. The facts are kept as columns that commute (earliest close, highest
rounds), so the order in which the events arrive never changes the state (contract.md "Lead life cycle").
"""

from leadnet_shared import ddl

revision, down_revision = "20261205_lead_life_cycle", "0006"

# Nullable columns and constant defaults: no table rewrite.
upgrade, downgrade = ddl.columns_revision("leads", *ddl.LEAD_LIFE_CYCLE_2026_12_05)
