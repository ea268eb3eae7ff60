"""The console's DDL that several of its revisions share, frozen as it ran (the rule of `leadnet_shared.ddl`: never
edited once a revision calls it; a change is a new revision)."""

# The lead's dimensions every fact table carries since revision 0001, so each figure filters without a join; they
# stand last before the primary key.
DIMENSIONS_2026_12_05 = (
    "region_code VARCHAR(12)",
    "product_line VARCHAR(40)",
    "tier VARCHAR(20)",
    "source VARCHAR(40)",
    "network_code VARCHAR(64)",
    "entered_by VARCHAR(32)",
)
