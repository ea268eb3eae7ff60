"""initial: append-only postings and lines, outbox, inbox"""

import sqlalchemy as sa
from alembic import op

from leadnet_shared import ddl
from rewards_ledger.migrations import ddl as ledger

revision, down_revision = "0001", None


def upgrade() -> None:
    ddl.kit_tables_2026_11_22(op)
    ddl.create_table(
        "postings",
        "seq bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT uq_postings_seq UNIQUE",
        "entry_id varchar(36) CONSTRAINT pk_postings PRIMARY KEY",
        "idempotency_key varchar(200) NOT NULL CONSTRAINT uq_postings_idempotency_key UNIQUE",
        "kind varchar(24) NOT NULL",
        "dealer varchar(32) NOT NULL",
        "amount_fen bigint NOT NULL",
        "lead_id varchar(36)",
        "customer_id varchar(36)",
        "sale_id varchar(36)",
        "vin varchar(17)",
        "reverses varchar(36) CONSTRAINT fk_postings_reverses_postings REFERENCES postings (entry_id)",
        "rule varchar(80) NOT NULL",
        "policy_version varchar(40) NOT NULL",
        "posted_at timestamptz NOT NULL",
    )
    op.create_index("ix_postings_dealer_seq", "postings", ["dealer", "seq"])
    op.create_index("ix_postings_sale", "postings", ["sale_id"])
    # A posting can be reversed once: a second reversal of the same entry is refused by the database.
    op.create_index("uq_postings_reverses", "postings", ["reverses"], unique=True,
                    postgresql_where=sa.text("reverses IS NOT NULL"))
    ddl.create_table(
        "lines",
        "line_id bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT pk_lines PRIMARY KEY",
        "entry_id varchar(36) NOT NULL CONSTRAINT fk_lines_entry_id_postings REFERENCES postings (entry_id)",
        "account varchar(64) NOT NULL",
        "amount_fen bigint NOT NULL",
        "created_at timestamptz DEFAULT now() NOT NULL",
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
