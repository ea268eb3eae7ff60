"""kit tables: outbox rows parked after repeated publish failures; the consumers' failure book (attempts counted
outside the rolled-back transaction, events held behind a parked key)
"""

from alembic import op

from leadnet_shared.migrate import kit_reliability_downgrade, kit_reliability_migration

revision, down_revision = "20261205_kit_reliability", "0002"
branch_labels, depends_on = None, None

APPEND_ONLY = ("postings", "lines", "guarantee_settings", "payouts")
INSERT_ONLY = ("sales", "sale_vehicles", "sale_cancellations")


def _grant_function(working: tuple[str, ...]) -> str:
    """The application role's grants (as revision 0002 defines them), over these working tables."""
    return f"""
        CREATE OR REPLACE FUNCTION ledger_grant_app_role(role_name text) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', role_name);
            EXECUTE format('GRANT SELECT, INSERT ON {", ".join(APPEND_ONLY + INSERT_ONLY)} TO %I', role_name);
            EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON {", ".join(APPEND_ONLY + INSERT_ONLY)} FROM %I',
                           role_name);
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON {", ".join(working)} TO %I', role_name);
            EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', role_name);
        END $$;
    """


def upgrade() -> None:
    kit_reliability_migration(op)
    # The application role works the failure book as it works the outbox and the inbox.
    op.execute(_grant_function(("outbox", "inbox", "kit_state", "leads", "consumer_failures")))
    op.execute("""
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'leadnet_ledger_app') THEN
                PERFORM ledger_grant_app_role('leadnet_ledger_app');
            END IF;
        END $$;
    """)


def downgrade() -> None:
    op.execute(_grant_function(("outbox", "inbox", "kit_state", "leads")))
    kit_reliability_downgrade(op)
