"""collection_breakdowns: each dealer's breakdown of its monthly collection target per network and per person
(domain.md §2, 二次分解). A new table.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision, down_revision = "0010", "0009"
branch_labels, depends_on = None, None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_table(
        "collection_breakdowns",
        sa.Column("dealer", sa.String(32), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("networks", JSONB, nullable=False),
        sa.Column("people", JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(80), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("collection_breakdowns")
