"""Ingest: every public event into the console's fact tables, one batch per poll.

The console reads the events as any HQ dashboard would: as JSON, by field name, tolerating fields and types it does
not know (an unknown type is kept in `other_events`, a missing field is NULL). It never parses through the
catalogue's models, so a producer that adds a field, or an event type this version has never heard of, cannot make
it refuse an event. Events of different topics arrive in any order (a ledger entry before its lead's acceptance): every
write is an upsert that fills what its event knows and keeps what earlier events said, and the dimensions a fact's
own event lacks are filled from its lead when that lead is known (`_FILLS`, run for the batch's leads).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from hq_console.tiers import is_upgrade
from leadnet_shared.app import Runtime
from leadnet_shared.consumer import AllTypesExcept, BatchHandler
from leadnet_shared.db import driver_connection
from leadnet_shared.events import TOPICS, Envelope

# Every public topic of the catalogue (leads, customers, dealers, tasks, sales, ledger, networks, and any added
# later): what HQ may read is what is public (masked), and nothing else.
CONSOLE_TOPICS = tuple(t.name for t in TOPICS if t.public)
CONSOLE_TYPES: frozenset[str] = AllTypesExcept({"leadnet.event.dead_lettered"})

# Refusals at intake (422 per dealer and network): the producers' event name, whichever they choose of these.
REFUSAL_TYPES = frozenset({"leadnet.lead.refused", "leadnet.record.refused", "leadnet.intake.refused"})
# Task statuses after which a task is no longer open (the scheduler's words, and the usual synonyms).
CLOSED_TASK_STATUSES = frozenset({"done", "completed", "cancelled", "canceled", "closed", "expired"})

Row = tuple[Any, ...]


def _ts(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value)
    return text or None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _region(data: dict[str, Any], *names: str) -> str | None:
    for name in names:
        code = _str(data.get(name))
        if code and code.isdigit():
            return code
    return None


# ---- leads ---------------------------------------------------------------------------------------------------

LEAD_COLUMNS = [
    "lead_id",
    "customer_id",
    "entered_by",
    "assigned_dealer",
    "authorized_dealer",
    "cross_region",
    "reward_eligible",
    "tier",
    "nature",
    "region_code",
    "product_line",
    "horizon",
    "source",
    "network_code",
    "customer_existed",
    "status",
    "status_at",
    "received_at",
    "accepted_at",
    "rejected_at",
    "reject_reason",
    "verified_at",
    "verified_by",
    "promoted_at",
    "sold_at",
    "returned_at",
    "closed_at",
    "close_reason",
    "lead_version",
    "customer_masked",
    "updated_at",
]
_FIRST_WINS = {"received_at", "accepted_at", "rejected_at", "verified_at", "promoted_at", "sold_at", "closed_at"}
_DESCRIPTIVE = frozenset(
    [
        "customer_id",
        "entered_by",
        "assigned_dealer",
        "authorized_dealer",
        "cross_region",
        "reward_eligible",
        "tier",
        "nature",
        "region_code",
        "product_line",
        "horizon",
        "source",
        "network_code",
        "customer_existed",
        "customer_masked",
    ]
)


def _lead_set(column: str) -> str:
    if column in _FIRST_WINS:
        return f"{column} = LEAST(t.{column}, EXCLUDED.{column})"
    if column in _DESCRIPTIVE:
        # The newer version of the lead's facts wins (a reassignment after the acceptance), whatever the order of
        # arrival; a fact that does not say keeps what is known.
        return (
            f"{column} = CASE WHEN EXCLUDED.lead_version >= t.lead_version "
            f"THEN COALESCE(EXCLUDED.{column}, t.{column}) ELSE COALESCE(t.{column}, EXCLUDED.{column}) END"
        )
    if column in ("status", "status_at"):
        # A closed lead stays closed (final); otherwise the latest fact's status.
        return (
            f"{column} = CASE WHEN t.status = 'closed' OR EXCLUDED.status IS NULL THEN t.{column} "
            f"WHEN EXCLUDED.status = 'closed' OR t.status_at IS NULL OR EXCLUDED.status_at >= t.status_at "
            f"THEN EXCLUDED.{column} ELSE t.{column} END"
        )
    if column == "lead_version":
        return "lead_version = GREATEST(t.lead_version, EXCLUDED.lead_version)"
    if column in ("reject_reason", "verified_by", "close_reason", "returned_at"):
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
LEAD_PROMOTED = (
    "INSERT INTO leads AS t (lead_id, promoted_at, updated_at, lead_version) VALUES ($1, $2, $2, 0) "
    "ON CONFLICT (lead_id) DO UPDATE SET promoted_at = LEAST(t.promoted_at, EXCLUDED.promoted_at), "
    "updated_at = GREATEST(t.updated_at, EXCLUDED.updated_at)"
)
LEAD_SOLD = (
    "INSERT INTO leads AS t (lead_id, sold_at, updated_at, lead_version) VALUES ($1, $2, $2, 0) "
    "ON CONFLICT (lead_id) DO UPDATE SET sold_at = LEAST(t.sold_at, EXCLUDED.sold_at), "
    "updated_at = GREATEST(t.updated_at, EXCLUDED.updated_at)"
)


def _lead_row(**values: Any) -> Row:
    values.setdefault("lead_version", 0)
    return tuple(values.get(c) for c in LEAD_COLUMNS)


def _lead_facts(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "lead_id": _str(data.get("lead_id")),
        "customer_id": _str(data.get("customer_id")),
        "entered_by": _str(data.get("entered_by")),
        "assigned_dealer": _str(data.get("assigned_dealer")),
        "authorized_dealer": _str(data.get("authorized_dealer")),
        "cross_region": _bool(data.get("cross_region")),
        "reward_eligible": _bool(data.get("reward_eligible")),
        "tier": _str(data.get("tier")),
        "nature": _str(data.get("nature")),
        "region_code": _region(data, "region_code"),
        "product_line": _str(data.get("product_line")),
        "horizon": _str(data.get("horizon")),
        "source": _str(data.get("source")),
        "network_code": _str(data.get("network_code")),
        "lead_version": _int(data.get("lead_version")) or 0,
    }


def _masked(customer: Any) -> dict[str, Any] | None:
    """The public event's customer block (already masked by its producer), only the masked fields."""
    if not isinstance(customer, dict):
        return None
    return {k: _str(customer.get(k)) for k in ("name", "phone", "address")}


