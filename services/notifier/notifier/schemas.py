"""notifier request/response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from leadnet_shared.http import RequestModel
from leadnet_shared.pagination import Page

WebhookStatus = Literal["enabled", "disabled"]
DeliveryStatus = Literal["pending", "delivered", "failed"]


class WebhookIn(RequestModel):
    url: str = Field(min_length=1, max_length=2048, description="https URL the events are POSTed to")
    events: list[str] = Field(min_length=1, max_length=20, description="event kinds (lead.assigned, task.due, ...)")
    description: str | None = Field(None, max_length=200)
    dealer: str | None = Field(
        None,
        min_length=1,
        max_length=32,
        description="HQ only: one dealer's events; a dealer's own subscriptions are always its own events",
    )


class WebhookPatch(RequestModel):
    url: str | None = Field(None, min_length=1, max_length=2048)
    events: list[str] | None = Field(None, min_length=1, max_length=20)
    description: str | None = Field(None, max_length=200)
    status: WebhookStatus | None = Field(None, description="`enabled` turns a disabled endpoint on again")


class WebhookOut(BaseModel):
    webhook_id: str
    owner: str
    dealer: str | None = None
    url: str
    events: list[str]
    description: str | None = None
    status: WebhookStatus
    disabled_reason: str | None = Field(None, description="failing (disabled by the notifier) or owner")
    disabled_at: datetime | None = None
    failing_since: datetime | None = None
    previous_secret_until: datetime | None = Field(None, description="the rotated-out secret still signs until then")
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="whsec_...: shown this once; keep it to verify signatures")


class WebhookPage(Page[WebhookOut]):
    pass


class SecretOut(BaseModel):
    secret: str = Field(description="the new secret, shown this once")
    previous_secret_until: datetime


class DeliveryOut(BaseModel):
    delivery_id: str = Field(description="the `webhook-id` header: the same across retries and replays")
    webhook_id: str
    event_type: str
    source_event_id: str
    status: DeliveryStatus
    attempts: int
    response_code: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    payload: dict[str, Any]


class DeliveryPage(Page[DeliveryOut]):
    pass


class ReplayIn(RequestModel):
    since: AwareDatetime
    until: AwareDatetime
    failed_only: bool = Field(False, description="only the deliveries whose retries ended without success")


class ReplayOut(BaseModel):
    replayed: int
