"""Every statement of the ingest (see the package docstring for the style): the fact tables' upserts, each a fixed
text over positional parameters so one `executemany` writes a batch's rows of it, and the fills that mend the
dimensions and the closings of facts that arrived before their lead or sale. These run on the raw asyncpg lane
(`leadnet_shared.db.driver_connection`), the ingest's hot path; `hq_console.facts` turns events into their rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.db import driver_connection

Row = tuple[Any, ...]

# ---- leads ---------------------------------------------------------------------------------------------------

# The dimensions every fact carries for the filters, in the order each fact table lists them.
DIMS = ("region_code", "product_line", "tier", "source", "network_code", "entered_by")
# The lead's descriptive facts (the newer lead_version's word wins), its milestones (the first instant wins) and what
# the latest event that says it says.
_DESCRIPTIVE = (
    *("customer_id", "entered_by", "assigned_dealer", "authorized_dealer", "cross_region", "reward_eligible"),
    *("tier", "nature", "region_code", "product_line", "horizon", "source", "network_code", "customer_existed"),
    "customer_masked",
)
_FIRST_WINS = ("received_at", "accepted_at", "rejected_at", "verified_at", "promoted_at", "sold_at", "closed_at")
_LATEST_SAID = ("reject_reason", "verified_by", "close_reason", "returned_at")
LEAD_COLUMNS = [
    "lead_id",
    *_DESCRIPTIVE,
    "status",
    "status_at",
    *_FIRST_WINS,
    *_LATEST_SAID,
    "lead_version",
    "updated_at",
]


def _first_wins(column: str) -> str:
    return f"{column} = LEAST(t.{column}, EXCLUDED.{column})"


def _newer_says(column: str, newer: str) -> str:
    """What the newer fact says (`newer`: the incoming row is the newer one); a fact that does not say keeps what is
    known."""
    return (
        f"{column} = CASE WHEN {newer} THEN COALESCE(EXCLUDED.{column}, t.{column}) "
        f"ELSE COALESCE(t.{column}, EXCLUDED.{column}) END"
    )


def _lead_set(column: str) -> str:
    if column in _FIRST_WINS:
        return _first_wins(column)
    if column in _DESCRIPTIVE:
        # The newer version of the lead's facts wins (a reassignment after the acceptance), whatever the order of
        # arrival.
        return _newer_says(column, "EXCLUDED.lead_version >= t.lead_version")
    if column in ("status", "status_at"):
        # A closed lead stays closed (final); otherwise the latest fact's status.
        return (
            f"{column} = CASE WHEN t.status = 'closed' OR EXCLUDED.status IS NULL THEN t.{column} "
            f"WHEN EXCLUDED.status = 'closed' OR t.status_at IS NULL OR EXCLUDED.status_at >= t.status_at "
            f"THEN EXCLUDED.{column} ELSE t.{column} END"
        )
    if column == "lead_version":
        return "lead_version = GREATEST(t.lead_version, EXCLUDED.lead_version)"
    if column in _LATEST_SAID:
        return f"{column} = COALESCE(EXCLUDED.{column}, t.{column})"
    return f"{column} = GREATEST(t.{column}, EXCLUDED.{column})"  # updated_at


_JSONB = {"customer_masked", "masked", "territories", "product_lines", "codes", "class_counts", "payload", "data"}


def _upsert(table: str, columns: list[str], key: list[str], sets: Iterable[str]) -> str:
    values = ", ".join(f"${i}::jsonb" if c in _JSONB else f"${i}" for i, c in enumerate(columns, 1))
    set_sql = ", ".join(sets)
    action = f"DO UPDATE SET {set_sql}" if set_sql else "DO NOTHING"
    return f"INSERT INTO {table} AS t ({', '.join(columns)}) VALUES ({values}) ON CONFLICT ({', '.join(key)}) {action}"


LEAD_UPSERT = _upsert("leads", LEAD_COLUMNS, ["lead_id"], (_lead_set(c) for c in LEAD_COLUMNS if c != "lead_id"))


# What a task or a sale tells of its lead (promoted, sold): one instant, the first wins. A narrow statement of its
# own (the lead's other columns untouched); it inserts a stub when the lead's own facts have not arrived yet.
def _lead_instant(column: str) -> str:
    return (
        f"INSERT INTO leads AS t (lead_id, {column}, updated_at, lead_version) VALUES ($1, $2, $2, 0) "
        f"ON CONFLICT (lead_id) DO UPDATE SET {column} = LEAST(t.{column}, EXCLUDED.{column}), "
        "updated_at = GREATEST(t.updated_at, EXCLUDED.updated_at)"
    )


LEAD_PROMOTED, LEAD_SOLD = _lead_instant("promoted_at"), _lead_instant("sold_at")


# ---- tasks ---------------------------------------------------------------------------------------------------

_TASK_INSTANTS = ("scheduled_at", "completed_at", "closed_at", "overdue_at", "escalated_at")
_TASK_LATEST = ("status", "due_at", "outcome", "status_at", "escalate_at")
TASK_COLUMNS = [
    *("task_id", "kind", "dealer", "lead_id", "customer_id", *DIMS, "horizon", "status", "status_at", "outcome"),
    *("due_at", "scheduled_at", "completed_at", "closed_at", "close_reason", "overdue_at", "escalated_at"),
    *("escalate_at", "updated_at"),
]


def _task_set(column: str) -> str:
    if column in _TASK_INSTANTS:
        return _first_wins(column)
    if column in _TASK_LATEST:
        # What the latest event of the task says (a due date moved, an outcome reported).
        return _newer_says(column, "t.status_at IS NULL OR EXCLUDED.status_at >= t.status_at")
    if column == "close_reason":
        return (
            "close_reason = CASE WHEN t.closed_at IS NULL OR EXCLUDED.closed_at < t.closed_at "
            "THEN COALESCE(EXCLUDED.close_reason, t.close_reason) ELSE t.close_reason END"
        )
    if column == "updated_at":
        return "updated_at = GREATEST(t.updated_at, EXCLUDED.updated_at)"
    return f"{column} = COALESCE(EXCLUDED.{column}, t.{column})"


TASK_UPSERT = _upsert("tasks", TASK_COLUMNS, ["task_id"], (_task_set(c) for c in TASK_COLUMNS if c != "task_id"))


# A closed lead's open tasks are cancelled, and a sale cancels the customer's open callbacks and promotions
# (contract.md "Lead life cycle"): the scheduler publishes no event for either, so the console applies the same
# rule to what it counts as open.
CLOSE_TASKS_OF_LEAD = (
    "UPDATE tasks SET closed_at = $2, close_reason = 'lead_closed' "
    "WHERE lead_id = $1 AND closed_at IS NULL AND (scheduled_at IS NULL OR scheduled_at <= $2)"
)
CLOSE_TASKS_OF_SALE = (
    "UPDATE tasks SET closed_at = $2, close_reason = 'sold' WHERE customer_id = $1 AND closed_at IS NULL "
    "AND kind IN ('callback', 'promotion') AND (scheduled_at IS NULL OR scheduled_at <= $2)"
)
CLOSE_TASKS_OF_CUSTOMER = (
    "UPDATE tasks SET closed_at = $2, close_reason = 'customer_erased' WHERE customer_id = $1 AND closed_at IS NULL"
)


# ---- sales, ledger, customers, dealers, evaluations, refusals --------------------------------------------------

SALE_COLUMNS = [
    *("sale_id", "customer_id", "lead_id", "seller", "supplied_by", "credited_dealer", "cross_region"),
    *("cross_region_exempt", "violation", "vehicles", *DIMS, "sold_at", "updated_at"),
]
SALE_UPSERT = _upsert(
    "sales", SALE_COLUMNS, ["sale_id"], (f"{c} = COALESCE(EXCLUDED.{c}, t.{c})" for c in SALE_COLUMNS[1:])
)
SALE_CANCEL = (
    "INSERT INTO sales AS t (sale_id, customer_id, vehicles, cancelled_at, updated_at) VALUES ($1, $2, 0, $3, $3) "
    "ON CONFLICT (sale_id) DO UPDATE SET cancelled_at = LEAST(t.cancelled_at, EXCLUDED.cancelled_at)"
)

# A sale that waits for a confirmation: one statement for every event of it (reported, confirmed, rejected,
# cancelled) so a batch writes them in the order they came; the first settlement wins.
PENDING_SALE_COLUMNS = [
    *("sale_id", "customer_id", "lead_id", "seller", "supplied_by", "confirmer", "vehicles", "sold_at"),
    *("reported_at", "settled_at", "outcome", "rejected_at", "rejected_by", "region_code", "product_line"),
    "updated_at",
]
_PENDING_KEEP = ("customer_id", "lead_id", "seller", "supplied_by", "confirmer", "sold_at", "reported_at")
PENDING_SALE_UPSERT = (
    f"INSERT INTO pending_sales AS t ({', '.join(PENDING_SALE_COLUMNS)}) VALUES ($1, $2, $3, $4, $5, $6, "
    "COALESCE($7::int, 0), $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT (sale_id) DO UPDATE SET "
    + ", ".join(f"{c} = COALESCE(t.{c}, EXCLUDED.{c})" for c in _PENDING_KEEP)
    + ", vehicles = GREATEST(t.vehicles, EXCLUDED.vehicles), "
    "outcome = CASE WHEN EXCLUDED.settled_at IS NOT NULL AND (t.settled_at IS NULL OR EXCLUDED.settled_at < "
    "t.settled_at) THEN EXCLUDED.outcome ELSE t.outcome END, settled_at = LEAST(t.settled_at, EXCLUDED.settled_at), "
    "rejected_at = COALESCE(t.rejected_at, EXCLUDED.rejected_at), "
    "rejected_by = COALESCE(t.rejected_by, EXCLUDED.rejected_by), "
    "region_code = COALESCE(EXCLUDED.region_code, t.region_code), "
    "product_line = COALESCE(EXCLUDED.product_line, t.product_line), "
    "updated_at = GREATEST(t.updated_at, EXCLUDED.updated_at)"
)


LEDGER_COLUMNS = [
    *("entry_id", "kind", "dealer", "amount_fen", "lead_id", "customer_id", "sale_id", "reverses", *DIMS),
    "posted_at",
]
LEDGER_INSERT = _upsert("ledger_entries", LEDGER_COLUMNS, ["entry_id"], ())


CUSTOMER_UPSERT = (
    "INSERT INTO customers AS t (customer_id, region_code, tier, assigned_dealer, masked, first_seen_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5::jsonb, $6, $6) ON CONFLICT (customer_id) DO UPDATE SET "
    "region_code = CASE WHEN EXCLUDED.updated_at >= t.updated_at THEN COALESCE(EXCLUDED.region_code, t.region_code) "
    "ELSE t.region_code END, "
    "tier = CASE WHEN EXCLUDED.updated_at >= t.updated_at THEN COALESCE(EXCLUDED.tier, t.tier) ELSE t.tier END, "
    "assigned_dealer = CASE WHEN EXCLUDED.updated_at >= t.updated_at THEN EXCLUDED.assigned_dealer "
    "ELSE t.assigned_dealer END, "
    "masked = CASE WHEN t.erased_at IS NOT NULL THEN NULL WHEN EXCLUDED.updated_at >= t.updated_at "
    "THEN COALESCE(EXCLUDED.masked, t.masked) ELSE t.masked END, "
    "first_seen_at = LEAST(t.first_seen_at, EXCLUDED.first_seen_at), "
    "updated_at = GREATEST(t.updated_at, EXCLUDED.updated_at)"
)
CUSTOMER_ERASE = (
    "INSERT INTO customers AS t (customer_id, erased_at, updated_at) VALUES ($1, $2, $2) "
    "ON CONFLICT (customer_id) DO UPDATE SET erased_at = EXCLUDED.erased_at, masked = NULL"
)
LEADS_ERASE = "UPDATE leads SET customer_masked = NULL WHERE customer_id = $1"
TIER_CHANGE_INSERT = (
    "INSERT INTO tier_changes (event_id, customer_id, old_tier, new_tier, upgraded, reason, lead_id, changed_by, "
    "changed_at, region_code) VALUES ($1, $2::text, $3, $4, $5, $6, $7, $8, $9, "
    "COALESCE($10::text, (SELECT region_code FROM customers WHERE customer_id = $2::text))) "
    "ON CONFLICT (event_id) DO NOTHING"
)
# A customer's region learnt after its tier changes were counted.
TIER_CHANGE_REGION = (
    "UPDATE tier_changes SET region_code = $2::text WHERE customer_id = $1 AND region_code IS NULL "
    "AND $2::text IS NOT NULL"
)
DEALER_UPSERT = (
    "INSERT INTO dealers AS t (code, name, territories, product_lines, sales_level, status, updated_at) "
    "VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, $7) ON CONFLICT (code) DO UPDATE SET "
    "name = EXCLUDED.name, territories = EXCLUDED.territories, product_lines = EXCLUDED.product_lines, "
    "sales_level = EXCLUDED.sales_level, status = CASE WHEN t.withdrawn_at IS NOT NULL THEN t.status "
    "ELSE EXCLUDED.status END, updated_at = EXCLUDED.updated_at WHERE EXCLUDED.updated_at >= t.updated_at"
)
DEALER_WITHDRAW = (
    "INSERT INTO dealers AS t (code, status, withdrawn_at, updated_at) VALUES ($1, 'withdrawn', $2, $2) "
    "ON CONFLICT (code) DO UPDATE SET status = 'withdrawn', withdrawn_at = EXCLUDED.withdrawn_at"
)
EVALUATION_UPSERT = (
    "INSERT INTO network_evaluations AS t (owner, quarter, scope, evaluated_at, networks, networks_planned, "
    "networks_developed, development_completion, development_rating, records, verified, authenticity_share, "
    "authenticity_rating, class_counts, payload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
    "$14::jsonb, $15::jsonb) ON CONFLICT (owner, quarter) DO UPDATE SET scope = EXCLUDED.scope, "
    "evaluated_at = EXCLUDED.evaluated_at, networks = EXCLUDED.networks, networks_planned = EXCLUDED.networks_planned, "
    "networks_developed = EXCLUDED.networks_developed, development_completion = EXCLUDED.development_completion, "
    "development_rating = EXCLUDED.development_rating, records = EXCLUDED.records, verified = EXCLUDED.verified, "
    "authenticity_share = EXCLUDED.authenticity_share, authenticity_rating = EXCLUDED.authenticity_rating, "
    "class_counts = EXCLUDED.class_counts, payload = EXCLUDED.payload WHERE EXCLUDED.evaluated_at >= t.evaluated_at"
)
REFUSAL_INSERT = (
    "INSERT INTO refusals (event_id, dealer, codes, refused_at, region_code, product_line, tier, source, "
    "network_code, entered_by) VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10) "
    "ON CONFLICT (event_id) DO NOTHING"
)
PLAN_UPSERT = (
    "INSERT INTO plan_facts AS t (dealer, plan, period, status, quota, lines, late, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dealer, plan, period) DO UPDATE SET "
    "status = COALESCE(EXCLUDED.status, t.status), quota = COALESCE(EXCLUDED.quota, t.quota), "
    "lines = COALESCE(EXCLUDED.lines, t.lines), late = COALESCE(EXCLUDED.late, t.late), "
    "updated_at = GREATEST(t.updated_at, EXCLUDED.updated_at) WHERE EXCLUDED.updated_at >= t.updated_at"
)
NETWORK_UPSERT = (
    "INSERT INTO networks AS t (code, kind, scope, owner, graded_in, grade, authenticity_level, network_class, "
    "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (code) DO UPDATE SET kind = EXCLUDED.kind, "
    "scope = EXCLUDED.scope, owner = EXCLUDED.owner, graded_in = EXCLUDED.graded_in, grade = EXCLUDED.grade, "
    "authenticity_level = EXCLUDED.authenticity_level, network_class = EXCLUDED.network_class, "
    "updated_at = EXCLUDED.updated_at WHERE EXCLUDED.updated_at >= t.updated_at"
)
OTHER_INSERT = (
    "INSERT INTO other_events (event_id, type, occurred_at, subject, data) VALUES ($1, $2, $3, $4, $5::jsonb) "
    "ON CONFLICT (event_id) DO NOTHING"
)

# The dimensions a task, sale or ledger entry did not carry, from the lead it belongs to (for the batch's leads).
_DIM_FILL = ", ".join(f"{c} = COALESCE(f.{c}, l.{c})" for c in DIMS)
_DIM_MISSING = " OR ".join(f"f.{c} IS NULL" for c in DIMS)
_FILLS = tuple(
    f"UPDATE {table} AS f SET {_DIM_FILL} FROM leads AS l WHERE f.lead_id = l.lead_id "
    f"AND f.lead_id = ANY($1::text[]) AND ({_DIM_MISSING})"
    for table in ("tasks", "sales", "ledger_entries", "tier_changes")
)
# A task that arrives after its lead was closed (another topic, read in another order) is closed with it.
_CLOSE_LATE_TASKS = (
    "UPDATE tasks AS f SET closed_at = l.closed_at, close_reason = 'lead_closed' FROM leads AS l "
    "WHERE f.lead_id = l.lead_id AND f.lead_id = ANY($1::text[]) AND l.closed_at IS NOT NULL "
    "AND f.closed_at IS NULL AND f.scheduled_at <= l.closed_at"
)
# ... and one that arrives after a sale to its customer, with the sale (callbacks and promotions only).
_CLOSE_LATE_TASKS_BY_SALE = (
    "UPDATE tasks AS f SET closed_at = s.sold_at, close_reason = 'sold' FROM sales AS s "
    "WHERE f.customer_id = s.customer_id AND f.customer_id = ANY($1::text[]) AND s.sold_at IS NOT NULL "
    "AND f.closed_at IS NULL AND f.kind IN ('callback', 'promotion') AND f.scheduled_at <= s.sold_at"
)
# A ledger entry for a sale without a lead (a purchase reward) takes the sale's dimensions, and again when the sale's
# own dimensions come later, from its lead (lead → sale → posting, in any order).
_FILL_LEDGER_FROM_SALES, _FILL_LEDGER_FROM_SALES_OF_LEADS = (
    f"UPDATE ledger_entries AS f SET {_DIM_FILL.replace('l.', 's.')} FROM sales AS s WHERE f.sale_id = s.sale_id "
    f"AND {by} = ANY($1::text[]) AND ({_DIM_MISSING})"
    for by in ("f.sale_id", "s.lead_id")
)


class Batch:
    """One poll's statements, grouped so each runs once over its rows (executemany), in an order that lets the
    fills see every fact of the batch."""

    def __init__(self) -> None:
        self.rows: dict[str, list[Row]] = defaultdict(list)
        self.lead_ids: set[str] = set()
        self.sale_ids: set[str] = set()
        self.task_customers: set[str] = set()

    def add(self, sql: str, row: Row) -> None:
        self.rows[sql].append(row)

    async def _prefill(self, connection: Any) -> None:
        await _lead_dims(self, connection)

    async def run(self, session: AsyncSession) -> None:
        connection = await driver_connection(session)
        await self._prefill(connection)
        for sql in _ORDER:
            rows = self.rows.pop(sql, None)
            if rows:
                await connection.executemany(sql, rows)
        for sql, rows in self.rows.items():
            await connection.executemany(sql, rows)
        if self.lead_ids:
            for fill in (*_FILLS, _FILL_LEDGER_FROM_SALES_OF_LEADS, _CLOSE_LATE_TASKS):
                await connection.execute(fill, sorted(self.lead_ids))
        if self.sale_ids:
            await connection.execute(_FILL_LEDGER_FROM_SALES, sorted(self.sale_ids))
        if self.task_customers:
            await connection.execute(_CLOSE_LATE_TASKS_BY_SALE, sorted(self.task_customers))


_LEAD_DIMS_SQL = f"SELECT lead_id, {', '.join(DIMS)} FROM leads WHERE lead_id = ANY($1::text[])"
_PREFILLED = ((TASK_UPSERT, TASK_COLUMNS), (SALE_UPSERT, SALE_COLUMNS), (LEDGER_INSERT, LEDGER_COLUMNS))


async def _lead_dims(batch: Batch, connection: Any) -> None:
    """Fill the dimensions a task, sale or posting lacks from its lead before writing it (the lead of this batch,
    or one already stored), so most facts are written once, complete; `_FILLS` mend those whose lead comes later."""
    known: dict[str, tuple[Any, ...]] = {}
    lead_id_at, dims_at = LEAD_COLUMNS.index("lead_id"), [LEAD_COLUMNS.index(d) for d in DIMS]
    for row in batch.rows.get(LEAD_UPSERT, []):
        dims = tuple(row[i] for i in dims_at)
        if any(d is not None for d in dims):
            known[row[lead_id_at]] = dims
    wanted: set[str] = set()
    for sql, columns in _PREFILLED:
        at, positions = columns.index("lead_id"), [columns.index(d) for d in DIMS]
        for row in batch.rows.get(sql, []):
            if row[at] and row[at] not in known and any(row[p] is None for p in positions):
                wanted.add(row[at])
    if wanted:
        for record in await connection.fetch(_LEAD_DIMS_SQL, sorted(wanted)):
            known[record[0]] = tuple(record[1:])
    if not known:
        return
    for sql, columns in _PREFILLED:
        at, positions = columns.index("lead_id"), [columns.index(d) for d in DIMS]
        rows = batch.rows.get(sql)
        if not rows:
            continue
        for n, row in enumerate(rows):
            found = known.get(row[at]) if row[at] else None
            if found is not None and any(row[p] is None for p in positions):
                filled = list(row)
                for p, value in zip(positions, found, strict=True):
                    if filled[p] is None:
                        filled[p] = value
                rows[n] = tuple(filled)


# Facts first, then what changes them (a closed lead's tasks after the tasks are in).
_ORDER = (
    CUSTOMER_UPSERT,
    LEAD_UPSERT,
    LEAD_PROMOTED,
    LEAD_SOLD,
    TASK_UPSERT,
    SALE_UPSERT,
    SALE_CANCEL,
    LEDGER_INSERT,
    TIER_CHANGE_INSERT,
    TIER_CHANGE_REGION,
    CLOSE_TASKS_OF_LEAD,
    CLOSE_TASKS_OF_SALE,
)


_WATERMARK = text("SELECT n_tup_ins + n_tup_del FROM pg_stat_user_tables WHERE relid = CAST('inbox' AS regclass)")


async def watermark(session: AsyncSession) -> str:
    """How far the console's history has got: changes whenever an event was ingested (each one adds its id to the
    inbox). Read from PostgreSQL's statistics of the inbox table, a constant-time look-up: `max(processed_at)` would
    scan ten million inbox rows every second, the inbox having no index on that column (writes stay as cheap)."""
    return str((await session.execute(_WATERMARK)).scalar() or "")
