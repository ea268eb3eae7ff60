"""initial: webhook subscriptions, the delivery queue and log, owner notices, the dealer directory; the kit's outbox
and inbox
"""

import sqlalchemy as sa
from alembic import op

from leadnet_shared import ddl

revision, down_revision = "0001", None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    ddl.kit_tables_2026_11_22(op)
    ddl.kit_reliability_2026_12_05(op)
    ddl.create_table(
        "webhooks",
        "seq bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT uq_webhooks_seq UNIQUE",
        "webhook_id varchar(36) CONSTRAINT pk_webhooks PRIMARY KEY",
        "owner varchar(32) NOT NULL",
        "dealer varchar(32)",
        "url varchar(2048) NOT NULL",
        "events varchar(64)[] NOT NULL",
        "description varchar(200)",
        "secret varchar(100) NOT NULL",
        "previous_secret varchar(100)",
        "previous_secret_until timestamptz",
        "status varchar(16) NOT NULL",
        "disabled_reason varchar(40)",
        "disabled_at timestamptz",
        "failing_since timestamptz",
        "created_at timestamptz NOT NULL",
        "updated_at timestamptz NOT NULL",
    )
    op.create_index("ix_webhooks_owner", "webhooks", ["owner", "seq"])
    ddl.create_table(
        "deliveries",
        "seq bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT uq_deliveries_seq UNIQUE",
        "delivery_id varchar(40) CONSTRAINT pk_deliveries PRIMARY KEY",
        "webhook_id varchar(36) NOT NULL CONSTRAINT fk_deliveries_webhook_id_webhooks REFERENCES webhooks (webhook_id) ON DELETE CASCADE",
        "event_type varchar(64) NOT NULL",
        "source_event_id varchar(64) NOT NULL",
        "order_key varchar(80) NOT NULL",
        "payload jsonb NOT NULL",
        "status varchar(16) NOT NULL",
        "attempts integer DEFAULT '0' NOT NULL",
        "next_attempt_at timestamptz NOT NULL",
        "first_attempt_at timestamptz",
        "last_attempt_at timestamptz",
        "response_code integer",
        "last_error varchar(200)",
        "created_at timestamptz NOT NULL",
        "updated_at timestamptz NOT NULL",
        "CONSTRAINT uq_deliveries_event UNIQUE (webhook_id, source_event_id, event_type)",
    )
    op.create_index("ix_deliveries_webhook_seq", "deliveries", ["webhook_id", "seq"])
    op.create_index("ix_deliveries_webhook_created", "deliveries", ["webhook_id", "created_at"])
    op.create_index(
        "ix_deliveries_pending_due",
        "deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_deliveries_pending_key",
        "deliveries",
        ["webhook_id", "order_key", "seq"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    ddl.idempotency_keys_2026_11_22(op, "webhook_idempotency_keys")
    ddl.dealer_directory_2026_11_22(op)
    ddl.create_table(
        "owner_notices",
        "seq bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT pk_owner_notices PRIMARY KEY",
        "owner varchar(32) NOT NULL",
        "kind varchar(40) NOT NULL",
        "webhook_id varchar(36)",
        "detail text NOT NULL",
        "created_at timestamptz NOT NULL",
        "told_at timestamptz",
    )


def downgrade() -> None:
    ddl.drop_tables(
        op, "owner_notices", "dealers", "webhook_idempotency_keys", "deliveries", "webhooks", "consumer_failures"
    )
    ddl.drop_kit_tables_2026_11_22(op)
