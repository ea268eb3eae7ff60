"""redistribute_withdrawn_dealer: apply `withdrawal.plan_withdrawal` to the registry (domain.md §3 撤點經銷商).

One transaction: the dealer row is locked first (routing share-locks the dealers it picks, so a lead being routed
to this dealer right now is committed before the items are read and is taken along), then every customer and
open lead it holds is read, planned, moved, and announced: one `leadnet.lead.reassigned` (reason
`dealer_withdrawn`) per lead, a `leadnet.customer.upserted` per customer, `leadnet.dealer.withdrawn`, and the
dealer's own `leadnet.dealer.upserted` with status `withdrawn` last, so the compacted dealers topic keeps the
profile. A dry run computes the same plan and rolls nothing forward.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.dealer_index import bump_dealers_version, profile
from dedup_router.events import (
    publish_customer_upserted,
    publish_dealer_upserted,
    publish_dealer_withdrawn,
    publish_lead_reassigned,
)
from dedup_router.models import Customer, Dealer, PoolCount, RoutedLead
from dedup_router.routing import add_to_pool_counts
from dedup_router.withdrawal import HeldItem, PlannedMove, WithdrawalPlan, plan_withdrawal
from leadnet_shared.outbox import Outbox
from leadnet_shared.problems import Conflict, NotFound

log = logging.getLogger(__name__)

DEALER_WITHDRAWN = "dealer_withdrawn"
UNKNOWN_LINE = "unknown"


def held_items(customers: Sequence[Customer], leads: Sequence[RoutedLead]) -> list[HeldItem]:
    """The customers and open leads to place again (a withdrawn dealer's, or the HQ queue's), as the placement
    rule sees them."""
    items = [
        HeldItem(
            item_id=c.customer_id,
            kind="customer",
            customer_id=c.customer_id,
            region_code=c.region_code,
            product_line=c.product_line or UNKNOWN_LINE,
        )
        for c in customers
    ]
    items += [
        HeldItem(
            item_id=lead.lead_id,
            kind="lead",
            customer_id=lead.customer_id,
            region_code=lead.region_code,
            product_line=lead.product_line or UNKNOWN_LINE,
        )
        for lead in leads
    ]
    return items


async def pool_counts(session: AsyncSession) -> dict[tuple[str, str], dict[str, int]]:
    """How many leads each dealer got per (territory prefix, product line): the fairness rule's input."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for row in (await session.execute(select(PoolCount))).scalars():
        counts.setdefault((row.prefix, row.product_line), {})[row.dealer] = row.assigned
    return counts


async def redistribute_withdrawn_dealer(
    session: AsyncSession, outbox: Outbox, *, code: str, now: datetime, prefix: str, dry_run: bool
) -> dict[str, Any]:
    """Withdraw `code` and hand on everything it holds; with `dry_run` only return the plan's counts."""
    dealer = await session.get(Dealer, code, with_for_update=True)
    if dealer is None:
        raise NotFound("No such dealer.")
    if dealer.status == "withdrawn":
        raise Conflict(f"Dealer {code} is already withdrawn.", code="dealer_already_withdrawn")
    customers = list(
        (
            await session.execute(
                select(Customer)
                .where(Customer.assigned_dealer == code)
                .order_by(Customer.customer_id)
                .with_for_update()
            )
        ).scalars()
    )
    leads = list(
        (
            await session.execute(
                select(RoutedLead)
                .where(RoutedLead.assigned_dealer == code, RoutedLead.status == "open")
                .order_by(RoutedLead.lead_id)
                .with_for_update()
            )
        ).scalars()
    )
    items = held_items(customers, leads)
    all_dealers = (await session.execute(select(Dealer))).scalars().all()
    counts = await pool_counts(session)
    plan = plan_withdrawal(
        withdrawn_dealer=code, dealers=[profile(d) for d in all_dealers], items=items, pool_counts=counts
    )
    if dry_run:
        return {"dry_run": True, **plan.summary()}
    await _apply(session, outbox, plan=plan, code=code, customers=customers, leads=leads, now=now, prefix=prefix)
    dealer.status = "withdrawn"
    dealer.updated_at = now
    await bump_dealers_version(session)
    await session.flush()
    await publish_dealer_withdrawn(
        session, outbox, prefix=prefix, code=code, reassigned=plan.reassigned, unplaced=plan.unplaced, now=now
    )
    await publish_dealer_upserted(session, outbox, prefix=prefix, dealer=dealer, now=now)
    log.info("dealer withdrawn", extra={"dealer": code, "reassigned": plan.reassigned, "unplaced": plan.unplaced})
    return {
        "reassigned": plan.reassigned,
        "unplaced": plan.unplaced,
        "per_dealer": dict(sorted(plan.per_dealer.items())),
    }


