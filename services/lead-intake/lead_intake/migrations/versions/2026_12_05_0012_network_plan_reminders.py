"""network_plan_reminders: one row per owner, plan period and reminder sent, so that replicas and restarts send
each reminder once. A new table.
"""

from leadnet_shared import ddl

revision, down_revision = "0011", "0010"

upgrade, downgrade = ddl.tables_revision(
    (
        "network_plan_reminders",
        "owner varchar(32) NOT NULL",
        "period varchar(7) NOT NULL",
        "days_before integer NOT NULL",
        "sent_at timestamptz NOT NULL",
        "CONSTRAINT pk_network_plan_reminders PRIMARY KEY (owner, period, days_before)",
    ),
)
