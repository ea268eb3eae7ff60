"""pending_sales: reported sales waiting for a confirmation and how they were settled, so the console counts sales
pending and rejected (stored until now only in other_events, where no figure could filter or list them)
"""

from alembic import op

from hq_console.migrations.ddl import DIMENSIONS_2026_12_05
from leadnet_shared import ddl

revision, down_revision = "0002", "0001"

STATEMENTS = (
    ddl.create_table_sql(
        "pending_sales",
        "sale_id VARCHAR(64) NOT NULL",
        "customer_id VARCHAR(64)",
        "lead_id VARCHAR(64)",
        "seller VARCHAR(32)",
        "supplied_by VARCHAR(32)",
        "confirmer VARCHAR(32)",
        "vehicles INTEGER NOT NULL",
        "sold_at TIMESTAMP WITH TIME ZONE",
        "reported_at TIMESTAMP WITH TIME ZONE",
        "settled_at TIMESTAMP WITH TIME ZONE",
        "outcome VARCHAR(20)",
        "rejected_at TIMESTAMP WITH TIME ZONE",
        "rejected_by VARCHAR(32)",
        "updated_at TIMESTAMP WITH TIME ZONE NOT NULL",
        *DIMENSIONS_2026_12_05,
        "CONSTRAINT pk_pending_sales PRIMARY KEY (sale_id)",
    ),
    """CREATE INDEX ix_pending_sales_reported ON pending_sales (reported_at)""",
    """CREATE INDEX ix_pending_sales_rejected ON pending_sales (rejected_at) WHERE rejected_at IS NOT NULL""",
    # Events already kept as unknown types: the pending and rejected sales received before this revision.
    """INSERT INTO pending_sales (sale_id, customer_id, lead_id, seller, supplied_by, confirmer, vehicles, sold_at,
    reported_at, updated_at, region_code, product_line)
    SELECT DISTINCT ON (data->>'sale_id') data->>'sale_id', data->>'customer_id', data->>'attributed_lead_id',
        data->>'seller', data->>'supplied_by', data->>'confirmer', COALESCE((data->>'vehicle_count')::int, 0),
        (data->>'sold_at')::timestamptz, COALESCE((data->>'reported_at')::timestamptz, occurred_at), occurred_at,
        data->>'region_code', data->>'product_line'
    FROM other_events WHERE type = 'leadnet.sale.pending_confirmation' AND data ? 'sale_id'
    ORDER BY data->>'sale_id', occurred_at""",
    """INSERT INTO pending_sales AS t (sale_id, customer_id, seller, supplied_by, vehicles, rejected_at, rejected_by,
    settled_at, outcome, updated_at, region_code)
    SELECT DISTINCT ON (data->>'sale_id') data->>'sale_id', data->>'customer_id', data->>'seller',
        data->>'supplied_by', COALESCE((data->>'vehicle_count')::int, 0),
        COALESCE((data->>'rejected_at')::timestamptz, occurred_at), data->>'rejected_by',
        COALESCE((data->>'rejected_at')::timestamptz, occurred_at), 'rejected', occurred_at, data->>'region_code'
    FROM other_events WHERE type = 'leadnet.sale.rejected' AND data ? 'sale_id'
    ORDER BY data->>'sale_id', occurred_at
    ON CONFLICT (sale_id) DO UPDATE SET rejected_at = EXCLUDED.rejected_at, rejected_by = EXCLUDED.rejected_by,
        settled_at = LEAST(t.settled_at, EXCLUDED.settled_at), outcome = COALESCE(t.outcome, 'rejected')""",
)


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    ddl.execute_all(op, STATEMENTS)


def downgrade() -> None:
    op.drop_table("pending_sales")
