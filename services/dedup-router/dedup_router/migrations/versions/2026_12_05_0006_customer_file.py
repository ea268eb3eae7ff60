"""the customer file (issue 17 §7): a timeline per customer, its profile blocks, and the history of corrections

`customer_timeline` keeps every fact the public topics tell about a customer (and the router's own), generically;
`customer_profiles` the vehicles in use, usage and purchase intent; `customer_changes` every correction, append-only.
New tables only: nothing existing is rewritten or locked for long.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from leadnet_shared import ddl

revision, down_revision = "20261205_customer_file", "20261205_lead_version"
branch_labels, depends_on = None, None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_table(
        "customer_timeline",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(120), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200)),
        sa.Column("dealer", sa.String(32)),
        sa.Column("service", sa.String(120)),
        sa.Column("summary", JSONB, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index(
        "ix_customer_timeline_customer_time", "customer_timeline", ["customer_id", "occurred_at", "event_id"]
    )
    op.create_table(
        "customer_profiles",
        sa.Column("customer_id", sa.String(36), primary_key=True),
        sa.Column("vehicles_in_use", JSONB),
        sa.Column("usage", JSONB),
        sa.Column("purchase_intent", JSONB),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "customer_changes",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("change_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("field", sa.String(40), nullable=False),
        sa.Column("old_value", JSONB),
        sa.Column("new_value", JSONB),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("changed_by_role", sa.String(20), nullable=False),
        sa.Column("changed_by_dealer", sa.String(32)),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_customer_changes_customer", "customer_changes", ["customer_id", "changed_at", "seq"])


def downgrade() -> None:
    ddl.drop_tables(op, "customer_changes", "customer_profiles", "customer_timeline")
