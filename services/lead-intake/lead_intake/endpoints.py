"""lead-intake HTTP API (`/v1/leads`): thin; the rules live in `records` and `service`."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import ORJSONResponse, Response
from sqlalchemy import select

from lead_intake.models import IdempotencyKey, Lead
from lead_intake.rate_limit import RateLimiter
from lead_intake.records import validate_record
from lead_intake.schemas import LeadOut, LeadPending, LeadVerdict
from lead_intake.service import (
    claim_idempotency_key,
    masked_record,
    remember_response,
    request_hash,
    save_submitted_lead,
    verdict_response,
)
from lead_intake.settings import IntakeSettings
from lead_intake.verdicts import VerdictWaiter
from leadnet_shared.app import runtime_of
from leadnet_shared.auth import Principal, bearer_principal, require_roles
from leadnet_shared.problems import PROBLEM_JSON, MalformedJson, NotFound, PayloadTooLarge, RateLimited

router = APIRouter(prefix="/v1/leads", tags=["leads"])

PROBLEM = {"content": {PROBLEM_JSON: {}}}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "malformed_json", **PROBLEM},
    401: {"description": "unauthenticated", **PROBLEM},
    403: {"description": "forbidden", **PROBLEM},
    413: {"description": "payload_too_large", **PROBLEM},
    422: {"description": "validation_failed / idempotency_key_reused", **PROBLEM},
    429: {"description": "rate_limited", **PROBLEM},
}

Caller = Annotated[Principal, Depends(bearer_principal)]


async def read_json(request: Request, *, limit: int) -> Any:
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLarge(f"The body is {len(body)} bytes; the limit is {limit}.")
    try:
        return body, orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedJson(f"The request body is not valid JSON: {exc}") from exc


def _respond(status: int, body: dict[str, Any], lead_id: str | None) -> Response:
    headers = {"Location": f"/v1/leads/{lead_id}"} if status == 202 and lead_id else None
    media = PROBLEM_JSON if status >= 400 else "application/json"
    return ORJSONResponse(body, status_code=status, headers=headers, media_type=media)


@router.post(
    "",
    status_code=201,
    response_model=LeadVerdict,
    responses={202: {"model": LeadPending}, 409: {"description": "duplicate_lead", **PROBLEM}, **ERRORS},
    summary="Submit one customer-information record",
)
async def submit_lead(
    request: Request,
    principal: Caller,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> Response:
    require_roles(principal, "dealer", "hq_admin")
    runtime = runtime_of(request)
    settings: IntakeSettings = runtime.settings  # type: ignore[assignment]
    limiter: RateLimiter = runtime.extras["rate_limiter"]
    wait = limiter.take(principal.caller_key)
    if wait:
        raise RateLimited(
            "Too many records from this caller; slow down.", headers={"Retry-After": str(int(wait))}
        )
    body, raw = await read_json(request, limit=settings.max_record_bytes)
    result = validate_record(raw)
    record = result.require_record()
    waiter: VerdictWaiter = runtime.extras["verdicts"]
    now = runtime.clock.now()
    import uuid

    lead_id = str(uuid.uuid4())
    fut = waiter.expect(lead_id)
    replay: IdempotencyKey | None = None
    async with runtime.db.transaction() as session:
        if idempotency_key:
            replay = await claim_idempotency_key(
                session,
                caller_key=principal.caller_key,
                key=idempotency_key,
                body_hash=request_hash(body),
                lead_id=lead_id,
            )
        if replay is None:
            await save_submitted_lead(
                session,
                runtime.outbox,
                principal=principal,
                raw=raw,
                record=record,
                now=now,
                topic_prefix=settings.topic_prefix,
                lead_id=lead_id,
            )
    if replay is not None:
        waiter.forget(lead_id, fut)
        if replay.status_code is not None and replay.response is not None:
            return _respond(replay.status_code, replay.response, replay.lead_id)
        lead_id = replay.lead_id or lead_id
        fut = waiter.expect(lead_id)
    await waiter.wait(lead_id, fut, settings.wait_budget_seconds)
    async with runtime.db.transaction() as session:
        lead = (await session.execute(select(Lead).where(Lead.lead_id == lead_id))).scalar_one()
        status, out = verdict_response(lead)
        if idempotency_key and status != 202:
            await remember_response(
                session, caller_key=principal.caller_key, key=idempotency_key, status=status, body=out
            )
    return _respond(status, out, lead_id)


@router.get(
    "/{lead_id}",
    response_model=LeadOut,
    responses={404: {"description": "not_found", **PROBLEM}},
    summary="A record and its current verdict",
)
async def get_lead(lead_id: str, request: Request, principal: Caller) -> LeadOut:
    runtime = runtime_of(request)
    async with runtime.db.sessions() as session:
        lead = (await session.execute(select(Lead).where(Lead.lead_id == lead_id))).scalar_one_or_none()
    if lead is None:
        raise NotFound("No such lead.")
    assigned_to_caller = principal.role == "dealer" and lead.assigned_dealer == principal.dealer
    if principal.role == "dealer" and lead.entered_by != principal.dealer and not assigned_to_caller:
        raise NotFound("No such lead.")  # never reveal that another dealer's record exists
    unmasked = principal.sees_personal_data or assigned_to_caller
    return LeadOut(
        lead_id=lead.lead_id,
        status=lead.status,
        entered_by=lead.entered_by,
        source=lead.source,
        network_code=lead.network_code,
        submitted_at=lead.submitted_at,
        verdict=lead.verdict,
        record=masked_record(lead.normalized, unmasked=unmasked),
    )
