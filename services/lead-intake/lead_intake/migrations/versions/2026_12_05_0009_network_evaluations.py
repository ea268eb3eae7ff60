"""network_dealers: each dealer's sales level, from leadnet.public.dealers.v1 (the network kinds expected of it);
network_evaluations: the quarterly evaluation, one row per owner and quarter (issue 19).

Both are new tables, so nothing is rewritten under lock. network_dealers fills when the new consumer group first
reads the compacted dealers topic from its beginning.
"""

from alembic import op

from lead_intake.migrations import ddl as intake
from leadnet_shared import ddl

revision, down_revision = "0008", "0007"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    intake.network_dealers_2026_12_05(op)
    ddl.create_table(
        "network_evaluations",
        "owner varchar(32) NOT NULL",
        "quarter varchar(6) NOT NULL",
        "scope varchar(16) NOT NULL",
        "evaluated_at timestamptz NOT NULL",
        "trigger varchar(16) NOT NULL",
        "policy_versions jsonb NOT NULL",
        "networks_planned integer",
        "networks_developed integer NOT NULL",
        "development_completion float",
        "development_rating varchar(16)",
        "networks integer NOT NULL",
        "records integer NOT NULL",
        "verified integer NOT NULL",
        "authenticity_share float",
        "authenticity_rating varchar(16)",
        "sales_level varchar(20)",
        "kinds_expected integer",
        "kinds_present jsonb NOT NULL",
        "class_counts jsonb NOT NULL",
        "lines jsonb NOT NULL",
        "CONSTRAINT pk_network_evaluations PRIMARY KEY (owner, quarter)",
    )
    op.create_index("ix_network_evaluations_quarter", "network_evaluations", ["quarter", "owner"])


def downgrade() -> None:
    ddl.drop_tables(op, "network_evaluations", "network_dealers")
