"""the reward rules' inputs, balanced postings enforced at commit, the app role's grants"""

import sqlalchemy as sa
from alembic import op

from leadnet_shared import ddl
from rewards_ledger.migrations import ddl as ledger

revision, down_revision = "0002", "0001"
branch_labels, depends_on = None, None


def upgrade() -> None:
    op.add_column("postings", sa.Column("fact_key", sa.String(200)))
    op.create_index("ix_postings_lead", "postings", ["lead_id"])
    op.create_index("ix_postings_dealer_posted", "postings", ["dealer", "posted_at"])
    # A reversal, and only a reversal, points at what it reverses.
    op.create_check_constraint("reversal_points_back", "postings",
                               "(kind = 'reversal') = (reverses IS NOT NULL)")

    op.create_table(
        "leads",
        sa.Column("lead_id", sa.String(36), primary_key=True),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("entered_by", sa.String(32)),
        sa.Column("authorized_dealer", sa.String(32)),
        sa.Column("reward_eligible", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("cross_region", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("tier", sa.String(24), nullable=False),
        sa.Column("product_line", sa.String(24)),
        sa.Column("customer_existed", sa.Boolean),
        sa.Column("customer_name", sa.String(64)),
        sa.Column("customer_phone", sa.String(32)),
        sa.Column("verified_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "sales",
        sa.Column("sale_id", sa.String(36), primary_key=True),
        sa.Column("lead_id", sa.String(36)),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("seller", sa.String(32), nullable=False),
        sa.Column("supplied_by", sa.String(32)),
        sa.Column("lead_entered_by", sa.String(32)),
        sa.Column("violation", sa.String(40)),
        sa.Column("sold_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sales_lead_id", "sales", ["lead_id"])
    op.create_table(
        "sale_vehicles",
        sa.Column("sale_id", sa.String(36), primary_key=True),
        sa.Column("vin", sa.String(17), primary_key=True),
        sa.Column("product_line", sa.String(24)),
    )
    op.create_table(
        "sale_cancellations",
        sa.Column("sale_id", sa.String(36), primary_key=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "guarantee_settings",
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("sale_id", sa.String(36), nullable=False),
        sa.Column("vin", sa.String(17), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("set_by", sa.String(100), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_guarantee_settings_sale_vin", "guarantee_settings", ["sale_id", "vin", "seq"])
    op.create_table(
        "payouts",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(100), nullable=False),
        sa.Column("total_fen", sa.BigInteger, nullable=False),
    )
    ledger.append_only_2026_11_22(op, "guarantee_settings", "payouts")

    # Every posting is balanced, checked by the database when the transaction commits (deferred, so the posting
    # and its lines can be written in any order): at least two lines, summing to zero, the dealer's line equal to
    # the posting's amount, and a reversal exactly undoing the posting it points at, for the same dealer.
    op.execute("""
        CREATE FUNCTION ledger_check_posting() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            n integer; total bigint; dealer_total bigint; reversed record;
        BEGIN
            SELECT count(*), coalesce(sum(amount_fen), 0),
                   coalesce(sum(amount_fen) FILTER (WHERE account = 'dealer:' || NEW.dealer || '\\:payable'), 0)
              INTO n, total, dealer_total FROM lines WHERE entry_id = NEW.entry_id;
            IF n < 2 OR total <> 0 OR dealer_total <> -NEW.amount_fen THEN
                RAISE EXCEPTION 'posting % is not balanced (% lines, sum %, dealer line % for amount %)',
                    NEW.entry_id, n, total, dealer_total, NEW.amount_fen USING ERRCODE = 'check_violation';
            END IF;
            IF NEW.reverses IS NOT NULL THEN
                SELECT dealer, amount_fen, kind INTO reversed FROM postings WHERE entry_id = NEW.reverses;
                IF reversed.kind = 'reversal' OR reversed.dealer <> NEW.dealer
                   OR reversed.amount_fen <> -NEW.amount_fen THEN
                    RAISE EXCEPTION 'reversal % does not undo %', NEW.entry_id, NEW.reverses
                        USING ERRCODE = 'check_violation';
                END IF;
            END IF;
            RETURN NULL;
        END $$;
    """)
    op.execute("""
        CREATE FUNCTION ledger_check_entry_lines() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF (SELECT sum(amount_fen) FROM lines WHERE entry_id = NEW.entry_id) <> 0 THEN
                RAISE EXCEPTION 'lines of posting % do not sum to zero', NEW.entry_id
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NULL;
        END $$;
    """)
    op.execute("CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON postings "
               "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_posting()")
    # A line added later to an old posting must not unbalance it either.
    op.execute("CREATE CONSTRAINT TRIGGER lines_balanced AFTER INSERT ON lines "
               "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_lines()")

    ledger.grant_function_2026_11_22(op, ledger.APPEND_ONLY_2026_11_22, ledger.WORKING_2026_11_22, replace=False)
    ledger.grant_if_role_exists_2026_11_22(op)


def downgrade() -> None:
    op.execute("DROP FUNCTION ledger_grant_app_role(text)")
    op.execute("DROP TRIGGER lines_balanced ON lines")
    op.execute("DROP TRIGGER postings_balanced ON postings")
    op.execute("DROP FUNCTION ledger_check_entry_lines()")
    op.execute("DROP FUNCTION ledger_check_posting()")
    ddl.drop_tables(op, "payouts", "guarantee_settings", "sale_cancellations", "sale_vehicles", "sales", "leads")
    op.drop_constraint("ck_postings_reversal_points_back", "postings")
    op.drop_index("ix_postings_dealer_posted", "postings")
    op.drop_index("ix_postings_lead", "postings")
    op.drop_column("postings", "fact_key")
