"""network_development_plans: fixed networks planned per quarter, temporary ones per month, with who is responsible
(domain.md §1); the quarterly evaluation divides the networks developed by them. A new table.
"""

from leadnet_shared import ddl

revision, down_revision = "0009", "0008"

upgrade, downgrade = ddl.tables_revision(
    (
        "network_development_plans",
        "owner varchar(32) NOT NULL",
        "period varchar(7) NOT NULL",
        "kind varchar(16) NOT NULL",
        "quarter varchar(6) NOT NULL",
        "planned_networks integer NOT NULL",
        "responsible jsonb NOT NULL",
        "due_by timestamptz NOT NULL",
        "first_submitted_at timestamptz NOT NULL",
        "late boolean NOT NULL",
        "updated_at timestamptz NOT NULL",
        "updated_by varchar(80) NOT NULL",
        "CONSTRAINT pk_network_development_plans PRIMARY KEY (owner, period)",
    ),
    indexes=("CREATE INDEX ix_network_development_plans_quarter ON network_development_plans (quarter, owner)",),
)