def lead_row(event_type: str, data: dict[str, Any], at: datetime) -> Row | None:
    """The leads upsert of one public lead event; None for an event that says nothing about a lead."""
    if not _str(data.get("lead_id")):
        return None
    facts = _lead_facts(data)
    if event_type == "leadnet.lead.accepted":
        when = _ts(data.get("accepted_at")) or at
        return _lead_row(
            **facts,
            customer_existed=_bool(data.get("customer_existed")),
            customer_masked=_json(_masked(data.get("customer"))),
            status="accepted",
            status_at=when,
            received_at=when,
            accepted_at=when,
            updated_at=when,
        )
    if event_type == "leadnet.lead.rejected":
        when = _ts(data.get("rejected_at")) or at
        return _lead_row(
            **facts,
            status="rejected",
            status_at=when,
            received_at=when,
            rejected_at=when,
            reject_reason=_str(data.get("reason")),
            updated_at=when,
        )
    if event_type == "leadnet.lead.reassigned":
        when = _ts(data.get("reassigned_at")) or at
        facts["assigned_dealer"] = _str(data.get("to_dealer")) or facts["assigned_dealer"]
        return _lead_row(**facts, updated_at=when)
    if event_type == "leadnet.lead.verified":
        when = _ts(data.get("verified_at")) or at
        return _lead_row(**facts, verified_at=when, verified_by=_str(data.get("by")) or "callback", updated_at=when)
    if event_type == "leadnet.lead.closed":
        when = _ts(data.get("closed_at")) or at
        return _lead_row(
            **facts,
            status="closed",
            status_at=when,
            closed_at=when,
            close_reason=_str(data.get("reason")),
            updated_at=when,
        )
    if event_type == "leadnet.lead.returned":
        when = _ts(data.get("returned_at")) or at
        return _lead_row(**facts, status="returned", status_at=when, returned_at=when, updated_at=when)
    if event_type == "leadnet.lead.reopened":
        when = _ts(data.get("reopened_at")) or at
        return _lead_row(**facts, status="accepted", status_at=when, updated_at=when)
    return None


