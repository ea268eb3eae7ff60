"""money guarded by the database itself: CHECKs on kinds, signs and the guarantee range; product lines of any
valid length; the application role required, not skipped
"""

from alembic import op

revision, down_revision = "0004", "0003"

APP_ROLE = "leadnet_ledger_app"
CHECKS = (
    ("postings", "kind_known", "kind IN ('info_fee', 'purchase_reward', 'profit_guarantee', 'reversal')"),
    # A reward is owed to the dealer (> 0); only a reversal takes money back (< 0). Nothing posts zero.
    ("postings", "amount_sign_by_kind", "(kind = 'reversal' AND amount_fen < 0) OR (kind <> 'reversal' AND "
                                        "amount_fen > 0)"),
    ("lines", "amount_not_zero", "amount_fen <> 0"),
    # domain.md §3: a profit guarantee is 1000-3000 CNY per vehicle, whatever a policy override says.
    ("guarantee_settings", "amount_in_range", "amount_fen BETWEEN 100000 AND 300000"),
    ("payouts", "total_not_negative", "total_fen >= 0"),
)


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    for table, name, condition in CHECKS:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT ck_{table}_{name} CHECK ({condition})")
    # The router stores product lines in 32 characters; 25-32 overflowed here and dead-lettered the sale.
    for table in ("leads", "sale_vehicles"):
        op.execute(f"ALTER TABLE {table} ALTER COLUMN product_line TYPE varchar(32)")
    # The role the service connects as: created here if the migrating role may, else a loud failure instead of the
    # silent skip that left append-only resting on the operator's memory.
    op.execute(f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                BEGIN
                    CREATE ROLE {APP_ROLE} NOLOGIN;
                EXCEPTION WHEN insufficient_privilege THEN
                    RAISE EXCEPTION 'role {APP_ROLE} does not exist and this role may not create it: create it '
                        'first (docs/operations.md, "Database roles"), then migrate again';
                END;
            END IF;
            PERFORM ledger_grant_app_role('{APP_ROLE}');
        END $$;
    """)


def downgrade() -> None:
    for table in ("leads", "sale_vehicles"):
        op.execute(f"ALTER TABLE {table} ALTER COLUMN product_line TYPE varchar(24)")
    for table, name, _ in reversed(CHECKS):
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT ck_{table}_{name}")
