"""customer_erasures: which customers HQ erased (PIPL), when and by whom, once their registry row is gone

An erasure deletes the customer's row (name, phone, address, dedup keys); this table keeps the fact without personal
data, so a repeated request is answered the same and an auditor can see what was erased.
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0006", "20261205_customer_file"
branch_labels, depends_on = None, None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_table(
        "customer_erasures",
        sa.Column("customer_id", sa.String(36), primary_key=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_by", sa.String(200), nullable=False),
        sa.Column("leads", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("customer_erasures")
