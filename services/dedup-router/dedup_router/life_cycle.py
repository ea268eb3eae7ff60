"""The router's side of a lead's life cycle (contract.md "Lead life cycle across the services").

The facts and how they combine are the kit's (`leadnet_shared.life_cycle`). A closed lead no longer counts as its
entrant's open lead (`status = 'closed'`: the duplicate rule, withdrawal and sales attribution read only open
leads), so the same dealer may enter that customer again. A returned lead stays open here: it is still the
entrant's lead, which the entrant re-checks instead of entering the customer again.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.models import RoutedLead
from dedup_router.repository.leads import lock_leads
from leadnet_shared.life_cycle import Fact, LifeCycle


def routing_status(state: LifeCycle) -> str:
    """The `leads.status` column: `closed` once closed, else `open` (a returned lead is still the entrant's)."""
    return "closed" if state.status == "closed" else "open"


def state_of(lead: RoutedLead) -> LifeCycle:
    return LifeCycle(lead.closed_at, lead.closed_reason, lead.return_round, lead.reopen_round)


async def apply_life_cycle(session: AsyncSession, facts: Sequence[tuple[str, Fact]]) -> int:
    """Apply a poll's facts (lead id, fact) to the leads they name, rows locked in id order; returns the number of
    leads changed. A lead the router never routed (another deployment's, or a test's) is skipped."""
    by_lead: dict[str, list[Fact]] = {}
    for lead_id, fact in facts:
        by_lead.setdefault(lead_id, []).append(fact)
    if not by_lead:
        return 0
    changed = 0
    for lead in await lock_leads(session, list(by_lead)):
        before = state_of(lead)
        state = before
        for fact in by_lead[lead.lead_id]:
            state = state.after(fact)
        if state == before:
            continue
        lead.closed_at, lead.closed_reason = state.closed_at, state.closed_reason
        lead.return_round, lead.reopen_round = state.return_round, state.reopen_round
        lead.status = routing_status(state)
        changed += 1
    await session.flush()
    return changed
