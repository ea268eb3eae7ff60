"""information networks, verified marks and network flags on leads, batch idempotency items"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision, down_revision = "0002", "0001"
branch_labels, depends_on = None, None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("leads", sa.Column("verified_at", sa.DateTime(timezone=True)))
    op.add_column("leads", sa.Column("network_registered", sa.Boolean))
    op.create_index(
        "ix_leads_network_submitted", "leads", ["network_code", "submitted_at"],
        postgresql_where=sa.text("network_code IS NOT NULL"),
    )
    op.add_column("idempotency_keys", sa.Column("batch_items", JSONB))
    op.create_table(
        "information_networks",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("members", JSONB, nullable=False),
        sa.Column("registered_by", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_information_networks_owner", "information_networks", ["owner"])


def downgrade() -> None:
    op.drop_table("information_networks")
    op.drop_column("idempotency_keys", "batch_items")
    op.drop_index("ix_leads_network_submitted", table_name="leads")
    op.drop_column("leads", "network_registered")
    op.drop_column("leads", "verified_at")