# ---- tasks ---------------------------------------------------------------------------------------------------

TASK_COLUMNS = [
    "task_id",
    "kind",
    "dealer",
    "lead_id",
    "customer_id",
    "region_code",
    "product_line",
    "tier",
    "source",
    "network_code",
    "entered_by",
    "horizon",
    "status",
    "status_at",
    "outcome",
    "due_at",
    "scheduled_at",
    "completed_at",
    "closed_at",
    "close_reason",
    "overdue_at",
    "escalated_at",
    "escalate_at",
    "updated_at",
]


def _task_set(column: str) -> str:
    if column in ("scheduled_at", "completed_at", "closed_at", "overdue_at", "escalated_at"):
        return f"{column} = LEAST(t.{column}, EXCLUDED.{column})"
    if column in ("status", "due_at", "outcome", "status_at", "escalate_at"):
        # What the latest event of the task says (a due date moved, an outcome reported).
        return (
            f"{column} = CASE WHEN t.status_at IS NULL OR EXCLUDED.status_at >= t.status_at "
            f"THEN COALESCE(EXCLUDED.{column}, t.{column}) ELSE COALESCE(t.{column}, EXCLUDED.{column}) END"
        )
    if column == "close_reason":
        return (
            "close_reason = CASE WHEN t.closed_at IS NULL OR EXCLUDED.closed_at < t.closed_at "
            "THEN COALESCE(EXCLUDED.close_reason, t.close_reason) ELSE t.close_reason END"
        )
    if column == "updated_at":
        return "updated_at = GREATEST(t.updated_at, EXCLUDED.updated_at)"
    return f"{column} = COALESCE(EXCLUDED.{column}, t.{column})"


TASK_UPSERT = _upsert("tasks", TASK_COLUMNS, ["task_id"], (_task_set(c) for c in TASK_COLUMNS if c != "task_id"))


def task_row(event_type: str, data: dict[str, Any], at: datetime) -> Row | None:
    task_id = _str(data.get("task_id"))
    if not task_id:
        return None
    when = _ts(data.get("occurred_at")) or at
    status = _str(data.get("status"))
    moment = event_type.rsplit(".", 1)[-1]
    closed = moment in ("completed", "cancelled") or (status or "") in CLOSED_TASK_STATUSES
    values = {
        "task_id": task_id,
        "kind": _str(data.get("kind")),
        "dealer": _str(data.get("dealer")),
        "lead_id": _str(data.get("lead_id")),
        "customer_id": _str(data.get("customer_id")),
        "region_code": _region(data, "region_code", "customer_region_code"),
        "product_line": _str(data.get("product_line")),
        "tier": _str(data.get("tier")),
        "source": _str(data.get("source")),
        "network_code": _str(data.get("network_code")),
        "entered_by": _str(data.get("entered_by")),
        "horizon": _str(data.get("horizon")),
        "status": status,
        "status_at": when,
        "outcome": _str(data.get("outcome")),
        "due_at": _ts(data.get("due_at")),
        # When the task opened: its scheduled event's instant; a task first heard of by a later event (its scheduled
        # event older than the topic's retention) opened no later than that event.
        "scheduled_at": when,
        "completed_at": when if moment == "completed" else None,
        "closed_at": when if closed else None,
        "close_reason": ("completed" if moment == "completed" else status or moment) if closed else None,
        "overdue_at": when if moment == "overdue" else None,
        "escalated_at": when if moment == "escalated" else None,
        # The moment the task escalates (or escalated) to HQ: the scheduler's deadline the task events carry, as the
        # latest event states it (a reschedule moves it); an older `task.escalated` without one escalated at its
        # own instant. The escalated figure counts by it (insights.TASK_ESCALATED).
        "escalate_at": _ts(data.get("escalate_at")) or (when if moment == "escalated" else None),
        "updated_at": when,
    }
    return tuple(values[c] for c in TASK_COLUMNS)


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
    "sale_id",
    "customer_id",
    "lead_id",
    "seller",
    "supplied_by",
    "credited_dealer",
    "cross_region",
    "cross_region_exempt",
    "violation",
    "vehicles",
    "region_code",
    "product_line",
    "tier",
    "source",
    "network_code",
    "entered_by",
    "sold_at",
    "updated_at",
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
    "sale_id",
    "customer_id",
    "lead_id",
    "seller",
    "supplied_by",
    "confirmer",
    "vehicles",
    "sold_at",
    "reported_at",
    "settled_at",
    "outcome",
    "rejected_at",
    "rejected_by",
    "region_code",
    "product_line",
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


