"""vehicle registry; sales wait for the supplier's (or HQ's) confirmation; a record's intended quantity"""

import sqlalchemy as sa
from alembic import op

from leadnet_shared import ddl

revision, down_revision = "0004", "20261205_kit_reliability"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    ddl.create_table(
        "vehicles",
        "vin varchar(17) CONSTRAINT pk_vehicles PRIMARY KEY",
        "model varchar(100) NOT NULL",
        "product_line varchar(32) NOT NULL",
        "delivered_to varchar(32) NOT NULL",
        "delivered_at timestamptz NOT NULL",
        "updated_at timestamptz NOT NULL",
    )
    op.create_index("ix_vehicles_delivered_to", "vehicles", ["delivered_to", "vin"])
    op.add_column("leads", sa.Column("intent_quantity", sa.Integer))
    op.add_column("sales", sa.Column("confirmer", sa.String(32)))
    op.add_column("sales", sa.Column("decided_by", sa.String(200)))
    op.add_column("sales", sa.Column("decided_at", sa.DateTime(timezone=True)))
    # Sales already stored were paid on the seller's word; they stay as they are (status attributed): this
    # migration cannot confirm them after the fact, HQ reviews them with GET /v1/sales and cancels what is false.
    op.create_index("ix_sales_pending_confirmer", "sales", ["confirmer", "created_at", "sale_id"],
                    postgresql_where=sa.text("status = 'pending_confirmation'"))


def downgrade() -> None:
    op.drop_index("ix_sales_pending_confirmer", table_name="sales")
    op.drop_column("sales", "decided_at")
    op.drop_column("sales", "decided_by")
    op.drop_column("sales", "confirmer")
    op.drop_column("leads", "intent_quantity")
    op.drop_index("ix_vehicles_delivered_to", table_name="vehicles")
    op.drop_table("vehicles")
