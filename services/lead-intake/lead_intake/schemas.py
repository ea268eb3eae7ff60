"""lead-intake request/response shapes as documented in OpenAPI (validation itself is `records.validate_record`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


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


class BatchOut(BaseModel):
    """One result per submitted record, in order: the 201 body, the 202 body, or a problem body with `status`."""

    results: list[dict[str, Any]]
