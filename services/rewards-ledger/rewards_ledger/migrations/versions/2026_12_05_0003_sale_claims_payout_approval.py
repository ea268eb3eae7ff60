"""a sale's reward claims as the router decided them; payouts released by a second hq_admin"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision, down_revision = "0003", "20261205_kit_reliability"
branch_labels, depends_on = None, None

APPEND_ONLY = ("postings", "lines", "guarantee_settings", "payouts", "payout_approvals")
INSERT_ONLY = ("sales", "sale_vehicles", "sale_cancellations")
WORKING = ("outbox", "inbox", "kit_state", "leads")


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
    op.create_table(
        "payout_approvals",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(100), nullable=False),
    )
    op.execute("CREATE TRIGGER payout_approvals_append_only BEFORE UPDATE OR DELETE ON payout_approvals "
               "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()")
    op.execute("CREATE TRIGGER payout_approvals_no_truncate BEFORE TRUNCATE ON payout_approvals "
               "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()")
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON payout_approvals FROM PUBLIC")
    _grant_function(APPEND_ONLY)
    op.execute("""
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'leadnet_ledger_app') THEN
                PERFORM ledger_grant_app_role('leadnet_ledger_app');
            END IF;
        END $$;
    """)


def _grant_function(append_only: tuple[str, ...]) -> None:
    """The application role's grants (as in 0002), with the tables of this revision."""
    op.execute(f"""
        CREATE OR REPLACE FUNCTION ledger_grant_app_role(role_name text) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', role_name);
            EXECUTE format('GRANT SELECT, INSERT ON {", ".join(append_only + INSERT_ONLY)} TO %I', role_name);
            EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON {", ".join(append_only + INSERT_ONLY)} FROM %I',
                           role_name);
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON {", ".join(WORKING)} TO %I', role_name);
            EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', role_name);
        END $$;
    """)


def downgrade() -> None:
    _grant_function(APPEND_ONLY[:-1])
    op.drop_table("payout_approvals")
    op.drop_column("sales", "claims")
