"""followup-scheduler request/response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TaskKind = Literal["callback", "promotion", "maintenance", "repurchase"]
Outcome = Literal["bought", "within_1_month", "within_2_months", "within_6_months", "within_1_year", "no_demand",
                  "unreachable"]


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lead_id: str
    kind: TaskKind
    due_at: datetime


class CompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    info_verified: bool = False
    notes: str | None = Field(None, max_length=4000)


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


class TaskPage(BaseModel):
    items: list[TaskOut]
    next_cursor: str | None


class CompleteOut(BaseModel):
    task: TaskOut
    next_task: TaskOut | None
