"""Ingest: every public event into the console's fact tables, one batch per poll.

The console reads the events as any HQ dashboard would: as JSON, by field name, tolerating fields and types it does
not know (an unknown type is kept in `other_events`, a missing field is NULL). It never parses through the
catalogue's models, so a producer that adds a field, or an event type this version has never heard of, cannot make
it refuse an event. Events of different topics arrive in any order (a ledger entry before its lead's acceptance): every
write is an upsert that fills what its event knows and keeps what earlier events said, and the dimensions a fact's
own event lacks are filled from its lead when that lead is known (`_FILLS`, run for the batch's leads).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from hq_console.repository.facts import (
    CLOSE_TASKS_OF_CUSTOMER,
    CLOSE_TASKS_OF_LEAD,
    CLOSE_TASKS_OF_SALE,
    CUSTOMER_ERASE,
    CUSTOMER_UPSERT,
    DEALER_UPSERT,
    DEALER_WITHDRAW,
    DIMS,
    EVALUATION_UPSERT,
    LEAD_COLUMNS,
    LEAD_PROMOTED,
    LEAD_SOLD,
    LEAD_UPSERT,
    LEADS_ERASE,
    LEDGER_COLUMNS,
    LEDGER_INSERT,
    NETWORK_UPSERT,
    OTHER_INSERT,
    PENDING_SALE_COLUMNS,
    PENDING_SALE_UPSERT,
    PLAN_UPSERT,
    REFUSAL_INSERT,
    SALE_CANCEL,
    SALE_COLUMNS,
    SALE_UPSERT,
    TASK_COLUMNS,
    TASK_UPSERT,
    TIER_CHANGE_INSERT,
    TIER_CHANGE_REGION,
    Batch,
    Row,
)
from hq_console.tiers import is_upgrade
from leadnet_shared.app import Runtime
from leadnet_shared.consumer import AllTypesExcept, BatchHandler
from leadnet_shared.events import TOPICS, Envelope

# Every public topic of the catalogue (leads, customers, dealers, tasks, sales, ledger, networks, and any added
# later): what HQ may read is what is public (masked), and nothing else.
CONSOLE_TOPICS = tuple(t.name for t in TOPICS if t.public)
CONSOLE_TYPES: frozenset[str] = AllTypesExcept({"leadnet.event.dead_lettered"})

# Refusals at intake (422 per dealer and network): the producers' event name, whichever they choose of these.
REFUSAL_TYPES = frozenset({"leadnet.lead.refused", "leadnet.record.refused", "leadnet.intake.refused"})
# Task statuses after which a task is no longer open (the scheduler's words, and the usual synonyms).
CLOSED_TASK_STATUSES = frozenset({"done", "completed", "cancelled", "canceled", "closed", "expired"})


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


def _strs(data: dict[str, Any], *names: str) -> dict[str, str | None]:
    return {name: _str(data.get(name)) for name in names}


def _dims(data: dict[str, Any], *regions: str) -> dict[str, Any]:
    """The filter dimensions an event carries by their own names (the region from the first of `regions` given)."""
    return {"region_code": _region(data, *regions), **_strs(data, *DIMS[1:])}


def _row(columns: list[str], values: dict[str, Any]) -> Row:
    return tuple(values.get(c) for c in columns)


def _masked(customer: Any) -> dict[str, Any] | None:
    """The public event's customer block (already masked by its producer), only the masked fields."""
    if not isinstance(customer, dict):
        return None
    return {k: _str(customer.get(k)) for k in ("name", "phone", "address")}


@dataclass(frozen=True)
class _LeadMoment:
    """What a lead event says besides the lead's facts: its instant's field, the status it sets (None: the status
    stays), the milestones it reaches at that instant, and its own fields."""

    instant: str
    status: str | None
    milestones: tuple[str, ...]
    own: Callable[[dict[str, Any]], dict[str, Any]] = lambda data: {}


