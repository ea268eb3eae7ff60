"""initial: leads, idempotency keys, outbox, inbox"""

from alembic import op

from leadnet_shared import ddl

revision, down_revision = "0001", None


def upgrade() -> None:
    ddl.kit_tables_2026_11_22(op)
    ddl.create_table(
        "leads",
        "lead_id varchar(36) CONSTRAINT pk_leads PRIMARY KEY",
        "entered_by varchar(32)",
        "entered_by_role varchar(20) NOT NULL",
        "caller_key varchar(80) NOT NULL",
        "source varchar(40) NOT NULL",
        "network_code varchar(64)",
        "raw jsonb NOT NULL",
        "normalized jsonb NOT NULL",
        "status varchar(24) NOT NULL",
        "customer_id varchar(36)",
        "assigned_dealer varchar(32)",
        "verdict jsonb",
        "submitted_at timestamptz NOT NULL",
        "updated_at timestamptz DEFAULT now() NOT NULL",
    )
    op.create_index("ix_leads_entered_by", "leads", ["entered_by", "submitted_at"])
    op.create_index("ix_leads_assigned_dealer", "leads", ["assigned_dealer"])
    ddl.idempotency_keys_2026_11_22(op, "idempotency_keys", "lead_id varchar(36)")


def downgrade() -> None:
    ddl.drop_tables(op, "idempotency_keys", "leads")
    ddl.drop_kit_tables_2026_11_22(op)