async def _apply(
    session: AsyncSession,
    outbox: Outbox,
    *,
    plan: WithdrawalPlan,
    code: str,
    customers: list[Customer],
    leads: list[RoutedLead],
    now: datetime,
    prefix: str,
) -> None:
    await apply_moves(
        session,
        outbox,
        moves=plan.moves,
        from_dealer=code,
        reason=DEALER_WITHDRAWN,
        customers=customers,
        leads=leads,
        now=now,
        prefix=prefix,
    )


async def apply_moves(
    session: AsyncSession,
    outbox: Outbox,
    *,
    moves: Sequence[PlannedMove],
    from_dealer: str | None,
    reason: str,
    customers: list[Customer],
    leads: list[RoutedLead],
    now: datetime,
    prefix: str,
) -> None:
    """Move customers and leads as planned (from a withdrawn dealer, or out of the HQ queue when `from_dealer` is
    None), count the leads in their pools, and announce one `leadnet.lead.reassigned` per lead and a
    `leadnet.customer.upserted` per customer. A move to None (nobody authorized) leaves the item queued."""
    by_item = {(m.kind, m.item_id): m for m in moves}
    given: Counter[tuple[str, str, str]] = Counter()
    moved_customers: list[Customer] = []
    for customer in customers:
        move = by_item[("customer", customer.customer_id)]
        if from_dealer is None and move.new_dealer is None:
            continue  # still nobody's: it stays in the queue unchanged
        customer.assigned_dealer = move.new_dealer
        if customer.authorized_dealer == from_dealer or customer.authorized_dealer is None:
            customer.authorized_dealer = move.new_dealer
        if from_dealer is not None and customer.protected_by == from_dealer:
            # The protected entrant is gone: its month ends with it, the customer is the authorized dealer's.
            customer.protected_by, customer.protection_until = None, None
        customer.updated_at = now
        moved_customers.append(customer)
    moved_leads: list[RoutedLead] = []
    for lead in leads:
        move = by_item[("lead", lead.lead_id)]
        if from_dealer is None and move.new_dealer is None:
            continue
        lead.assigned_dealer = move.new_dealer
        lead.version += 1
        if lead.authorized_dealer == from_dealer or lead.authorized_dealer is None:
            lead.authorized_dealer = move.new_dealer
        audit = "withdrawal" if from_dealer is not None else "hq_queue"
        lead.explanation = {
            **lead.explanation,
            audit: {"from": from_dealer, "to": move.new_dealer, "at": now.isoformat(), "how": move.explanation},
        }
        # Pool counts record leads (as routing does), so later routing in the pool stays fair.
        if move.new_dealer is not None and move.pool is not None:
            given[(*move.pool, move.new_dealer)] += 1
        moved_leads.append(lead)
    await add_to_pool_counts(session, given)
    await session.flush()
    for lead in moved_leads:
        await publish_lead_reassigned(
            session, outbox, prefix=prefix, lead=lead, from_dealer=from_dealer, reason=reason, now=now
        )
    for customer in moved_customers:
        await publish_customer_upserted(session, outbox, prefix=prefix, customer=customer, now=now)
