"""the customer file (issue 17 §7): a timeline per customer, its profile blocks, and the history of corrections

`customer_timeline` keeps every fact the public topics tell about a customer (and the router's own), generically;
`customer_profiles` the vehicles in use, usage and purchase intent; `customer_changes` every correction, append-only.
New tables only: nothing existing is rewritten or locked for long.
"""

from leadnet_shared import ddl

revision, down_revision = "20261205_customer_file", "20261205_lead_version"

upgrade, downgrade = ddl.tables_revision(
    (
        "customer_timeline",
        "event_id varchar(64) CONSTRAINT pk_customer_timeline PRIMARY KEY",
        "customer_id varchar(36) NOT NULL",
        "type varchar(120) NOT NULL",
        "occurred_at timestamptz NOT NULL",
        "actor varchar(200)",
        "dealer varchar(32)",
        "service varchar(120)",
        "summary jsonb NOT NULL",
        "recorded_at timestamptz DEFAULT now() NOT NULL",
    ),
    (
        "customer_profiles",
        "customer_id varchar(36) CONSTRAINT pk_customer_profiles PRIMARY KEY",
        "vehicles_in_use jsonb",
        "usage jsonb",
        "purchase_intent jsonb",
        "updated_at timestamptz DEFAULT now() NOT NULL",
    ),
    (
        "customer_changes",
        "seq serial CONSTRAINT pk_customer_changes PRIMARY KEY",
        "change_id varchar(64) NOT NULL",
        "customer_id varchar(36) NOT NULL",
        "field varchar(40) NOT NULL",
        "old_value jsonb",
        "new_value jsonb",
        "changed_by varchar(200) NOT NULL",
        "changed_by_role varchar(20) NOT NULL",
        "changed_by_dealer varchar(32)",
        "changed_at timestamptz NOT NULL",
    ),
    indexes=(
        "CREATE INDEX ix_customer_timeline_customer_time ON customer_timeline (customer_id, occurred_at, event_id)",
        "CREATE INDEX ix_customer_changes_customer ON customer_changes (customer_id, changed_at, seq)",
    ),
)
