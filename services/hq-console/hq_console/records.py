"""The masked list behind every figure: the same condition as the figure (`insights.MEASURES`), keyset-paged with
the kit's cursor. Rows carry ids, dimensions and the customer as the public topics masked it (masked again here if
a producer ever sent more, so no page shows a full phone number or street address)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hq_console.filters import Filters, Scope
from hq_console.insights import MEASURES, measure_where
from hq_console.models import Lead, LedgerEntry, PendingSale, Refusal, Sale, Task, TierChange
from hq_console.periods import Period
from leadnet_shared.masking import mask_name, mask_phone, region_label
from leadnet_shared.pagination import Page, PageParams, fetch_page

Metric = Literal[
    "records_received",
    "records_accepted",
    "duplicates_refused",
    "refused_at_intake",
    "cross_region",
    "verified",
    "accepted_verified",
    "promoted",
    "sold",
    "rewards",
    "tasks_open",
    "tasks_overdue",
    "new_customers",
    "lost_customers",
    "upgraded_customers",
    "repeat_purchases",
    "funnel_accepted",
    "funnel_verified",
    "funnel_promoted",
    "funnel_sold",
    "callbacks_due",
    "callbacks_on_time",
    "callbacks_late",
    "callbacks_open",
    "promotions_due",
    "promotions_on_time",
    "promotions_late",
    "promotions_open",
    "tasks_became_overdue",
    "tasks_escalated",
    "callbacks_completed",
    "cross_region_sales",
    "sales_pending",
    "sales_rejected",
]
_MODELS: dict[str, Any] = {
    "leads": Lead,
    "refusals": Refusal,
    "sales": Sale,
    "ledger_entries": LedgerEntry,
    "tasks": Task,
    "tier_changes": TierChange,
    "pending_sales": PendingSale,
}


class MaskedCustomer(BaseModel):
    name: str | None = None
    phone: str | None = None
    address: str | None = None


class RecordItem(BaseModel):
    id: str
    kind: str  # lead | refusal | sale | ledger_entry | task | tier_change | pending_sale
    at: datetime  # the instant the figure counts it by
    lead_id: str | None = None
    customer_id: str | None = None
    dealer: str | None = None  # the dealer the figure's dealer filter applies to
    entered_by: str | None = None
    region_code: str | None = None
    region_name: str | None = None
    product_line: str | None = None
    tier: str | None = None
    source: str | None = None
    network_code: str | None = None
    status: str | None = None
    detail: str | None = None  # reject or close reason, task kind and outcome, reward kind, tier change
    amount_fen: int | None = None
    vehicles: int | None = None
    due_at: datetime | None = None
    customer: MaskedCustomer | None = None


def safe_masked(customer: dict[str, Any] | None, region_code: str | None) -> MaskedCustomer | None:
    """The public event's masked customer, masked again where a value does not look masked."""
    if not customer:
        return None
    name, phone, address = customer.get("name"), customer.get("phone"), customer.get("address")
    if phone and "*" not in phone:
        phone = mask_phone(phone)
    if name and "*" not in name:
        name = mask_name(name)
    if address and not address.endswith("***"):
        address = (region_label(region_code) or "") + "***"
    return MaskedCustomer(name=name, phone=phone, address=address)


def _item(table: str, row: Any, at: datetime) -> RecordItem:
    common: dict[str, Any] = {
        "region_code": row.region_code,
        "region_name": region_label(row.region_code) if row.region_code and len(row.region_code) == 6 else None,
        "product_line": row.product_line,
        "tier": row.tier,
        "source": row.source,
        "network_code": row.network_code,
        "entered_by": row.entered_by,
        "at": at,
    }
    if table == "leads":
        return RecordItem(
            id=row.lead_id,
            kind="lead",
            lead_id=row.lead_id,
            customer_id=row.customer_id,
            dealer=row.assigned_dealer,
            status=row.status,
            detail=row.reject_reason or row.close_reason,
            customer=safe_masked(row.customer_masked, row.region_code),
            **common,
        )
    if table == "refusals":
        return RecordItem(
            id=row.event_id, kind="refusal", dealer=row.dealer, detail=",".join(row.codes or []), **common
        )
    if table == "sales":
        return RecordItem(
            id=row.sale_id,
            kind="sale",
            lead_id=row.lead_id,
            customer_id=row.customer_id,
            dealer=row.credited_dealer,
            status="cancelled" if row.cancelled_at else "attributed",
            detail=row.violation,
            vehicles=row.vehicles,
            **common,
        )
    if table == "ledger_entries":
        return RecordItem(
            id=row.entry_id,
            kind="ledger_entry",
            lead_id=row.lead_id,
            customer_id=row.customer_id,
            dealer=row.dealer,
            detail=row.kind,
            amount_fen=row.amount_fen,
            **common,
        )
    if table == "tasks":
        return RecordItem(
            id=row.task_id,
            kind="task",
            lead_id=row.lead_id,
            customer_id=row.customer_id,
            dealer=row.dealer,
            status=row.status,
            detail=row.kind if not row.outcome else f"{row.kind}:{row.outcome}",
            due_at=row.due_at,
            **common,
        )
    if table == "pending_sales":
        return RecordItem(
            id=row.sale_id,
            kind="pending_sale",
            lead_id=row.lead_id,
            customer_id=row.customer_id,
            dealer=row.seller,
            status=row.outcome or "pending",
            detail=f"rejected_by:{row.rejected_by}" if row.rejected_by else row.confirmer,
            vehicles=row.vehicles,
            **common,
        )
    return RecordItem(
        id=row.event_id,
        kind="tier_change",
        lead_id=row.lead_id,
        customer_id=row.customer_id,
        detail=f"{row.old_tier}->{row.new_tier}",
        **common,
    )


async def records(
    session: AsyncSession,
    metric: str,
    period: Period,
    filters: Filters,
    scope: Scope,
    *,
    now: datetime,
    page: PageParams,
) -> Page[RecordItem]:
    """One page of the rows behind `metric`, oldest first by the instant the figure counts them by."""
    measure = MEASURES[metric]
    model = _MODELS[measure.table]
    where = measure_where(metric, period, filters, scope, now=now)
    # The figure's condition names the table by its alias: the ORM entity is aliased the same.
    entity = aliased(model, name=measure.alias)
    query = select(entity).where(text(where.sql()).bindparams(**where.used_params()))
    time_column, key_column = getattr(entity, measure.time), getattr(entity, measure.key)
    # `?updated_since=` (contract.md "Lists"): a fact that changes (a lead's status, a task) by its updated_at; an
    # immutable one (a refusal, a posting, a tier change) by the instant it counts at.
    changed_at = getattr(entity, "updated_at", None) if hasattr(model, "updated_at") else time_column
    result = await fetch_page(session, query, order=[time_column, key_column], params=page, changed_at=changed_at)
    items = [_item(measure.table, row, getattr(row, measure.time)) for row in result.rows]
    return Page(items=items, next_cursor=result.next_cursor, total=result.total)
