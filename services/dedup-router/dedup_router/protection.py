"""Big-customer protection (domain.md §3 跨區域): its end, on time, and what other dealers may learn of it.

At `protection_until` the customer and the open leads its first entrant holds move to the authorized dealer
(the one routed at entry, if still authorized; else routed again by region, product line and capability; else
the HQ queue). The timer is durable: due customers are claimed in the database (`FOR UPDATE SKIP LOCKED`, so
replicas share them and a crash leaves them due), and the `leadnet.lead.reassigned` events go through the outbox
in the same transaction, so each move happens and is announced exactly once.

What a dealer may learn (`protection_status`): for a customer assigned to it or protected by it, whether it is
protected, until when and by whom (confidentiality.sees_protection, the rule the customer view follows too);
nothing about anyone else's customers (an unknown phone and another dealer's customer
give the same answer, `disclosed: false`), so the lookup does not tell whether a phone is a customer. Never the
customer id, nothing personal.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.confidentiality import sees_protection
from dedup_router.dealer_index import DealerIndexCache, current_index
from dedup_router.events import publish_customer_upserted, publish_lead_reassigned
from dedup_router.fairness import route_to_authorized_dealer
from dedup_router.models import Customer
from dedup_router.repository.customers import claim_due_protections
from dedup_router.repository.leads import lock_open_leads_held
from dedup_router.repository.pools import add_to_pool_counts, lock_pools
from dedup_router.state import dealer_cache
from dedup_router.territories import TerritoryIndex, is_authorized
from leadnet_shared.app import Runtime
from leadnet_shared.auth import Principal
from leadnet_shared.outbox import Outbox
from leadnet_shared.workers import Step

log = logging.getLogger(__name__)

PROTECTION_EXPIRED = "protection_expired"


@dataclass(frozen=True, slots=True)
class ProtectionStatus:
    """The answer to "may I enter this customer?": protected or not, until when and by whom, for those
    `sees_protection` names."""

    protected: bool
    protection_until: datetime | None = None
    protected_by: str | None = None
    protected_by_you: bool = False
    disclosed: bool = True


def protection_status(customer: Customer | None, *, principal: Principal, now: datetime) -> ProtectionStatus:
    """Protected iff the first entrant's month is still running at `now`.

    Only those `sees_protection` names (HQ, the dealers the customer is with) are told, the same rule as the
    customer view's `protected_by`: any other dealer gets the one answer `disclosed: false` whatever the phone, so
    the lookup is no oracle of who is a customer (issue 16 §1)."""
    if customer is None:
        # Not a customer: HQ is told so; a dealer gets what it gets for another dealer's customer.
        return ProtectionStatus(protected=False, disclosed=principal.is_hq)
    if not sees_protection(customer, principal):
        return ProtectionStatus(protected=False, disclosed=False)
    if customer.protected_by is None or customer.protection_until is None:
        return ProtectionStatus(protected=False)
    if now >= customer.protection_until:
        return ProtectionStatus(protected=False)  # expired; the timer moves it within a poll interval
    return ProtectionStatus(
        protected=True,
        protection_until=customer.protection_until,
        protected_by=customer.protected_by,
        protected_by_you=principal.role == "dealer" and principal.dealer == customer.protected_by,
    )


async def _authorized_dealer_now(
    session: AsyncSession, index: TerritoryIndex, customer: Customer, line: str
) -> tuple[str | None, str]:
    """The dealer routed at entry if it is still authorized; else routed again; None = the HQ queue."""
    if customer.authorized_dealer is not None:
        known = index.dealer(customer.authorized_dealer)
        if known is not None and is_authorized(known, customer.region_code, line):
            return known.code, "authorized_at_entry"
    pool = index.candidates(region_code=customer.region_code, product_line=line).pool
    counts = await lock_pools(session, {pool}) if pool else {}
    routed = route_to_authorized_dealer(
        index=index, region_code=customer.region_code, product_line=line, pool_counts=counts
    )
    if routed.dealer is None or routed.pool is None:
        return None, "no_authorized_dealer"
    await add_to_pool_counts(session, Counter({(*routed.pool, routed.dealer.code): 1}))
    return routed.dealer.code, "routed_again"


async def release_expired_protections(
    session: AsyncSession,
    outbox: Outbox,
    *,
    now: datetime,
    limit: int = 200,
    dealers: DealerIndexCache | None = None,
) -> int:
    """Move every customer whose protection ended by `now` to its authorized dealer; returns how many moved."""
    due = await claim_due_protections(session, now=now, limit=limit)
    if not due:
        return 0
    index = await current_index(session, dealers)
    for customer in due:
        holder = customer.protected_by
        line = customer.product_line or "unknown"
        target, how = await _authorized_dealer_now(session, index, customer, line)
        leads = await lock_open_leads_held(session, customer.customer_id, holder)
        for lead in leads:
            lead.assigned_dealer = target
            lead.authorized_dealer = target
            lead.version += 1
            lead.explanation = {
                **lead.explanation,
                "protection_expired": {"at": now.isoformat(), "to": target, "how": how},
            }
        if customer.assigned_dealer == holder:
            customer.assigned_dealer = target
        customer.authorized_dealer = target
        customer.protected_by = None
        customer.protection_until = None  # the lead keeps its protection_until for sales and audit
        customer.updated_at = now
        await session.flush()
        for lead in leads:
            await publish_lead_reassigned(
                session, outbox, lead=lead, from_dealer=holder, reason=PROTECTION_EXPIRED, now=now
            )
        await publish_customer_upserted(session, outbox, customer=customer, now=now)
        log.info(
            "protection ended", extra={"customer_id": customer.customer_id, "to_dealer": target, "leads": len(leads)}
        )
    return len(due)


def protection_timer(runtime: Runtime) -> Step:
    """Release due protections (a `workers.periodic` step); polls, since a month-long period needs no sub-second
    timer."""
    settings = runtime.settings
    batch = int(getattr(settings, "protection_batch_size", 200))
    poll = float(getattr(settings, "protection_poll_seconds", 1.0))
    dealers = dealer_cache(runtime)

    async def release() -> float:
        async with runtime.db.transaction() as session:
            moved = await release_expired_protections(
                session, runtime.outbox, now=runtime.clock.now(), limit=batch, dealers=dealers
            )
        return 0.0 if moved >= batch else poll  # a backlog (e.g. after downtime): keep draining

    return release
