"""Confirmed sales in the follow-up (contract.md "Lead life cycle across the services"; rules: sale_followup.py).

A `leadnet.sale.attributed` (published by the router only once the sale is confirmed) is stored, then applied to
the customer's leads: the open callbacks and promotions stop, open sale reports are done, the attributed record is
verified (`lead.verified` with `"by": "sale"`, once: a callback that verified it first wins, and a later one finds
it verified), and relationship maintenance and repurchase reminders start for the buying dealer, once per
customer. A sale can overtake its lead's verdict (two topics): a lead taken in later applies the stored sales that
happened after it was routed, so the end state does not depend on which came first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from followup_scheduler.business_calendar import default_calendar
from followup_scheduler.models import CustomerSale, FollowedLead
from followup_scheduler.relationship_maintenance import first_maintenance_contact
from followup_scheduler.repository import tasks as task_rows
from followup_scheduler.repository.leads import leads_by_id, lock_customer_leads
from followup_scheduler.repository.sales import sales_of_customers, store_sale
from followup_scheduler.sale_followup import SALE_REPORT, sale_followup_policy
from followup_scheduler.tasks import new_task, plan_repurchase, schedule_task, task_outgoing, verify_lead
from leadnet_shared.events import SaleAttributed, TaskCompleted
from leadnet_shared.outbox import Outbox


async def record_sale(
    session: AsyncSession, outbox: Outbox, *, sale: SaleAttributed, attributed_at: datetime, now: datetime
) -> None:
    """Take in one confirmed sale and apply it to the customer's leads (nothing again for a sale already known)."""
    row = await store_sale(session, sale, attributed_at=attributed_at)
    if row is None:
        return
    # Lock order: the customer's open tasks, then its leads; a task's completion locks its task, then its lead.
    await task_rows.lock_open_tasks_of_customer(session, sale.customer_id)
    leads = await lock_customer_leads(session, sale.customer_id)
    await _close_sale_reports(session, outbox, customer_id=sale.customer_id, sale_id=sale.sale_id, now=now)
    await apply_sale(session, outbox, sale=row, leads=leads, now=now)


async def apply_known_sales(
    session: AsyncSession, outbox: Outbox, *, leads: Sequence[FollowedLead], now: datetime
) -> None:
    """Leads just taken in: each gets the stored sales of its customer that came after it was routed (they
    overtook its verdict) or are attributed to it."""
    if not leads:
        return
    for sale in await sales_of_customers(session, {lead.customer_id for lead in leads}):
        concerned = [
            lead
            for lead in leads
            if lead.customer_id == sale.customer_id
            and (lead.lead_id == sale.lead_id or lead.routed_at <= sale.attributed_at)
        ]
        if concerned:
            await apply_sale(session, outbox, sale=sale, leads=concerned, now=now)


async def apply_sale(
    session: AsyncSession,
    outbox: Outbox,
    *,
    sale: CustomerSale,
    leads: Sequence[FollowedLead],
    now: datetime,
) -> None:
    """What one sale does to `leads` of its customer (locked by the caller); repeating it changes nothing."""
    if not leads:
        return  # no lead of this customer yet: applied when one comes (apply_known_sales)
    rules = sale_followup_policy()
    await task_rows.cancel_open_tasks(
        session, lead_ids=[lead.lead_id for lead in leads], now=now, kinds=rules.cancels, synchronize=False
    )
    attributed = next((lead for lead in leads if lead.lead_id == sale.lead_id), None)
    if attributed is not None:
        # A purchase proves the information true (domain.md §3 "Verification").
        await verify_lead(session, outbox, lead=attributed, by="sale", now=now, sale_id=sale.sale_id)
    # Maintenance follows the record the sale is attributed to, else the customer's newest record.
    target = attributed or max(leads, key=lambda lead: (lead.routed_at, lead.lead_id))
    if target.purchased_at is None or target.purchased_at > sale.sold_at:
        target.purchased_at = sale.sold_at
    await _start_maintenance(session, outbox, lead=target, sale=sale, now=now)
    await plan_repurchase(session, outbox, lead=target, now=now, bought=max(sale.vehicles, 1), dealer=sale.seller)


async def _start_maintenance(
    session: AsyncSession, outbox: Outbox, *, lead: FollowedLead, sale: CustomerSale, now: datetime
) -> None:
    """Relationship maintenance for the buying dealer, once per customer: an open one (a `bought` callback may have
    started it) moves to the seller."""
    existing = await task_rows.open_task_of_customer(session, customer_id=lead.customer_id, kind="maintenance")
    if existing is not None:
        existing.dealer = sale.seller
        return
    planned = first_maintenance_contact(purchased_at=sale.sold_at, calendar=default_calendar())
    due_at = max(planned.due_at, now)  # a sale reported late: the care contact is due now, not in the past
    reason = f"sale {sale.sale_id} -> {planned.reason}"
    task = new_task(
        lead=lead, planned=None, kind="maintenance", due_at=due_at, reason=reason, now=now, dealer=sale.seller
    )
    await schedule_task(session, outbox, task, lead=lead, now=now)


async def _close_sale_reports(
    session: AsyncSession, outbox: Outbox, *, customer_id: str, sale_id: str, now: datetime
) -> None:
    """The sale a `bought` callback asked for has come: the customer's open sale reports are done."""
    reports = await task_rows.open_tasks_of_customer(session, customer_id=customer_id, kind=SALE_REPORT)
    for task in reports:
        task.status, task.completed_at, task.notes = "done", now, f"sale {sale_id} reported"
    if reports:
        await session.flush()
        leads = await leads_by_id(session, {task.lead_id for task in reports})
        events = [task_outgoing(task, lead=leads.get(task.lead_id), event=TaskCompleted, now=now) for task in reports]
        await outbox.publish_many(session, events, time=now)
