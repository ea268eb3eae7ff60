"""collection_breakdowns: each dealer's breakdown of its monthly collection target per network and per person
(domain.md §2, 二次分解). A new table.
"""

from leadnet_shared import ddl

revision, down_revision = "0010", "0009"

upgrade, downgrade = ddl.tables_revision(
    (
        "collection_breakdowns",
        "dealer varchar(32) NOT NULL",
        "month varchar(7) NOT NULL",
        "networks jsonb NOT NULL",
        "people jsonb NOT NULL",
        "updated_at timestamptz NOT NULL",
        "updated_by varchar(80) NOT NULL",
        "CONSTRAINT pk_collection_breakdowns PRIMARY KEY (dealer, month)",
    ),
)
