"""Request and response shapes of the callback and promotion plans (contract.md "Plans")."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from followup_scheduler.vocabulary import Method
from leadnet_shared.auth import DealerPosition
from leadnet_shared.http import RequestModel

MAX_LINES = 20_000


class PlanLineIn(RequestModel):
    customer_id: str = Field(min_length=1, max_length=36)
    target_date: date = Field(description="The planned date (Asia/Shanghai), inside the plan's period.")
    position: DealerPosition | None = Field(None, description="Who works the line; default: the staff matrix.")
    method: Method | None = Field(None, description="How; default: the method matrix.")
    reason: str | None = Field(None, max_length=40)


class PlanLinesIn(RequestModel):
    lines: list[PlanLineIn] = Field(max_length=MAX_LINES)


class RejectIn(RequestModel):
    reason: str = Field(min_length=1, max_length=2000)


class PlanLineOut(BaseModel):
    customer_id: str
    lead_id: str
    tier: str
    reason: str
    target_date: date
    position: str
    method: str
    task_id: str | None = None


class PlanStepOut(BaseModel):
    action: str
    stage: str | None
    sub: str | None
    role: str | None
    position: str | None
    reason: str | None
    at: datetime


class DraftOut(BaseModel):
    dealer: str
    plan: Literal["callback", "promotion"]
    period: str
    sales_plan: int
    quota: int
    due_by: datetime
    lines: list[PlanLineOut]


class WorkPlanOut(BaseModel):
    plan_id: str
    dealer: str
    plan: str
    period: str
    status: str
    stage: str | None = Field(description="The approval stage a submitted plan waits at.")
    waiting_for: list[str] = Field(description="The positions that may act at that stage.")
    quota: int
    line_count: int
    late: bool
    due_by: datetime
    submitted_at: datetime | None
    approved_at: datetime | None
    rejected_reason: str | None
    lines: list[PlanLineOut]
    steps: list[PlanStepOut]


class RollupFigures(BaseModel):
    plans: int
    submitted: int
    approved: int
    late: int
    planned: int
    approved_lines: int
    done: int
    unplanned: int


class RollupWeek(RollupFigures):
    week: str


class RollupUnit(BaseModel):
    unit: str = Field(description="The dealer code, region (province adcode), sales channel, or 'hq'.")
    dealers: int
    callbacks: RollupFigures
    promotions: RollupFigures
    weeks: list[RollupWeek]


class RollupOut(BaseModel):
    month: str
    level: Literal["dealer", "region", "channel", "hq"]
    units: list[RollupUnit]
