"""One dealer table instead of two; HQ's monthly collection plans; the hand-on flags; reminders keyed by deadline.

- `dealers` (the kit's directory: status) and `network_dealers` (sales level, first seen) described the same
  dealers from the same topic through two consumer groups: `dealers` gains the columns (`sales_level`,
  `party_type`, `region`, `first_seen_at`), every row of `network_dealers` is copied in (a dealer only
  `network_dealers` knew is inserted, its status with it), and `network_dealers` is dropped. Small tables (one row
  per dealer), so the copy under lock is short.
- `collection_plans`: HQ's plan of a month by industry and fixed counts (new table).
- `collection_hand_ons`: one row per dealer and month, the hand-on judged once after the 25th (new table; the row is
  the proof that a short dealer was flagged once across replicas).
- `network_plan_reminders` gains `deadline` in its key: the evaluation (10th) and hand-on (25th) reminders name
  periods that a development plan's reminder also uses (`2026Q4`, `2026-12`). Existing rows are development-plan
  reminders.
"""

import sqlalchemy as sa
from alembic import op

from lead_intake.migrations import ddl as intake
from leadnet_shared import ddl

revision, down_revision = "0012", "0011"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("dealers", sa.Column("sales_level", sa.String(20)))
    op.add_column("dealers", sa.Column("party_type", sa.String(40)))
    op.add_column("dealers", sa.Column("region", sa.String(6)))
    op.add_column("dealers", sa.Column("first_seen_at", sa.DateTime(timezone=True)))
    op.execute(
        """
        INSERT INTO dealers (code, status, updated_at, sales_level, first_seen_at)
        SELECT code, status, updated_at, sales_level, first_seen_at FROM network_dealers
        ON CONFLICT (code) DO UPDATE SET
            sales_level = excluded.sales_level,
            first_seen_at = excluded.first_seen_at,
            status = CASE WHEN excluded.updated_at > dealers.updated_at THEN excluded.status ELSE dealers.status END,
            updated_at = greatest(dealers.updated_at, excluded.updated_at)
        """
    )
    # A dealer only the kit's consumer had seen: first seen no later than its newest event.
    op.execute("UPDATE dealers SET first_seen_at = updated_at WHERE first_seen_at IS NULL")
    op.drop_table("network_dealers")

    ddl.create_table(
        "collection_plans",
        "month varchar(7) CONSTRAINT pk_collection_plans PRIMARY KEY",
        "industries jsonb NOT NULL",
        "networks jsonb NOT NULL",
        "total integer NOT NULL",
        "issued_at timestamptz NOT NULL",
        "updated_at timestamptz NOT NULL",
        "updated_by varchar(80) NOT NULL",
    )
    ddl.create_table(
        "collection_hand_ons",
        "dealer varchar(32) NOT NULL",
        "month varchar(7) NOT NULL",
        "target integer NOT NULL",
        "handed_on integer NOT NULL",
        "met boolean NOT NULL",
        "judged_at timestamptz NOT NULL",
        "CONSTRAINT pk_collection_hand_ons PRIMARY KEY (dealer, month)",
    )

    op.add_column(
        "network_plan_reminders",
        sa.Column("deadline", sa.String(40), nullable=False, server_default="network_development"),
    )
    op.drop_constraint(op.f("pk_network_plan_reminders"), "network_plan_reminders", type_="primary")
    op.create_primary_key(
        op.f("pk_network_plan_reminders"), "network_plan_reminders", ["owner", "deadline", "period", "days_before"]
    )


def downgrade() -> None:
    op.execute("DELETE FROM network_plan_reminders WHERE deadline <> 'network_development'")
    op.drop_constraint(op.f("pk_network_plan_reminders"), "network_plan_reminders", type_="primary")
    op.create_primary_key(op.f("pk_network_plan_reminders"), "network_plan_reminders", ["owner", "period", "days_before"])
    op.drop_column("network_plan_reminders", "deadline")
    ddl.drop_tables(op, "collection_hand_ons", "collection_plans")
    intake.network_dealers_2026_12_05(op)
    op.execute(
        "INSERT INTO network_dealers SELECT code, sales_level, status, first_seen_at, updated_at FROM dealers"
    )
    for column in ("first_seen_at", "region", "party_type", "sales_level"):
        op.drop_column("dealers", column)