_LEAD_MOMENTS = {
    "leadnet.lead.accepted": _LeadMoment(
        "accepted_at",
        "accepted",
        ("received_at", "accepted_at"),
        lambda d: {
            "customer_existed": _bool(d.get("customer_existed")),
            "customer_masked": _json(_masked(d.get("customer"))),
        },
    ),
    "leadnet.lead.rejected": _LeadMoment(
        "rejected_at", "rejected", ("received_at", "rejected_at"), lambda d: {"reject_reason": _str(d.get("reason"))}
    ),
    "leadnet.lead.reassigned": _LeadMoment(
        "reassigned_at",
        None,
        (),
        lambda d: {"assigned_dealer": _str(d.get("to_dealer")) or _str(d.get("assigned_dealer"))},
    ),
    "leadnet.lead.verified": _LeadMoment(
        "verified_at", None, ("verified_at",), lambda d: {"verified_by": _str(d.get("by")) or "callback"}
    ),
    "leadnet.lead.closed": _LeadMoment(
        "closed_at", "closed", ("closed_at",), lambda d: {"close_reason": _str(d.get("reason"))}
    ),
    "leadnet.lead.returned": _LeadMoment("returned_at", "returned", ("returned_at",)),
    "leadnet.lead.reopened": _LeadMoment("reopened_at", "accepted", ()),
}


def lead_row(event_type: str, data: dict[str, Any], at: datetime) -> Row | None:
    """The leads upsert of one public lead event; None for an event that says nothing about a lead."""
    moment = _LEAD_MOMENTS.get(event_type)
    if moment is None or not _str(data.get("lead_id")):
        return None
    when = _ts(data.get(moment.instant)) or at
    values: dict[str, Any] = {
        **_strs(data, "lead_id", "customer_id", "assigned_dealer", "authorized_dealer", "nature", "horizon"),
        **_dims(data, "region_code"),
        "cross_region": _bool(data.get("cross_region")),
        "reward_eligible": _bool(data.get("reward_eligible")),
        "lead_version": _int(data.get("lead_version")) or 0,
        **dict.fromkeys(moment.milestones, when),
        **({"status": moment.status, "status_at": when} if moment.status else {}),
        "updated_at": when,
    }
    values.update(moment.own(data))
    return _row(LEAD_COLUMNS, values)


def task_row(event_type: str, data: dict[str, Any], at: datetime) -> Row | None:
    task_id = _str(data.get("task_id"))
    if not task_id:
        return None
    when = _ts(data.get("occurred_at")) or at
    status = _str(data.get("status"))
    moment = event_type.rsplit(".", 1)[-1]
    closed = moment in ("completed", "cancelled") or (status or "") in CLOSED_TASK_STATUSES
    values = {
        **_strs(data, "kind", "dealer", "lead_id", "customer_id", "horizon", "outcome"),
        **_dims(data, "region_code", "customer_region_code"),
        "task_id": task_id,
        "status": status,
        "status_at": when,
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
        # own instant. The escalated figure counts by it (repository.measures.TASK_ESCALATED).
        "escalate_at": _ts(data.get("escalate_at")) or (when if moment == "escalated" else None),
        "updated_at": when,
    }
    return _row(TASK_COLUMNS, values)


def pending_sale_row(data: dict[str, Any], at: datetime, **settled: Any) -> Row | None:
    sale_id = _str(data.get("sale_id"))
    if not sale_id:
        return None
    values = {
        **_strs(data, "customer_id", "seller", "supplied_by", "product_line"),
        "sale_id": sale_id,
        "lead_id": _str(data.get("attributed_lead_id")),
        "region_code": _region(data, "region_code"),
        "updated_at": at,
        **settled,
    }
    return _row(PENDING_SALE_COLUMNS, values)


