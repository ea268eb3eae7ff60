"""lead-intake rules around a record: save it with its event, wait for the verdict, answer the caller."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.models import IdempotencyKey, Lead
from lead_intake.records import NormalizedRecord
from leadnet_shared.auth import Principal
from leadnet_shared.events import LEADS_INTERNAL, LeadSubmitted, make_envelope
from leadnet_shared.masking import mask_address, mask_name, mask_phone
from leadnet_shared.outbox import Outbox
from leadnet_shared.problems import Conflict, ValidationFailed

SOURCE = "/leadnet/intake"


def partition_key_for_phone(phone_e164: str) -> str:
    """One customer's submissions share a partition so the router sees them in order (no PII in the key)."""
    return hashlib.sha256(phone_e164.encode()).hexdigest()[:24]


def request_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


async def save_submitted_lead(
    session: AsyncSession,
    outbox: Outbox,
    *,
    principal: Principal,
    raw: Any,
    record: NormalizedRecord,
    now: datetime,
    topic_prefix: str,
    lead_id: str | None = None,
) -> str:
    """Store the record (raw and normalized) and its `lead.submitted` event in the caller's transaction."""
    lead_id = lead_id or str(uuid.uuid4())
    normalized = record.to_json_dict()
    normalized["product_line"] = record.product_line  # the line it is routed by, also for passive sources
    entered_by = principal.dealer if principal.role == "dealer" else None
    session.add(
        Lead(
            lead_id=lead_id,
            entered_by=entered_by,
            entered_by_role=principal.role,
            caller_key=principal.caller_key,
            source=record.source,
            network_code=record.network_code,
            raw=raw,
            normalized=normalized,
            status="pending",
            submitted_at=now,
        )
    )
    event = LeadSubmitted(
        lead_id=lead_id,
        entered_by=entered_by,
        entered_by_role=principal.role,
        submitted_at=now,
        source=record.source,
        network_code=record.network_code,
        record=normalized,
    )
    envelope = make_envelope(
        data=event, event_type="leadnet.lead.submitted", source=SOURCE, time=now, subject=lead_id
    )
    await outbox.add(
        session,
        topic=topic_prefix + LEADS_INTERNAL,
        key=partition_key_for_phone(record.customer.phone),
        envelope=envelope,
        aggregate_type="lead",
    )
    await session.flush()
    return lead_id


def verdict_response(lead: Lead) -> tuple[int, dict[str, Any]]:
    """The answer a caller gets for a lead in its current state."""
    verdict = lead.verdict or {}
    if lead.status == "rejected_duplicate":
        error = Conflict(
            "This dealer already has an open lead for this customer; nothing was saved.",
            code="duplicate_lead",
            extra={"existing_lead_id": verdict.get("existing_lead_id"), "lead_id": lead.lead_id},
        )
        error.title = "Duplicate lead"
        return 409, error.to_problem(instance="/v1/leads")
    if lead.status == "pending":
        return 202, {"lead_id": lead.lead_id, "status": "pending"}
    return 201, {
        "lead_id": lead.lead_id,
        "customer_id": lead.customer_id,
        "status": "accepted",
        "entered_by": lead.entered_by,
        "assigned_dealer": verdict.get("assigned_dealer"),
        "authorized_dealer": verdict.get("authorized_dealer"),
        "cross_region": bool(verdict.get("cross_region", False)),
        "customer_existed": bool(verdict.get("customer_existed", False)),
        "protection_until": verdict.get("protection_until"),
        "warnings": verdict.get("warnings", []),
    }


async def claim_idempotency_key(
    session: AsyncSession, *, caller_key: str, key: str, body_hash: str, lead_id: str
) -> IdempotencyKey | None:
    """Take the key for this request, or return the row of the request that took it first.

    Two concurrent requests with one key: the second blocks on the first's uncommitted row, then sees it.
    """
    inserted = await session.execute(
        pg_insert(IdempotencyKey)
        .values(caller_key=caller_key, key=key, request_hash=body_hash, lead_id=lead_id)
        .on_conflict_do_nothing()
        .returning(IdempotencyKey.key)
    )
    if inserted.first() is not None:
        return None
    existing = (
        await session.execute(
            select(IdempotencyKey).where(IdempotencyKey.caller_key == caller_key, IdempotencyKey.key == key)
        )
    ).scalar_one()
    if existing.request_hash != body_hash:
        raise ValidationFailed(
            "This Idempotency-Key was used with a different request body.", code="idempotency_key_reused"
        )
    return existing


async def remember_response(
    session: AsyncSession, *, caller_key: str, key: str, status: int, body: dict[str, Any]
) -> None:
    """Keep the first final response so a replay returns exactly it (202 is not final: the verdict may follow)."""
    await session.execute(
        update(IdempotencyKey)
        .where(
            IdempotencyKey.caller_key == caller_key,
            IdempotencyKey.key == key,
            IdempotencyKey.status_code.is_(None),
        )
        .values(status_code=status, response=body)
    )


def masked_record(record: dict[str, Any], *, unmasked: bool) -> dict[str, Any]:
    if unmasked:
        return record
    copy = orjson.loads(orjson.dumps(record))
    customer = copy.get("customer") or {}
    customer["name"] = mask_name(customer.get("name"))
    customer["phone"] = mask_phone(customer.get("phone"))
    customer["address"] = mask_address(customer.get("address"))
    return dict(copy)


async def apply_verdict(
    session: AsyncSession,
    *,
    lead_id: str,
    status: str,
    customer_id: str | None,
    assigned_dealer: str | None,
    verdict: dict[str, Any],
) -> bool:
    """Record the router's verdict on our copy and wake whoever waits for it (NOTIFY is sent at commit)."""
    result = await session.execute(
        update(Lead)
        .where(Lead.lead_id == lead_id)
        .values(
            status=status,
            customer_id=customer_id,
            assigned_dealer=assigned_dealer,
            verdict=verdict,
            updated_at=text("now()"),
        )
    )
    if not getattr(result, "rowcount", 0):
        return False
    await session.execute(text("SELECT pg_notify('lead_verdict', :id)"), {"id": lead_id})
    return True
