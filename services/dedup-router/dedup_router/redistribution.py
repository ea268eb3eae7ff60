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

from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.dealer_index import profile
from dedup_router.events import (
    publish_customer_upserted,
    publish_dealer_upserted,
    publish_dealer_withdrawn,
    publish_lead_reassigned,
)
from dedup_router.models import Customer, RoutedLead
from dedup_router.repository import customers as registry
from dedup_router.repository import leads as lead_rows
from dedup_router.repository.dealers import all_dealers, bump_dealers_version, dealer_by_code
from dedup_router.repository.pools import add_to_pool_counts, pool_counts
from dedup_router.withdrawal import HeldItem, PlannedMove, plan_withdrawal
from leadnet_shared.outbox import Outbox
from leadnet_shared.problems import Conflict, NotFound

log = logging.getLogger(__name__)

DEALER_WITHDRAWN = "dealer_withdrawn"
UNKNOWN_LINE = "unknown"


def held_items(customers: Sequence[Customer], leads: Sequence[RoutedLead]) -> list[HeldItem]:
    """The customers and open leads to place again (a withdrawn dealer's, or the HQ queue's), as the placement
    rule sees them."""
    held: list[tuple[str, str, Customer | RoutedLead]] = [(c.customer_id, "customer", c) for c in customers]
    held += [(lead.lead_id, "lead", lead) for lead in leads]
    return [
        HeldItem(
            item_id=item_id,
            kind=kind,
            customer_id=row.customer_id,
            region_code=row.region_code,
            product_line=row.product_line or UNKNOWN_LINE,
        )
        for item_id, kind, row in held
    ]


async def redistribute_withdrawn_dealer(
    session: AsyncSession, outbox: Outbox, *, code: str, now: datetime, dry_run: bool
) -> dict[str, Any]:
    """Withdraw `code` and hand on everything it holds; with `dry_run` only return the plan's counts."""
    dealer = await dealer_by_code(session, code, for_update=True)
    if dealer is None:
        raise NotFound("No such dealer.")
    if dealer.status == "withdrawn":
        raise Conflict(f"Dealer {code} is already withdrawn.", code="dealer_already_withdrawn")
    customers = await registry.lock_customers_of_dealer(session, code)
    leads = await lead_rows.lock_open_leads_of_dealer(session, code)
    items = held_items(customers, leads)
    dealers = [profile(d) for d in await all_dealers(session)]
    plan = plan_withdrawal(withdrawn_dealer=code, dealers=dealers, items=items, pool_counts=await pool_counts(session))
    if dry_run:
        return {"dry_run": True, **plan.summary()}
    await apply_moves(
        session,
        outbox,
        moves=plan.moves,
        from_dealer=code,
        reason=DEALER_WITHDRAWN,
        customers=customers,
        leads=leads,
        now=now,
    )
    dealer.status = "withdrawn"
    dealer.updated_at = now
    await bump_dealers_version(session)
    await session.flush()
    await publish_dealer_withdrawn(
        session, outbox, code=code, reassigned=plan.reassigned, unplaced=plan.unplaced, now=now
    )
    await publish_dealer_upserted(session, outbox, dealer=dealer, now=now)
    log.info("dealer withdrawn", extra={"dealer": code, "reassigned": plan.reassigned, "unplaced": plan.unplaced})
    return {
        "reassigned": plan.reassigned,
        "unplaced": plan.unplaced,
        "per_dealer": dict(sorted(plan.per_dealer.items())),
    }


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
        await publish_lead_reassigned(session, outbox, lead=lead, from_dealer=from_dealer, reason=reason, now=now)
    for customer in moved_customers:
        await publish_customer_upserted(session, outbox, customer=customer, now=now)