def _pending(**own: Callable[[dict[str, Any], datetime], Any]) -> Handler:
    """A handler for an event of a sale waiting for its confirmation: its pending_sales row with the fields `own`
    reads from the event (each a function of the event's data and instant), and the event kept as it came."""

    def handler(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
        row = pending_sale_row(data, at, **{name: read(data, at) for name, read in own.items()})
        if row is not None:
            batch.add(PENDING_SALE_UPSERT, row)
        _keep(batch, envelope, data, at)

    return handler


def _rejected_at(data: dict[str, Any], at: datetime) -> datetime:
    return _ts(data.get("rejected_at")) or at


_sale_pending = _pending(
    confirmer=lambda d, at: _str(d.get("confirmer")),
    vehicles=lambda d, at: _int(d.get("vehicle_count")),
    sold_at=lambda d, at: _ts(d.get("sold_at")),
    reported_at=lambda d, at: _ts(d.get("reported_at")) or at,
)
_sale_rejected = _pending(
    vehicles=lambda d, at: _int(d.get("vehicle_count")),
    settled_at=_rejected_at,
    outcome=lambda d, at: "rejected",
    rejected_at=_rejected_at,
    rejected_by=lambda d, at: _str(d.get("rejected_by")),
)


def sale_row(data: dict[str, Any], at: datetime) -> Row | None:
    sale_id = _str(data.get("sale_id"))
    if not sale_id:
        return None
    listed = data.get("vehicles")
    vehicles: list[Any] = listed if isinstance(listed, list) else []
    lines = [_str(v.get("product_line")) for v in vehicles if isinstance(v, dict)]
    when = _ts(data.get("sold_at")) or at
    values = {
        **_strs(data, "customer_id", "seller", "supplied_by", "violation"),
        **_dims(data, "customer_region_code", "region_code"),
        "sale_id": sale_id,
        "lead_id": _str(data.get("attributed_lead_id")),
        "credited_dealer": _str(data.get("credited_dealer")) or _str(data.get("seller")),
        "cross_region": _bool(data.get("lead_cross_region")),
        "cross_region_exempt": _bool(data.get("cross_region_exempt")),
        "vehicles": len(vehicles),
        "product_line": _str(data.get("product_line")) or next((p for p in lines if p), None),
        "tier": _str(data.get("lead_tier")) or _str(data.get("tier")),
        "entered_by": _str(data.get("lead_entered_by")),
        "sold_at": when,
        "updated_at": when,
    }
    return _row(SALE_COLUMNS, values)


def ledger_row(data: dict[str, Any], at: datetime) -> Row | None:
    entry_id = _str(data.get("entry_id"))
    amount = _int(data.get("amount_fen"))
    if not entry_id or amount is None:
        return None
    values = {
        **_strs(data, "entry_id", "kind", "dealer", "lead_id", "customer_id", "sale_id", "reverses"),
        **_dims(data, "region_code", "customer_region_code"),
        "amount_fen": amount,
        "entered_by": _str(data.get("entered_by")) or _str(data.get("lead_entered_by")),
        "posted_at": _ts(data.get("posted_at")) or at,
    }
    return _row(LEDGER_COLUMNS, values)


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
        _keep(batch, envelope, data, at)


def _keep(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
    batch.add(OTHER_INSERT, (envelope.id, envelope.type, at, envelope.subject, _json(data)))


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
        said = (_region(data, "region_code"), *_strs(data, "tier", "assigned_dealer").values())
        masked, when = _json(_masked(data.get("customer"))), _ts(data.get("updated_at")) or at
        batch.add(CUSTOMER_UPSERT, (customer_id, *said, masked, when))


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
        said = _strs(data, "reason", "lead_id", "changed_by").values()
        when, region = _ts(data.get("changed_at")) or at, _region(data, "region_code")
        batch.add(TIER_CHANGE_INSERT, (envelope.id, customer_id, old, new, is_upgrade(old, new), *said, when, region))
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


# What a network evaluation counts, each read as its type (the rest of the event is kept as its details).
EVALUATED_FIELDS: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    *(("networks", _int), ("networks_planned", _int), ("networks_developed", _int)),
    *(("development_completion", _float), ("development_rating", _str), ("records", _int), ("verified", _int)),
    *(("authenticity_share", _float), ("authenticity_rating", _str)),
)


def _evaluated(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
    owner, quarter = _str(data.get("owner")), _str(data.get("quarter"))
    if owner and quarter:
        counts = data.get("class_counts") if isinstance(data.get("class_counts"), dict) else {}
        read = (kind(data.get(name)) for name, kind in EVALUATED_FIELDS)
        when = _ts(data.get("evaluated_at")) or at
        batch.add(EVALUATION_UPSERT, (owner, quarter, _str(data.get("scope")), when, *read, _json(counts), _json(data)))


def _network(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
    code = _str(data.get("code"))
    if code:
        graded = _strs(data, "kind", "scope", "owner", "graded_in", "grade").values()
        level, network_class = _int(data.get("authenticity_level")), _str(data.get("network_class"))
        batch.add(NETWORK_UPSERT, (code, *graded, level, network_class, _ts(data.get("updated_at")) or at))


def _refusal(batch: Batch, envelope: Envelope, data: dict[str, Any], at: datetime) -> None:
    codes = data.get("problems") or data.get("codes") or data.get("errors") or []
    if isinstance(codes, list):
        codes = [c.get("code") if isinstance(c, dict) else c for c in codes]
    dealer = _str(data.get("dealer")) or _str(data.get("entered_by"))
    when = _ts(data.get("refused_at")) or _ts(data.get("occurred_at")) or at
    dims = _row(list(DIMS), {**_dims(data, "region_code"), "entered_by": dealer})
    batch.add(REFUSAL_INSERT, (envelope.id, dealer, _json(codes if isinstance(codes, list) else []), when, *dims))


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
    _keep(batch, envelope, data, at)


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
