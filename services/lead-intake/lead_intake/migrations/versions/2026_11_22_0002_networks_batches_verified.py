"""information networks, verified marks and network flags on leads, batch idempotency items"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from leadnet_shared import ddl

revision, down_revision = "0002", "0001"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("leads", sa.Column("verified_at", sa.DateTime(timezone=True)))
    op.add_column("leads", sa.Column("network_registered", sa.Boolean))
    op.create_index(
        "ix_leads_network_submitted", "leads", ["network_code", "submitted_at"],
        postgresql_where=sa.text("network_code IS NOT NULL"),
    )
    op.add_column("idempotency_keys", sa.Column("batch_items", JSONB))
    ddl.create_table(
        "information_networks",
        "code varchar(64) CONSTRAINT pk_information_networks PRIMARY KEY",
        "name varchar(200) NOT NULL",
        "kind varchar(16) NOT NULL",
        "scope varchar(16) NOT NULL",
        "owner varchar(32) NOT NULL",
        "members jsonb NOT NULL",
        "registered_by varchar(80) NOT NULL",
        "created_at timestamptz NOT NULL",
    )
    op.create_index("ix_information_networks_owner", "information_networks", ["owner"])


def downgrade() -> None:
    op.drop_table("information_networks")
    op.drop_column("idempotency_keys", "batch_items")
    op.drop_index("ix_leads_network_submitted", table_name="leads")
    op.drop_column("leads", "network_registered")
    op.drop_column("leads", "verified_at")
