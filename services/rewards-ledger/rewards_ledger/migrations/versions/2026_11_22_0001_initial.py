"""initial: append-only postings and lines, outbox, inbox"""

import sqlalchemy as sa
from alembic import op

from leadnet_shared import ddl
from rewards_ledger.migrations import ddl as ledger

revision, down_revision = "0001", None
branch_labels, depends_on = None, None


def upgrade() -> None:
    ddl.kit_tables_2026_11_22(op)
    op.create_table(
        "postings",
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False, unique=True),
        sa.Column("entry_id", sa.String(36), primary_key=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("dealer", sa.String(32), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("lead_id", sa.String(36)),
        sa.Column("customer_id", sa.String(36)),
        sa.Column("sale_id", sa.String(36)),
        sa.Column("vin", sa.String(17)),
        sa.Column("reverses", sa.String(36), sa.ForeignKey("postings.entry_id")),
        sa.Column("rule", sa.String(80), nullable=False),
        sa.Column("policy_version", sa.String(40), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_postings_dealer_seq", "postings", ["dealer", "seq"])
    op.create_index("ix_postings_sale", "postings", ["sale_id"])
    # A posting can be reversed once: a second reversal of the same entry is refused by the database.
    op.create_index("uq_postings_reverses", "postings", ["reverses"], unique=True,
                    postgresql_where=sa.text("reverses IS NOT NULL"))
    op.create_table(
        "lines",
        sa.Column("line_id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("entry_id", sa.String(36), sa.ForeignKey("postings.entry_id"), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_lines_account", "lines", ["account"])
    op.create_index("ix_lines_entry", "lines", ["entry_id"])
    # Money is append-only: the database itself refuses to change or remove what was posted, whoever asks.
    op.execute("""
        CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'ledger % are append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$;
    """)
    ledger.append_only_2026_11_22(op, "postings", "lines")
    # The application role (created by operators; see docs/operations.md) may only read and append.
    op.execute("""
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'leadnet_ledger_app') THEN
                GRANT SELECT, INSERT ON postings, lines TO leadnet_ledger_app;
                REVOKE UPDATE, DELETE, TRUNCATE ON postings, lines FROM leadnet_ledger_app;
            END IF;
        END $$;
    """)


def downgrade() -> None:
    ddl.drop_tables(op, "lines", "postings")
    op.execute("DROP FUNCTION ledger_refuse_change()")
    ddl.drop_kit_tables_2026_11_22(op)
