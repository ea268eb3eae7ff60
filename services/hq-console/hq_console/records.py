"""The masked list behind every figure: the same condition as the figure (`repository.measures.MEASURES`),
keyset-paged with the kit's cursor. Rows carry ids, dimensions and the customer as the public topics masked it
(masked again here if a producer ever sent more, so no page shows a full phone number or street address)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from hq_console.filters import Filters, Scope
from hq_console.periods import Period
from hq_console.repository.facts import DIMS
from hq_console.repository.measures import MEASURES, measure_where
from hq_console.repository.records import facts_of
from leadnet_shared.masking import mask_name, mask_phone, region_label
from leadnet_shared.pagination import Page, PageParams

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


@dataclass(frozen=True)
class _Shape:
    """How a fact table's row reads as a list item: its kind, its id column, the column the figure's dealer filter
    applies to, its status and detail, and the columns it shows as they are."""

    kind: str
    id: str
    dealer: str | None
    status: Callable[[Any], str | None] = lambda row: None
    detail: Callable[[Any], str | None] = lambda row: None
    shown: tuple[str, ...] = ("lead_id", "customer_id")


_SHAPES = {
    "leads": _Shape(
        "lead", "lead_id", "assigned_dealer", lambda r: r.status, lambda r: r.reject_reason or r.close_reason
    ),
    "refusals": _Shape("refusal", "event_id", "dealer", detail=lambda r: ",".join(r.codes or []), shown=()),
    "sales": _Shape(
        "sale",
        "sale_id",
        "credited_dealer",
        lambda r: "cancelled" if r.cancelled_at else "attributed",
        lambda r: r.violation,
        ("lead_id", "customer_id", "vehicles"),
    ),
    "ledger_entries": _Shape(
        "ledger_entry", "entry_id", "dealer", detail=lambda r: r.kind, shown=("lead_id", "customer_id", "amount_fen")
    ),
    "tasks": _Shape(
        "task",
        "task_id",
        "dealer",
        lambda r: r.status,
        lambda r: r.kind if not r.outcome else f"{r.kind}:{r.outcome}",
        ("lead_id", "customer_id", "due_at"),
    ),
    "pending_sales": _Shape(
        "pending_sale",
        "sale_id",
        "seller",
        lambda r: r.outcome or "pending",
        lambda r: f"rejected_by:{r.rejected_by}" if r.rejected_by else r.confirmer,
        ("lead_id", "customer_id", "vehicles"),
    ),
    "tier_changes": _Shape("tier_change", "event_id", None, detail=lambda r: f"{r.old_tier}->{r.new_tier}"),
}


def _item(table: str, row: Any, at: datetime) -> RecordItem:
    shape = _SHAPES[table]
    region = row.region_code
    return RecordItem(
        id=getattr(row, shape.id),
        kind=shape.kind,
        at=at,
        dealer=getattr(row, shape.dealer) if shape.dealer else None,
        status=shape.status(row),
        detail=shape.detail(row),
        region_name=region_label(region) if region and len(region) == 6 else None,
        customer=safe_masked(row.customer_masked, region) if table == "leads" else None,
        **{column: getattr(row, column) for column in (*DIMS, *shape.shown)},
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
    where = measure_where(metric, period, filters, scope, now=now)
    result = await facts_of(session, measure, where, page)
    items = [_item(measure.table, row, getattr(row, measure.time)) for row in result.rows]
    return Page(items=items, next_cursor=result.next_cursor, total=result.total)
