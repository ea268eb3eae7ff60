"""lead-intake request/response shapes as documented in OpenAPI (validation itself is `records.validate_record`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from leadnet_shared.http import RequestModel


class WarningOut(BaseModel):
    code: str
    message: str


class LeadVerdict(BaseModel):
    """The 201 body: saved and routed."""

    lead_id: str
    customer_id: str | None
    status: str
    entered_by: str | None
    assigned_dealer: str | None
    authorized_dealer: str | None
    cross_region: bool
    customer_existed: bool
    protection_until: datetime | None
    warnings: list[WarningOut] = Field(default_factory=list)


class LeadPending(BaseModel):
    lead_id: str
    status: str = "pending"


class LeadOut(BaseModel):
    lead_id: str
    status: str
    entered_by: str | None
    source: str
    network_code: str | None
    network_registered: bool | None = None
    submitted_at: datetime
    verdict: dict[str, Any] | None
    record: dict[str, Any]
    record_version: int = 1  # 1 as entered, one more per re-check that corrected it
    return_round: int = 0  # how many times HQ returned it as invalid
    closed_reason: str | None = None


class ReturnIn(RequestModel):
    """HQ's reason for returning a record as invalid (shown to the entrant; redacted on the public topic)."""

    reason: str = Field(min_length=1, max_length=1000)


class BatchOut(BaseModel):
    """One result per submitted record, in order: the 201 body, the 202 body, or a problem body with `status`."""

    results: list[dict[str, Any]]
