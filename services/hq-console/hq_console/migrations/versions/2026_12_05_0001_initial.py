"""initial: the console's fact tables (leads, refusals, tasks, sales, ledger entries, customers, tier changes,
dealers, network evaluations, plans, other events) and the kit's outbox, inbox and failure book
"""

from alembic import op

from hq_console.migrations.ddl import DIMENSIONS_2026_12_05
from leadnet_shared import ddl

revision, down_revision = "0001", None

# The DDL as written when the tables were made (not derived from models.py: a later model change is a new revision).
STATEMENTS = (
    """CREATE TABLE customers (
    customer_id VARCHAR(64) NOT NULL,
    region_code VARCHAR(12),
    tier VARCHAR(20),
    assigned_dealer VARCHAR(32),
    masked JSONB,
    first_seen_at TIMESTAMP WITH TIME ZONE,
    erased_at TIMESTAMP WITH TIME ZONE,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_customers PRIMARY KEY (customer_id)
)""",
    """CREATE INDEX ix_customers_first_seen ON customers (first_seen_at)""",
    """CREATE TABLE dealers (
    code VARCHAR(32) NOT NULL,
    name VARCHAR(200),
    territories JSONB,
    product_lines JSONB,
    sales_level VARCHAR(20),
    status VARCHAR(20),
    withdrawn_at TIMESTAMP WITH TIME ZONE,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_dealers PRIMARY KEY (code)
)""",
    f"""CREATE TABLE leads (
    lead_id VARCHAR(64) NOT NULL,
    customer_id VARCHAR(64),
    assigned_dealer VARCHAR(32),
    authorized_dealer VARCHAR(32),
    cross_region BOOLEAN,
    reward_eligible BOOLEAN,
    nature VARCHAR(20),
    horizon VARCHAR(40),
    customer_existed BOOLEAN,
    status VARCHAR(20),
    status_at TIMESTAMP WITH TIME ZONE,
    received_at TIMESTAMP WITH TIME ZONE,
    accepted_at TIMESTAMP WITH TIME ZONE,
    rejected_at TIMESTAMP WITH TIME ZONE,
    reject_reason VARCHAR(40),
    verified_at TIMESTAMP WITH TIME ZONE,
    verified_by VARCHAR(20),
    promoted_at TIMESTAMP WITH TIME ZONE,
    sold_at TIMESTAMP WITH TIME ZONE,
    returned_at TIMESTAMP WITH TIME ZONE,
    closed_at TIMESTAMP WITH TIME ZONE,
    close_reason VARCHAR(40),
    lead_version INTEGER NOT NULL,
    customer_masked JSONB,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    {DIMENSIONS_2026_12_05}
    CONSTRAINT pk_leads PRIMARY KEY (lead_id)
)""",
    """CREATE INDEX ix_leads_accepted ON leads (accepted_at) INCLUDE (region_code, entered_by, product_line, cross_region, verified_at) WHERE accepted_at IS NOT NULL""",
    """CREATE INDEX ix_leads_closed ON leads (closed_at) WHERE closed_at IS NOT NULL""",
    """CREATE INDEX ix_leads_customer ON leads (customer_id)""",
    """CREATE INDEX ix_leads_promoted ON leads (promoted_at) INCLUDE (region_code, assigned_dealer, product_line) WHERE promoted_at IS NOT NULL""",
    """CREATE INDEX ix_leads_received ON leads (received_at) INCLUDE (region_code, entered_by, product_line)""",
    """CREATE INDEX ix_leads_region ON leads (region_code)""",
    """CREATE INDEX ix_leads_rejected ON leads (rejected_at) INCLUDE (region_code, entered_by, product_line, reject_reason) WHERE rejected_at IS NOT NULL""",
    """CREATE INDEX ix_leads_verified ON leads (verified_at) INCLUDE (region_code, entered_by, product_line) WHERE verified_at IS NOT NULL""",
    f"""CREATE TABLE ledger_entries (
    entry_id VARCHAR(64) NOT NULL,
    kind VARCHAR(30),
    dealer VARCHAR(32),
    amount_fen BIGINT NOT NULL,
    lead_id VARCHAR(64),
    customer_id VARCHAR(64),
    sale_id VARCHAR(64),
    reverses VARCHAR(64),
    posted_at TIMESTAMP WITH TIME ZONE NOT NULL,
    {DIMENSIONS_2026_12_05}
    CONSTRAINT pk_ledger_entries PRIMARY KEY (entry_id)
)""",
    """CREATE INDEX ix_ledger_lead ON ledger_entries (lead_id)""",
    """CREATE INDEX ix_ledger_posted ON ledger_entries (posted_at) INCLUDE (region_code, dealer, product_line, amount_fen)""",
    """CREATE INDEX ix_ledger_sale ON ledger_entries (sale_id)""",
    """CREATE TABLE network_evaluations (
    owner VARCHAR(32) NOT NULL,
    quarter VARCHAR(8) NOT NULL,
    scope VARCHAR(20),
    evaluated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    networks INTEGER,
    networks_planned INTEGER,
    networks_developed INTEGER,
    development_completion FLOAT,
    development_rating VARCHAR(20),
    records INTEGER,
    verified INTEGER,
    authenticity_share FLOAT,
    authenticity_rating VARCHAR(20),
    class_counts JSONB,
    payload JSONB NOT NULL,
    CONSTRAINT pk_network_evaluations PRIMARY KEY (owner, quarter)
)""",
    """CREATE TABLE networks (
    code VARCHAR(64) NOT NULL,
    kind VARCHAR(20),
    scope VARCHAR(20),
    owner VARCHAR(32),
    graded_in VARCHAR(8),
    grade VARCHAR(4),
    authenticity_level INTEGER,
    network_class VARCHAR(8),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_networks PRIMARY KEY (code)
)""",
    """CREATE TABLE other_events (
    event_id VARCHAR(64) NOT NULL,
    type VARCHAR(120) NOT NULL,
    occurred_at TIMESTAMP WITH TIME ZONE NOT NULL,
    subject TEXT,
    data JSONB NOT NULL,
    CONSTRAINT pk_other_events PRIMARY KEY (event_id)
)""",
    """CREATE INDEX ix_other_events_type ON other_events (type, occurred_at)""",
    """CREATE TABLE plan_facts (
    dealer VARCHAR(32) NOT NULL,
    plan VARCHAR(20) NOT NULL,
    period VARCHAR(10) NOT NULL,
    status VARCHAR(20),
    quota INTEGER,
    lines INTEGER,
    late BOOLEAN,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_plan_facts PRIMARY KEY (dealer, plan, period)
)""",
    f"""CREATE TABLE refusals (
    event_id VARCHAR(64) NOT NULL,
    dealer VARCHAR(32),
    codes JSONB,
    refused_at TIMESTAMP WITH TIME ZONE NOT NULL,
    {DIMENSIONS_2026_12_05}
    CONSTRAINT pk_refusals PRIMARY KEY (event_id)
)""",
    """CREATE INDEX ix_refusals_refused ON refusals (refused_at)""",
    f"""CREATE TABLE sales (
    sale_id VARCHAR(64) NOT NULL,
    customer_id VARCHAR(64),
    lead_id VARCHAR(64),
    seller VARCHAR(32),
    supplied_by VARCHAR(32),
    credited_dealer VARCHAR(32),
    cross_region BOOLEAN,
    cross_region_exempt BOOLEAN,
    violation VARCHAR(40),
    vehicles INTEGER NOT NULL,
    sold_at TIMESTAMP WITH TIME ZONE,
    cancelled_at TIMESTAMP WITH TIME ZONE,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    {DIMENSIONS_2026_12_05}
    CONSTRAINT pk_sales PRIMARY KEY (sale_id)
)""",
    """CREATE INDEX ix_sales_customer ON sales (customer_id)""",
    """CREATE INDEX ix_sales_lead ON sales (lead_id)""",
    """CREATE INDEX ix_sales_sold ON sales (sold_at) INCLUDE (region_code, credited_dealer, product_line, cancelled_at, vehicles)""",
    f"""CREATE TABLE tasks (
    task_id VARCHAR(64) NOT NULL,
    kind VARCHAR(30),
    dealer VARCHAR(32),
    lead_id VARCHAR(64),
    customer_id VARCHAR(64),
    horizon VARCHAR(40),
    status VARCHAR(20),
    status_at TIMESTAMP WITH TIME ZONE,
    outcome VARCHAR(40),
    due_at TIMESTAMP WITH TIME ZONE,
    scheduled_at TIMESTAMP WITH TIME ZONE,
    completed_at TIMESTAMP WITH TIME ZONE,
    closed_at TIMESTAMP WITH TIME ZONE,
    close_reason VARCHAR(30),
    overdue_at TIMESTAMP WITH TIME ZONE,
    escalated_at TIMESTAMP WITH TIME ZONE,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    {DIMENSIONS_2026_12_05}
    CONSTRAINT pk_tasks PRIMARY KEY (task_id)
)""",
    """CREATE INDEX ix_tasks_closed ON tasks (closed_at, scheduled_at) INCLUDE (overdue_at, dealer, region_code, product_line) WHERE closed_at IS NOT NULL""",
    """CREATE INDEX ix_tasks_completed ON tasks (completed_at) WHERE completed_at IS NOT NULL""",
    """CREATE INDEX ix_tasks_customer ON tasks (customer_id)""",
    """CREATE INDEX ix_tasks_due ON tasks (due_at)""",
    """CREATE INDEX ix_tasks_escalated ON tasks (escalated_at) WHERE escalated_at IS NOT NULL""",
    """CREATE INDEX ix_tasks_lead ON tasks (lead_id)""",
    """CREATE INDEX ix_tasks_overdue ON tasks (overdue_at) WHERE overdue_at IS NOT NULL""",
    """CREATE INDEX ix_tasks_unclosed ON tasks (scheduled_at) INCLUDE (overdue_at, dealer, region_code, product_line) WHERE closed_at IS NULL""",
    f"""CREATE TABLE tier_changes (
    event_id VARCHAR(64) NOT NULL,
    customer_id VARCHAR(64) NOT NULL,
    old_tier VARCHAR(20),
    new_tier VARCHAR(20),
    upgraded BOOLEAN NOT NULL,
    reason VARCHAR(30),
    lead_id VARCHAR(64),
    changed_by VARCHAR(64),
    changed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    {DIMENSIONS_2026_12_05}
    CONSTRAINT pk_tier_changes PRIMARY KEY (event_id)
)""",
    """CREATE INDEX ix_tier_changes_changed ON tier_changes (changed_at)""",
    """CREATE INDEX ix_tier_changes_customer ON tier_changes (customer_id)""",
    """CREATE INDEX ix_tier_changes_lead ON tier_changes (lead_id)""",
)
TABLES = ('tier_changes', 'tasks', 'sales', 'refusals', 'plan_facts', 'other_events', 'networks', 'network_evaluations', 'ledger_entries', 'leads', 'dealers', 'customers')


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    ddl.kit_tables_2026_11_22(op)
    ddl.kit_reliability_2026_12_05(op)
    ddl.execute_all(op, STATEMENTS)


def downgrade() -> None:
    ddl.drop_tables(op, *TABLES, "consumer_failures")
    ddl.drop_kit_tables_2026_11_22(op)