def pending_sale_row(data: dict[str, Any], at: datetime, **settled: Any) -> Row | None:
    sale_id = _str(data.get("sale_id"))
    if not sale_id:
        return None
    values: dict[str, Any] = {c: None for c in PENDING_SALE_COLUMNS}
    values.update(
        sale_id=sale_id,
        customer_id=_str(data.get("customer_id")),
        lead_id=_str(data.get("attributed_lead_id")),
        seller=_str(data.get("seller")),
        supplied_by=_str(data.get("supplied_by")),
        region_code=_region(data, "region_code"),
        product_line=_str(data.get("product_line")),
        updated_at=at,
    )
    values.update(settled)
    return tuple(values[c] for c in PENDING_SALE_COLUMNS)


def _sale_pending(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
    row = pending_sale_row(
        data,
        at,
        confirmer=_str(data.get("confirmer")),
        vehicles=_int(data.get("vehicle_count")),
        sold_at=_ts(data.get("sold_at")),
        reported_at=_ts(data.get("reported_at")) or at,
    )
    if row is not None:
        batch.add(PENDING_SALE_UPSERT, row)
    batch.add(OTHER_INSERT, (envelope.id, envelope.type, at, envelope.subject, _json(data)))


def _sale_rejected(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
    when = _ts(data.get("rejected_at")) or at
    row = pending_sale_row(
        data,
        at,
        vehicles=_int(data.get("vehicle_count")),
        settled_at=when,
        outcome="rejected",
        rejected_at=when,
        rejected_by=_str(data.get("rejected_by")),
    )
    if row is not None:
        batch.add(PENDING_SALE_UPSERT, row)
    batch.add(OTHER_INSERT, (envelope.id, envelope.type, at, envelope.subject, _json(data)))


def sale_row(data: dict[str, Any], at: datetime) -> Row | None:
    sale_id = _str(data.get("sale_id"))
    if not sale_id:
        return None
    listed = data.get("vehicles")
    vehicles: list[Any] = listed if isinstance(listed, list) else []
    lines = [_str(v.get("product_line")) for v in vehicles if isinstance(v, dict)]
    when = _ts(data.get("sold_at")) or at
    values = {
        "sale_id": sale_id,
        "customer_id": _str(data.get("customer_id")),
        "lead_id": _str(data.get("attributed_lead_id")),
        "seller": _str(data.get("seller")),
        "supplied_by": _str(data.get("supplied_by")),
        "credited_dealer": _str(data.get("credited_dealer")) or _str(data.get("seller")),
        "cross_region": _bool(data.get("lead_cross_region")),
        "cross_region_exempt": _bool(data.get("cross_region_exempt")),
        "violation": _str(data.get("violation")),
        "vehicles": len(vehicles),
        "region_code": _region(data, "customer_region_code", "region_code"),
        "product_line": _str(data.get("product_line")) or next((p for p in lines if p), None),
        "tier": _str(data.get("lead_tier")) or _str(data.get("tier")),
        "source": _str(data.get("source")),
        "network_code": _str(data.get("network_code")),
        "entered_by": _str(data.get("lead_entered_by")),
        "sold_at": when,
        "updated_at": when,
    }
    return tuple(values[c] for c in SALE_COLUMNS)


LEDGER_COLUMNS = [
    "entry_id",
    "kind",
    "dealer",
    "amount_fen",
    "lead_id",
    "customer_id",
    "sale_id",
    "reverses",
    "region_code",
    "product_line",
    "tier",
    "source",
    "network_code",
    "entered_by",
    "posted_at",
]
LEDGER_INSERT = _upsert("ledger_entries", LEDGER_COLUMNS, ["entry_id"], ())


def ledger_row(data: dict[str, Any], at: datetime) -> Row | None:
    entry_id = _str(data.get("entry_id"))
    amount = _int(data.get("amount_fen"))
    if not entry_id or amount is None:
        return None
    values = {
        "entry_id": entry_id,
        "kind": _str(data.get("kind")),
        "dealer": _str(data.get("dealer")),
        "amount_fen": amount,
        "lead_id": _str(data.get("lead_id")),
        "customer_id": _str(data.get("customer_id")),
        "sale_id": _str(data.get("sale_id")),
        "reverses": _str(data.get("reverses")),
        "region_code": _region(data, "region_code", "customer_region_code"),
        "product_line": _str(data.get("product_line")),
        "tier": _str(data.get("tier")),
        "source": _str(data.get("source")),
        "network_code": _str(data.get("network_code")),
        "entered_by": _str(data.get("entered_by")) or _str(data.get("lead_entered_by")),
        "posted_at": _ts(data.get("posted_at")) or at,
    }
    return tuple(values[c] for c in LEDGER_COLUMNS)


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
_DIM_FILL = ", ".join(
    f"{c} = COALESCE(f.{c}, l.{c})"
    for c in ("region_code", "product_line", "tier", "source", "network_code", "entered_by")
)
_DIM_MISSING = " OR ".join(
    f"f.{c} IS NULL" for c in ("region_code", "product_line", "tier", "source", "network_code", "entered_by")
)
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
# A ledger entry for a sale without a lead (a purchase reward) takes the sale's dimensions.
_FILL_LEDGER_FROM_SALES = (
    f"UPDATE ledger_entries AS f SET {_DIM_FILL.replace('l.', 's.')} FROM sales AS s WHERE f.sale_id = s.sale_id "
    f"AND f.sale_id = ANY($1::text[]) AND ({_DIM_MISSING})"
)


# ... and again when the sale's own dimensions come later, from its lead (lead → sale → posting, in any order).
_FILL_LEDGER_FROM_SALES_OF_LEADS = (
    f"UPDATE ledger_entries AS f SET {_DIM_FILL.replace('l.', 's.')} FROM sales AS s WHERE f.sale_id = s.sale_id "
    f"AND s.lead_id = ANY($1::text[]) AND ({_DIM_MISSING})"
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


_DIM_NAMES = ("region_code", "product_line", "tier", "source", "network_code", "entered_by")
_LEAD_DIMS_SQL = f"SELECT lead_id, {', '.join(_DIM_NAMES)} FROM leads WHERE lead_id = ANY($1::text[])"
_PREFILLED = ((TASK_UPSERT, TASK_COLUMNS), (SALE_UPSERT, SALE_COLUMNS), (LEDGER_INSERT, LEDGER_COLUMNS))


async def _lead_dims(batch: Batch, connection: Any) -> None:
    """Fill the dimensions a task, sale or posting lacks from its lead before writing it (the lead of this batch,
    or one already stored), so most facts are written once, complete; `_FILLS` mend those whose lead comes later."""
    known: dict[str, tuple[Any, ...]] = {}
    lead_id_at, dims_at = LEAD_COLUMNS.index("lead_id"), [LEAD_COLUMNS.index(d) for d in _DIM_NAMES]
    for row in batch.rows.get(LEAD_UPSERT, []):
        dims = tuple(row[i] for i in dims_at)
        if any(d is not None for d in dims):
            known[row[lead_id_at]] = dims
    wanted: set[str] = set()
    for sql, columns in _PREFILLED:
        at, positions = columns.index("lead_id"), [columns.index(d) for d in _DIM_NAMES]
        for row in batch.rows.get(sql, []):
            if row[at] and row[at] not in known and any(row[p] is None for p in positions):
                wanted.add(row[at])
    if wanted:
        for record in await connection.fetch(_LEAD_DIMS_SQL, sorted(wanted)):
            known[record[0]] = tuple(record[1:])
    if not known:
        return
    for sql, columns in _PREFILLED:
        at, positions = columns.index("lead_id"), [columns.index(d) for d in _DIM_NAMES]
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


def add_event(batch: Batch, envelope: Envelope) -> None:
    """The statements one event contributes to its batch."""
    data = envelope.data if isinstance(envelope.data, dict) else {}
    kind, at = envelope.type, envelope.time
    family = kind.split(".")[1] if kind.count(".") >= 2 else ""
    handler = _HANDLERS.get(kind)
    if handler is not None:
        handler(batch, envelope, data, at)
    elif family == "task" and _str(data.get("task_id")):
        _task(batch, envelope, data, at)
    elif kind in REFUSAL_TYPES:
        _refusal(batch, envelope, data, at)
    elif family == "plan" and _str(data.get("dealer")) and _str(data.get("period")) and kind != "leadnet.plan.reminder":
        _plan(batch, envelope, data, at)  # a plan moving along its approval chain (quota, lines, late)
    else:
        # A type this version does not count (a reminder, a correction, a newer producer's event): kept as it came,
        # the history a later version builds a page from.
        batch.add(OTHER_INSERT, (envelope.id, kind, at, envelope.subject, _json(data)))


def _lead(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
    row = lead_row(envelope.type, data, at)
    if row is None:
        return
    batch.add(LEAD_UPSERT, row)
    lead_id = row[0]
    batch.lead_ids.add(lead_id)
    if envelope.type == "leadnet.lead.closed":
        batch.add(CLOSE_TASKS_OF_LEAD, (lead_id, row[LEAD_COLUMNS.index("closed_at")]))


def _task(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
    row = task_row(envelope.type, data, at)
    if row is None:
        return
    batch.add(TASK_UPSERT, row)
    if row[TASK_COLUMNS.index("customer_id")]:
        batch.task_customers.add(row[TASK_COLUMNS.index("customer_id")])
    lead_id = row[TASK_COLUMNS.index("lead_id")]
    if lead_id:
        batch.lead_ids.add(lead_id)
        if envelope.type == "leadnet.task.scheduled" and row[TASK_COLUMNS.index("kind")] == "promotion":
            # The lead reached sales promotion (domain.md §3 "Flow after processing"): the funnel's "promoted".
            batch.add(LEAD_PROMOTED, (lead_id, row[TASK_COLUMNS.index("scheduled_at")]))


def _sale(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
    row = sale_row(data, at)
    if row is None:
        return
    confirmed_at = _ts(data.get("confirmed_at"))
    if confirmed_at is not None:  # it waited for a confirmation: no longer pending
        settled = pending_sale_row(data, at, settled_at=confirmed_at, outcome="confirmed")
        if settled is not None:
            batch.add(PENDING_SALE_UPSERT, settled)
    batch.add(SALE_UPSERT, row)
    batch.sale_ids.add(row[0])
    lead_id, customer_id = row[SALE_COLUMNS.index("lead_id")], row[SALE_COLUMNS.index("customer_id")]
    sold_at = row[SALE_COLUMNS.index("sold_at")]
    if lead_id:
        batch.lead_ids.add(lead_id)
        batch.add(LEAD_SOLD, (lead_id, sold_at))
    if customer_id:
        batch.add(CLOSE_TASKS_OF_SALE, (customer_id, sold_at))


def _sale_cancelled(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
    sale_id = _str(data.get("sale_id"))
    if sale_id and data.get("was_pending") is True:
        # cancelled while it waited: nothing was attributed, so the sales table never had it
        row = pending_sale_row(data, at, settled_at=_ts(data.get("cancelled_at")) or at, outcome="cancelled")
        if row is not None:
            batch.add(PENDING_SALE_UPSERT, row)
    elif sale_id:
        batch.add(SALE_CANCEL, (sale_id, _str(data.get("customer_id")), _ts(data.get("cancelled_at")) or at))


def _ledger(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
    row = ledger_row(data, at)
    if row is None:
        return
    batch.add(LEDGER_INSERT, row)
    if row[LEDGER_COLUMNS.index("lead_id")]:
        batch.lead_ids.add(row[LEDGER_COLUMNS.index("lead_id")])
    if row[LEDGER_COLUMNS.index("sale_id")]:
        batch.sale_ids.add(row[LEDGER_COLUMNS.index("sale_id")])


def _customer(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
    customer_id = _str(data.get("customer_id"))
    if customer_id:
        batch.add(TIER_CHANGE_REGION, (customer_id, _region(data, "region_code")))
        batch.add(
            CUSTOMER_UPSERT,
            (
                customer_id,
                _region(data, "region_code"),
                _str(data.get("tier")),
                _str(data.get("assigned_dealer")),
                _json(_masked(data.get("customer"))),
                _ts(data.get("updated_at")) or at,
            ),
        )


def _erased(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
    customer_id = _str(data.get("customer_id"))
    if customer_id:
        when = _ts(data.get("erased_at")) or at
        batch.add(CUSTOMER_ERASE, (customer_id, when))
        batch.add(LEADS_ERASE, (customer_id,))
        batch.add(CLOSE_TASKS_OF_CUSTOMER, (customer_id, when))


def _tier_changed(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
    customer_id = _str(data.get("customer_id"))
    if customer_id:
        old, new = _str(data.get("old_tier")), _str(data.get("new_tier"))
        batch.add(
            TIER_CHANGE_INSERT,
            (
                envelope.id,
                customer_id,
                old,
                new,
                is_upgrade(old, new),
                _str(data.get("reason")),
                _str(data.get("lead_id")),
                _str(data.get("changed_by")),
                _ts(data.get("changed_at")) or at,
                _region(data, "region_code"),
            ),
        )
        if _str(data.get("lead_id")):
            batch.lead_ids.add(str(data["lead_id"]))


def _dealer(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
    code = _str(data.get("code"))
    if code:
        territories = data.get("territories") if isinstance(data.get("territories"), list) else []
        lines = data.get("product_lines") if isinstance(data.get("product_lines"), list) else []
        batch.add(
            DEALER_UPSERT,
            (
                code,
                _str(data.get("name")),
                _json(territories),
                _json(lines),
                _str(data.get("sales_level")),
                _str(data.get("status")) or "active",
                _ts(data.get("updated_at")) or at,
            ),
        )


def _withdrawn(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
    code = _str(data.get("code"))
    if code:
        batch.add(DEALER_WITHDRAW, (code, _ts(data.get("withdrawn_at")) or at))


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _evaluated(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
    owner, quarter = _str(data.get("owner")), _str(data.get("quarter"))
    if owner and quarter:
        counts = data.get("class_counts") if isinstance(data.get("class_counts"), dict) else {}
        batch.add(
            EVALUATION_UPSERT,
            (
                owner,
                quarter,
                _str(data.get("scope")),
                _ts(data.get("evaluated_at")) or at,
                _int(data.get("networks")),
                _int(data.get("networks_planned")),
                _int(data.get("networks_developed")),
                _float(data.get("development_completion")),
                _str(data.get("development_rating")),
                _int(data.get("records")),
                _int(data.get("verified")),
                _float(data.get("authenticity_share")),
                _str(data.get("authenticity_rating")),
                _json(counts),
                _json(data),
            ),
        )


def _network(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
    code = _str(data.get("code"))
    if code:
        batch.add(
            NETWORK_UPSERT,
            (
                code,
                _str(data.get("kind")),
                _str(data.get("scope")),
                _str(data.get("owner")),
                _str(data.get("graded_in")),
                _str(data.get("grade")),
                _int(data.get("authenticity_level")),
                _str(data.get("network_class")),
                _ts(data.get("updated_at")) or at,
            ),
        )


def _refusal(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
    codes = data.get("problems") or data.get("codes") or data.get("errors") or []
    if isinstance(codes, list):
        codes = [c.get("code") if isinstance(c, dict) else c for c in codes]
    dealer = _str(data.get("dealer")) or _str(data.get("entered_by"))
    batch.add(
        REFUSAL_INSERT,
        (
            envelope.id,
            dealer,
            _json(codes if isinstance(codes, list) else []),
            _ts(data.get("refused_at")) or _ts(data.get("occurred_at")) or at,
            _region(data, "region_code"),
            _str(data.get("product_line")),
            _str(data.get("tier")),
            _str(data.get("source")),
            _str(data.get("network_code")),
            dealer,
        ),
    )


def _plan(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
    lines = data.get("lines")
    batch.add(
        PLAN_UPSERT,
        (
            _str(data.get("dealer")),
            _str(data.get("plan")) or "callback",
            _str(data.get("period")),
            _str(data.get("status")) or envelope.type.rsplit(".", 1)[-1],
            _int(data.get("quota")),
            len(lines) if isinstance(lines, list) else _int(lines) or _int(data.get("line_count")),
            _bool(data.get("late")),
            _ts(data.get("occurred_at")) or at,
        ),
    )
    batch.add(OTHER_INSERT, (envelope.id, envelope.type, at, envelope.subject, _json(data)))


_LEAD_TYPES = frozenset(
    {
        "leadnet.lead.accepted",
        "leadnet.lead.rejected",
        "leadnet.lead.reassigned",
        "leadnet.lead.verified",
        "leadnet.lead.closed",
        "leadnet.lead.returned",
        "leadnet.lead.reopened",
    }
)
Handler = Callable[[Batch, Envelope, dict[str, Any], datetime], None]
_HANDLERS: dict[str, Handler] = {
    **{t: _lead for t in _LEAD_TYPES},
    "leadnet.sale.attributed": _sale,
    "leadnet.sale.cancelled": _sale_cancelled,
    "leadnet.sale.pending_confirmation": _sale_pending,
    "leadnet.sale.rejected": _sale_rejected,
    "leadnet.ledger.entry_posted": _ledger,
    "leadnet.customer.upserted": _customer,
    "leadnet.customer.erased": _erased,
    "leadnet.customer.tier_changed": _tier_changed,
    "leadnet.dealer.upserted": _dealer,
    "leadnet.dealer.withdrawn": _withdrawn,
    "leadnet.network.evaluated": _evaluated,
    "leadnet.network.upserted": _network,
}


async def ingest(session: AsyncSession, envelopes: list[Envelope]) -> None:
    """A poll's events into the fact tables, in the caller's transaction (the consumer's unit of work)."""
    batch = Batch()
    for envelope in envelopes:
        add_event(batch, envelope)
    await batch.run(session)


def facts_handler(runtime: Runtime) -> BatchHandler:
    return ingest
