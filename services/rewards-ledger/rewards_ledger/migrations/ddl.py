"""The ledger's DDL that several of its revisions share, frozen as it ran (the rule of `leadnet_shared.ddl`: never
edited once a revision calls it; a change is a new function called by a new revision)."""

from __future__ import annotations

from typing import Any

# Tables whose rows the application role may read and add but never change (revision 0002's lists).
APPEND_ONLY_2026_11_22 = ("postings", "lines", "guarantee_settings", "payouts")
INSERT_ONLY_2026_11_22 = ("sales", "sale_vehicles", "sale_cancellations")
WORKING_2026_11_22 = ("outbox", "inbox", "kit_state", "leads")


def append_only_2026_11_22(op: Any, *tables: str) -> None:
    """Money is append-only: the database itself refuses to change or remove what was written, whoever asks."""
    for table in tables:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()"
        )
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM PUBLIC")


def grant_function_2026_11_22(
    op: Any, append_only: tuple[str, ...], working: tuple[str, ...], *, replace: bool = True
) -> None:
    """The application role's grants, in one function so operators (and the tests) grant exactly this; each
    revision that adds a table replaces it with its own lists. The body's text is stored as written: keep it."""
    create = "CREATE OR REPLACE" if replace else "CREATE"
    tables = ", ".join(append_only + INSERT_ONLY_2026_11_22)
    op.execute(f"""
        {create} FUNCTION ledger_grant_app_role(role_name text) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', role_name);
            EXECUTE format('GRANT SELECT, INSERT ON {tables} TO %I', role_name);
            EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON {tables} FROM %I',
                           role_name);
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON {", ".join(working)} TO %I', role_name);
            EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', role_name);
        END $$;
    """)


def grant_if_role_exists_2026_11_22(op: Any) -> None:
    """Grant the application role, where operators created it already (revision 0004 creates it otherwise)."""
    op.execute("""
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'leadnet_ledger_app') THEN
                PERFORM ledger_grant_app_role('leadnet_ledger_app');
            END IF;
        END $$;
    """)
