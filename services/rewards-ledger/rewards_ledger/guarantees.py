"""HQ sets a vehicle's profit guarantee (domain.md §3: 1000-3000 CNY, HQ coordinates): in range, before payout,
as a reversal of what was posted plus a new entry; set while the record is not verified yet, it is paid at that
amount when it is."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.outbox import Outbox
from leadnet_shared.policy import PROFIT_GUARANTEE
from leadnet_shared.problems import Conflict, NotFound, ValidationFailed
from rewards_ledger.payouts import month_of
from rewards_ledger.repository import facts, payouts
from rewards_ledger.repository.locks import lock
from rewards_ledger.rewards import Claim, SaleState, claims_guarantee, guarantee_amount_problems
from rewards_ledger.schemas import GuaranteeOut
from rewards_ledger.settlement import lead_lock, live_postings, postings_of_lead, sale_lock, settle_lead


async def set_guarantee_amount(
    session: AsyncSession,
    outbox: Outbox,
    *,
    sale_id: str,
    vin: str,
    amount_fen: int,
    set_by: str,
    now: datetime,
    prefix: str,
    policy: dict[str, Any],
) -> GuaranteeOut:
    """Record HQ's amount and settle the record; 422 out of range, 404 unknown vehicle, 409 when not allowed."""
    problems = guarantee_amount_problems(amount_fen, policy=policy)
    if problems:
        raise ValidationFailed("The amount is outside the profit guarantee range.", errors=problems)
    await lock(session, sale_lock(sale_id))
    sale = await facts.sale(session, sale_id)
    vehicle = await facts.sale_vehicle(session, sale_id, vin)
    if sale is None or vehicle is None:
        raise NotFound("No such sale or vehicle known to the ledger (an attribution may still be on its way).")
    if await facts.sale_cancelled(session, sale_id):
        raise Conflict("The sale was cancelled; it earns no guarantee.", code="sale_cancelled")
    if sale.lead_id is None:
        raise Conflict("The sale is attributed to no record; it earns no guarantee.", code="no_profit_guarantee")
    await lock(session, lead_lock(sale.lead_id))
    state = SaleState(
        sale_id=sale_id,
        seller=sale.seller,
        supplied_by=sale.supplied_by,
        sold_at=sale.sold_at,
        vehicles=((vin, vehicle.product_line),),
        claims=tuple(Claim.of(c) for c in sale.claims),
    )
    if not claims_guarantee(state, vin):  # the router's attribution decides which vehicles earn one
        raise Conflict(
            "This vehicle was not sold by the record's entrant with the authorized dealer's supply.",
            code="no_profit_guarantee",
        )
    fact = f"{PROFIT_GUARANTEE}:{sale_id}:{vin}"
    standing = live_postings(await postings_of_lead(session, sale.lead_id)).get(fact)
    if standing is not None and await payouts.payout(session, month_of(standing.posted_at)) is not None:
        raise Conflict(
            f"The guarantee was paid out with the {month_of(standing.posted_at)} statement.", code="guarantee_paid_out"
        )
    await facts.record_guarantee_setting(
        session, sale_id=sale_id, vin=vin, amount_fen=amount_fen, set_by=set_by, now=now
    )
    settled = await settle_lead(
        session, outbox, lead_id=sale.lead_id, now=now, prefix=prefix, policy=policy, locked=True
    )
    live = live_postings(await postings_of_lead(session, sale.lead_id)).get(fact)
    return GuaranteeOut(
        sale_id=sale_id,
        vin=vin,
        amount_fen=amount_fen,
        status="posted" if live is not None else "pending",
        entry_id=live.entry_id if live is not None else None,
        reversed_entry_id=standing.entry_id if standing is not None and settled.reversed else None,
    )
