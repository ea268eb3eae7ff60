"""initial: webhook subscriptions, the delivery queue and log, owner notices, the dealer directory; the kit's outbox
and inbox
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from leadnet_shared import ddl

revision, down_revision = "0001", None
branch_labels, depends_on = None, None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    ddl.kit_tables_2026_11_22(op)
    ddl.kit_reliability_2026_12_05(op)
    op.create_table(
        "webhooks",
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False, unique=True),
        sa.Column("webhook_id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("dealer", sa.String(32)),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("events", postgresql.ARRAY(sa.String(64)), nullable=False),
        sa.Column("description", sa.String(200)),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("previous_secret", sa.String(100)),
        sa.Column("previous_secret_until", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("disabled_reason", sa.String(40)),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
        sa.Column("failing_since", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_webhooks_owner", "webhooks", ["owner", "seq"])
    op.create_table(
        "deliveries",
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False, unique=True),
        sa.Column("delivery_id", sa.String(40), primary_key=True),
        sa.Column(
            "webhook_id", sa.String(36), sa.ForeignKey("webhooks.webhook_id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("source_event_id", sa.String(64), nullable=False),
        sa.Column("order_key", sa.String(80), nullable=False),
        sa.Column("payload", postgresql.JSONB, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("response_code", sa.Integer),
        sa.Column("last_error", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("webhook_id", "source_event_id", "event_type", name="uq_deliveries_event"),
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
    op.create_table(
        "owner_notices",
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("webhook_id", sa.String(36)),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("told_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    ddl.drop_tables(
        op, "owner_notices", "dealers", "webhook_idempotency_keys", "deliveries", "webhooks", "consumer_failures"
    )
    ddl.drop_kit_tables_2026_11_22(op)
