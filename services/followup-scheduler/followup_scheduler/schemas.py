"""followup-scheduler request/response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from leadnet_shared.events import RecordCorrections
from leadnet_shared.http import RequestModel
from leadnet_shared.pagination import Page
from leadnet_shared.record_blocks import PurchaseIntentIn, UsageIn, VehicleInUseIn

TaskKind = Literal["callback", "promotion", "maintenance", "repurchase", "sale_report"]
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


ContactField = Literal["phone", "name", "address"]


class CallbackContentIn(RequestModel):
    """What the callback learnt (domain.md §4 "How"): a call confirms the customer information, learns how the
    vehicles are used, collects suggestions, surveys purchase intent."""

    information_confirmed: bool | None = Field(
        None, description="The customer information was confirmed as recorded (or not: see contact_corrected)."
    )
    contact_corrected: list[ContactField] = Field(
        default_factory=list,
        max_length=3,
        description="Contact fields found wrong. Their new values are personal data and do not go on the public "
        "topic: the assigned dealer applies them with PATCH /v1/customers/{customer_id}.",
    )
    vehicles_in_use: list[VehicleInUseIn] | None = Field(None, max_length=200)
    usage: UsageIn | None = None
    suggestions: str | None = Field(
        None, max_length=2000, description="Published with phone numbers and street addresses redacted."
    )
    purchase_intent: PurchaseIntentIn | None = None


class CompleteIn(RequestModel):
    outcome: Outcome | RecheckOutcome
    info_verified: bool = False
    notes: str | None = Field(None, max_length=4000)
    content: CallbackContentIn | None = Field(
        None, description="What the callback learnt, as data (shown in the customer's timeline)."
    )
    # A recheck's corrections to the record (with `confirmed`): intake keeps them as a new version of it.
    corrections: RecordCorrections | None = None
    action_at: AwareDatetime | None = Field(
        None,
        description="A promotion only: when the action was carried out (default: the task's due time, or now if "
        "earlier). Its result, this completion, is late when reported more than 2 days after it (domain.md §5).",
    )


class TaskActionOut(BaseModel):
    action: str  # created | completed | rescheduled
    by: str  # the token's sub
    position: str | None
    at: datetime
    detail: dict[str, Any] | None = None


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
    content: dict[str, Any] | None = Field(
        None, description="What the callback learnt; suggestions with phone numbers and street addresses redacted."
    )
    position: str | None = Field(None, description="The dealer position that works it (the staff matrix).")
    method: str | None = Field(None, description="How (the method matrix): phone, visit, store_invitation, ...")
    accompany: list[str] = Field(default_factory=list, description="HQ positions that accompany (參陪人).")
    action_at: datetime | None = Field(None, description="A promotion: when its action was carried out.")
    result_due_at: datetime | None = Field(None, description="A promotion: by when its result was due.")
    result_late: bool | None = Field(None, description="A promotion: its result was reported after result_due_at.")
    actions: list[TaskActionOut] | None = Field(
        None, description="Who acted on the task, with which position (in a single task's answer only)."
    )


class TaskPage(Page[TaskOut]):
    pass


class CompleteOut(BaseModel):
    task: TaskOut
    next_task: TaskOut | None


class PlanIn(RequestModel):
    sales_plan: int = Field(ge=0, le=1_000_000)
    callbacks_planned: int | None = Field(None, ge=0, le=10_000_000)
    promotions_planned: int | None = Field(None, ge=0, le=10_000_000)


# plan: the filed count; approved_plans: lines of the approved callback plan / weekly promotion plans
# (work_plans.py); scheduled_tasks: tasks of the kind due in the month
PlannedSource = Literal["plan", "approved_plans", "scheduled_tasks"]


class QuotaOut(BaseModel):
    """One plan kind: the quota range, what is planned (and where that count comes from) and what was done."""

    minimum: int
    maximum: int
    planned: int
    planned_source: PlannedSource
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
