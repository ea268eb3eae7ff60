"""a sale's reward claims as the router decided them; payouts released by a second hq_admin"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from leadnet_shared import ddl
from rewards_ledger.migrations import ddl as ledger

revision, down_revision = "0003", "20261205_kit_reliability"

APPEND_ONLY = (*ledger.APPEND_ONLY_2026_11_22, "payout_approvals")


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("sales", sa.Column("claims", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")))
    # Sales stored before: their claims are what the ledger's own rule made of them until now (a purchase reward
    # when someone else than the entrant sold; a guarantee per vehicle when the entrant sold with the authorized
    # dealer's supply), so settling them again after this migration changes no posting.
    op.execute("""
        UPDATE sales s SET claims = CASE
            WHEN s.lead_entered_by IS NULL THEN '[]'::jsonb
            WHEN s.seller <> s.lead_entered_by THEN
                jsonb_build_array(jsonb_build_object('kind', 'purchase_reward', 'dealer', s.lead_entered_by))
            WHEN s.supplied_by IS NOT NULL AND s.supplied_by <> s.seller AND coalesce(
                    (SELECT l.authorized_dealer FROM leads l WHERE l.lead_id = s.lead_id), s.supplied_by)
                    = s.supplied_by THEN
                coalesce((SELECT jsonb_agg(jsonb_build_object('kind', 'profit_guarantee', 'dealer', s.lead_entered_by,
                                                              'vin', v.vin, 'product_line', v.product_line)
                                           ORDER BY v.vin)
                          FROM sale_vehicles v WHERE v.sale_id = s.sale_id), '[]'::jsonb)
            ELSE '[]'::jsonb END
    """)
    ddl.create_table(
        "payout_approvals",
        "month varchar(7) CONSTRAINT pk_payout_approvals PRIMARY KEY",
        "approved_at timestamptz NOT NULL",
        "approved_by varchar(100) NOT NULL",
    )
    ledger.append_only_2026_11_22(op, "payout_approvals")
    # Revision 0002's working tables: `consumer_failures` (20261205_kit_reliability, just before) is missing, so the
    # application role of a fresh database is not granted it. Kept as it ran; a later revision must add it.
    ledger.grant_function_2026_11_22(op, APPEND_ONLY, ledger.WORKING_2026_11_22)
    ledger.grant_if_role_exists_2026_11_22(op)


def downgrade() -> None:
    ledger.grant_function_2026_11_22(op, ledger.APPEND_ONLY_2026_11_22, ledger.WORKING_2026_11_22)
    op.drop_table("payout_approvals")
    op.drop_column("sales", "claims")
