"""What the notifier makes of the public events: which webhook kind each one is, for which dealer, in which order.

The events are read as plain JSON (a field or type this code does not know is ignored, never an error). A payload
carries ids and the already-masked data of the public topic only, copied field by field from an allow-list: the
receiver reads anything more through the API with its own token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.app import Runtime
from leadnet_shared.consumer import BatchHandler
from leadnet_shared.events import Envelope
from notifier.queue import Notice, enqueue, wake

LEAD_ACCEPTED = "leadnet.lead.accepted"
LEAD_REASSIGNED = "leadnet.lead.reassigned"
TASK_DUE = "leadnet.task.due"
TASK_OVERDUE = "leadnet.task.overdue"
ENTRY_POSTED = "leadnet.ledger.entry_posted"
# Published by the router once a sale needs the supplying dealer's confirmation (issue 21); read generically, so
# the notifier works before and after that event is in the catalogue.
SALE_PENDING = "leadnet.sale.pending_confirmation"

WEBHOOK_SOURCE_TYPES = frozenset({LEAD_ACCEPTED, LEAD_REASSIGNED, TASK_DUE, TASK_OVERDUE, ENTRY_POSTED, SALE_PENDING})

_LEAD_FIELDS = ("lead_id", "customer_id", "entered_by", "assigned_dealer", "tier", "region_code", "product_line",
                "lead_version")  # fmt: skip
_MASKED_CUSTOMER = ("name", "phone")  # masked on the public topic already (leadnet_shared.masking)
_TASK_FIELDS = ("task_id", "lead_id", "customer_id", "dealer", "kind", "due_at", "status", "occurred_at")
_ENTRY_FIELDS = ("entry_id", "kind", "dealer", "amount_fen", "lead_id", "customer_id", "sale_id", "vin", "reverses",
                 "posted_at")  # fmt: skip
_SALE_FIELDS = ("sale_id", "customer_id", "attributed_lead_id", "seller", "supplied_by", "confirmer", "region_code",
                "product_line", "vehicle_count", "sold_at", "reported_at")  # fmt: skip


def _pick(data: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    return {f: data[f] for f in fields if data.get(f) is not None}


def _order_key(data: dict[str, Any], fallback: str) -> str:
    """Deliveries about one customer go out in order; an event without a customer is ordered by its own aggregate."""
    customer = data.get("customer_id")
    return f"customer:{customer}" if isinstance(customer, str) and customer else fallback


def _lead(data: dict[str, Any]) -> dict[str, Any]:
    out = _pick(data, _LEAD_FIELDS)
    customer = data.get("customer")
    if isinstance(customer, dict):
        masked = _pick(customer, _MASKED_CUSTOMER)
        if masked:
            out["customer"] = masked
    return out


def _accepted(data: dict[str, Any]) -> list[Notice]:
    dealer = data.get("assigned_dealer")
    if not isinstance(dealer, str) or not dealer:
        return []  # in HQ's pool: nobody is assigned yet
    body = _lead(data) | _pick(data, ("protection_until", "accepted_at"))
    return [Notice("lead.assigned", dealer, _order_key(data, f"lead:{data.get('lead_id')}"), body)]


def _reassigned(data: dict[str, Any]) -> list[Notice]:
    body = _lead(data) | _pick(data, ("from_dealer", "to_dealer", "reason", "reassigned_at"))
    key = _order_key(data, f"lead:{data.get('lead_id')}")
    notices = []
    to_dealer, from_dealer = data.get("to_dealer"), data.get("from_dealer")
    # The dealer that loses the customer hears lead.reassigned; the one that gets it hears both lead.assigned (it
    # now must act) and lead.reassigned (why).
    for dealer in dict.fromkeys(d for d in (from_dealer, to_dealer) if isinstance(d, str) and d):
        notices.append(Notice("lead.reassigned", dealer, key, body))
    if isinstance(to_dealer, str) and to_dealer:
        notices.append(Notice("lead.assigned", to_dealer, key, body))
    return notices


def _to_dealer(kind: str, aggregate: str, fields: tuple[str, ...]) -> Callable[[dict[str, Any]], list[Notice]]:
    """A notice for the event's `dealer` (none without one) with `fields`, the first of them the aggregate's id."""

    def make(data: dict[str, Any]) -> list[Notice]:
        dealer = data.get("dealer")
        if not isinstance(dealer, str) or not dealer:
            return []
        return [Notice(kind, dealer, _order_key(data, f"{aggregate}:{data.get(fields[0])}"), _pick(data, fields))]

    return make


def _sale_pending(data: dict[str, Any]) -> list[Notice]:
    # Who must confirm: the supplying dealer, or "hq" (then HQ's subscriptions only: HQ_OWNER is "hq" too).
    dealer = next((v for v in (data.get("confirmer"), data.get("supplied_by")) if isinstance(v, str) and v), None)
    if dealer is None:
        return []
    body = _pick(data, _SALE_FIELDS)
    return [Notice("sale.pending_confirmation", dealer, _order_key(data, f"sale:{data.get('sale_id')}"), body)]


NOTICES: dict[str, Callable[[dict[str, Any]], list[Notice]]] = {
    LEAD_ACCEPTED: _accepted,
    LEAD_REASSIGNED: _reassigned,
    TASK_DUE: _to_dealer("task.due", "task", _TASK_FIELDS),
    TASK_OVERDUE: _to_dealer("task.overdue", "task", _TASK_FIELDS),
    ENTRY_POSTED: _to_dealer("ledger.entry_posted", "entry", _ENTRY_FIELDS),
    SALE_PENDING: _sale_pending,
}


def notices_of(envelope: Envelope) -> list[Notice]:
    make = NOTICES.get(envelope.type)
    if make is None or not isinstance(envelope.data, dict):
        return []
    return make(envelope.data)


def webhook_handler(runtime: Runtime) -> BatchHandler:
    async def handle(session: AsyncSession, envelopes: list[Envelope]) -> None:
        outgoing = [(e, n) for e in envelopes for n in notices_of(e)]
        if outgoing and await enqueue(session, outgoing, now=runtime.clock.now()):
            # Heard by the delivery worker when this transaction commits: it starts at once instead of at its
            # next poll.
            await wake(session)

    return handle
