"""followup-scheduler request/response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from leadnet_shared.events import RecordCorrections
from leadnet_shared.http import RequestModel
from leadnet_shared.pagination import Page

TaskKind = Literal["callback", "promotion", "maintenance", "repurchase"]
Outcome = Literal[
    "bought", "within_1_month", "within_2_months", "within_6_months", "within_1_year", "no_demand", "unreachable"
]
# A re-check of a record HQ returned (recheck.py) is completed with one of these instead.
RecheckOutcome = Literal["confirmed", "invalid"]
ListedTaskKind = Literal["callback", "promotion", "maintenance", "repurchase", "recheck"]


class TaskIn(RequestModel):
    lead_id: str = Field(min_length=1, max_length=36)
    kind: TaskKind
    due_at: AwareDatetime  # with its offset: a naive time is a different instant in Shanghai and in UTC


class CompleteIn(RequestModel):
    outcome: Outcome | RecheckOutcome
    info_verified: bool = False
    notes: str | None = Field(None, max_length=4000)
    # A recheck's corrections to the record (with `confirmed`): intake keeps them as a new version of it.
    corrections: RecordCorrections | None = None


class TaskOut(BaseModel):
    task_id: str
    lead_id: str
    customer_id: str
    dealer: str | None
    kind: str
    due_at: datetime
    status: str
    reason: str
    outcome: str | None = None


class TaskPage(Page[TaskOut]):
    pass


class CompleteOut(BaseModel):
    task: TaskOut
    next_task: TaskOut | None


class PlanIn(RequestModel):
    sales_plan: int = Field(ge=0, le=1_000_000)
    callbacks_planned: int | None = Field(None, ge=0, le=10_000_000)
    promotions_planned: int | None = Field(None, ge=0, le=10_000_000)


class QuotaOut(BaseModel):
    """One plan kind: the quota range, what is planned (and where that count comes from) and what was done."""

    minimum: int
    maximum: int
    planned: int
    planned_source: Literal["plan", "scheduled_tasks"]
    done: int
    planned_meets_quota: bool
    planned_short_by: int
    done_short_by: int


class PromotionQuotaOut(QuotaOut):
    one_month_demand_at_last_month_end: int


class PlanOut(BaseModel):
    dealer: str
    month: str
    sales_plan: int
    callbacks: QuotaOut
    promotions: PromotionQuotaOut
    policy_version: str
    updated_at: datetime
    updated_by: str
