"""The HQ queue is worked, not a dead end (contract.md "Lead life cycle across the services").

Customers nobody is authorized for wait in the HQ queue (`assigned_dealer` null), with their open leads. They
leave it two ways:
- HQ assigns one (`POST /v1/customers/{id}/assign`): to the dealer HQ names, with its open leads;
- a dealer is registered, or gains a territory or product line (`PATCH /v1/dealers/{code}`): every queued customer
  in its territories is placed again by the rule that places a withdrawn dealer's customers (`withdrawal.
  place_items` over `fairness.route_to_authorized_dealer`: region, product line, capability), so the dealer it
  goes to is the one routing would pick now, which is not always the dealer that changed.
Either way each lead moved publishes `leadnet.lead.reassigned` (reason `hq_assigned` or `queue_rerouted`, from
dealer null), which the scheduler reads as "plan the first task now" and intake shows as `reassigned`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.dealer_index import profile
from dedup_router.models import Customer, RoutedLead
from dedup_router.redistribution import apply_moves, held_items
from dedup_router.repository.customers import customer_by_id, lock_queued_customers
from dedup_router.repository.dealers import all_dealers, dealer_by_code
from dedup_router.repository.leads import lock_queued_leads
from dedup_router.repository.pools import pool_counts
from dedup_router.withdrawal import PlannedMove, plan_queued
from leadnet_shared.outbox import Outbox
from leadnet_shared.problems import Conflict, FieldProblem, NotFound, ValidationFailed

HQ_ASSIGNED = "hq_assigned"
QUEUE_REROUTED = "queue_rerouted"


async def _queued(
    session: AsyncSession, *, customer_ids: list[str] | None = None, territories: list[str] | None = None
) -> tuple[list[Customer], list[RoutedLead]]:
    """Queued customers (by id, or in these territories) and the open leads of theirs that have no dealer, locked."""
    customers = await lock_queued_customers(session, customer_ids=customer_ids, territories=territories)
    if not customers:
        return [], []
    return customers, await lock_queued_leads(session, [c.customer_id for c in customers])


async def _leave_queue(
    session: AsyncSession,
    outbox: Outbox,
    customers: list[Customer],
    leads: list[RoutedLead],
    moves: Sequence[PlannedMove],
    *,
    reason: str,
    now: datetime,
) -> int:
    """Apply the moves out of the queue (a move to None leaves its item queued); returns how many leads moved."""
    await apply_moves(
        session, outbox, moves=moves, from_dealer=None, reason=reason, customers=customers, leads=leads, now=now
    )
    return sum(1 for m in moves if m.kind == "lead" and m.new_dealer is not None)


async def reroute_queued_customers(
    session: AsyncSession, outbox: Outbox, *, territories: list[str], now: datetime
) -> int:
    """Place the queued customers in `territories` (a dealer's, just registered or widened) with the dealers now
    authorized for them; returns how many leads moved. The caller holds the changed dealer's row."""
    customers, leads = await _queued(session, territories=territories)
    if not customers:
        return 0
    moves = plan_queued(
        dealers=[profile(d) for d in await all_dealers(session)],
        items=held_items(customers, leads),
        pool_counts=await pool_counts(session),
    )
    return await _leave_queue(session, outbox, customers, leads, moves, reason=QUEUE_REROUTED, now=now)


async def assign_queued_customer(
    session: AsyncSession, outbox: Outbox, *, customer_id: str, dealer: str, by: str, now: datetime
) -> Customer:
    """HQ's decision: a queued customer and its waiting leads go to `dealer` (an active one)."""
    chosen = await dealer_by_code(session, dealer, for_update=True)
    if chosen is None or chosen.status != "active":
        raise ValidationFailed(
            "The request has field problems; see errors.",
            errors=[FieldProblem("/dealer", "unknown_dealer", "no active dealer has this code")],
        )
    customer = await customer_by_id(session, customer_id)
    if customer is None:
        raise NotFound("No such customer.")
    customers, leads = await _queued(session, customer_ids=[customer_id])
    if not customers:
        raise Conflict(
            f"The customer is assigned to {customer.assigned_dealer}, not waiting in the HQ queue.",
            code="customer_not_queued",
        )
    how = {"rule": HQ_ASSIGNED, "by": by, "chosen": dealer}
    moves = [PlannedMove(item_id=customer_id, kind="customer", new_dealer=dealer, pool=None, explanation=how)]
    moves += [
        PlannedMove(item_id=lead.lead_id, kind="lead", new_dealer=dealer, pool=None, explanation=how) for lead in leads
    ]
    await _leave_queue(session, outbox, customers, leads, moves, reason=HQ_ASSIGNED, now=now)
    return customers[0]
