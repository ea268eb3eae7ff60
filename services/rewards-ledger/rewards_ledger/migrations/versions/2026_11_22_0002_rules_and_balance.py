"""the reward rules' inputs, balanced postings enforced at commit, the app role's grants"""

import sqlalchemy as sa
from alembic import op

from leadnet_shared import ddl
from rewards_ledger.migrations import ddl as ledger

revision, down_revision = "0002", "0001"


def upgrade() -> None:
    op.add_column("postings", sa.Column("fact_key", sa.String(200)))
    op.create_index("ix_postings_lead", "postings", ["lead_id"])
    op.create_index("ix_postings_dealer_posted", "postings", ["dealer", "posted_at"])
    # A reversal, and only a reversal, points at what it reverses.
    op.create_check_constraint("reversal_points_back", "postings",
                               "(kind = 'reversal') = (reverses IS NOT NULL)")

    ddl.create_table(
        "leads",
        "lead_id varchar(36) CONSTRAINT pk_leads PRIMARY KEY",
        "customer_id varchar(36) NOT NULL",
        "entered_by varchar(32)",
        "authorized_dealer varchar(32)",
        "reward_eligible boolean DEFAULT false NOT NULL",
        "cross_region boolean DEFAULT false NOT NULL",
        "tier varchar(24) NOT NULL",
        "product_line varchar(24)",
        "customer_existed boolean",
        "customer_name varchar(64)",
        "customer_phone varchar(32)",
        "verified_at timestamptz",
        "updated_at timestamptz NOT NULL",
    )
    ddl.create_table(
        "sales",
        "sale_id varchar(36) CONSTRAINT pk_sales PRIMARY KEY",
        "lead_id varchar(36)",
        "customer_id varchar(36) NOT NULL",
        "seller varchar(32) NOT NULL",
        "supplied_by varchar(32)",
        "lead_entered_by varchar(32)",
        "violation varchar(40)",
        "sold_at timestamptz NOT NULL",
        "received_at timestamptz NOT NULL",
    )
    op.create_index("ix_sales_lead_id", "sales", ["lead_id"])
    ddl.create_table(
        "sale_vehicles",
        "sale_id varchar(36) NOT NULL",
        "vin varchar(17) NOT NULL",
        "product_line varchar(24)",
        "CONSTRAINT pk_sale_vehicles PRIMARY KEY (sale_id, vin)",
    )
    ddl.create_table(
        "sale_cancellations",
        "sale_id varchar(36) CONSTRAINT pk_sale_cancellations PRIMARY KEY",
        "cancelled_at timestamptz NOT NULL",
    )
    ddl.create_table(
        "guarantee_settings",
        "seq bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT pk_guarantee_settings PRIMARY KEY",
        "sale_id varchar(36) NOT NULL",
        "vin varchar(17) NOT NULL",
        "amount_fen bigint NOT NULL",
        "set_by varchar(100) NOT NULL",
        "set_at timestamptz NOT NULL",
    )
    op.create_index("ix_guarantee_settings_sale_vin", "guarantee_settings", ["sale_id", "vin", "seq"])
    ddl.create_table(
        "payouts",
        "month varchar(7) CONSTRAINT pk_payouts PRIMARY KEY",
        "closed_at timestamptz NOT NULL",
        "closed_by varchar(100) NOT NULL",
        "total_fen bigint NOT NULL",
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
