"""lead-intake HTTP API (`/v1/leads`): thin; the rules live in `records` and `service`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.api import read_json
from lead_intake.life_cycle import return_lead
from lead_intake.models import IdempotencyKey, Lead
from lead_intake.rate_limit import RateLimiter
from lead_intake.records import validate_record
from lead_intake.refusals import refusal, write_refusals
from lead_intake.repository import leads
from lead_intake.schemas import BatchOut, LeadOut, LeadPending, LeadVerdict, ReturnIn
from lead_intake.service import (
    LeadState,
    Submission,
    SubmittedLead,
    claim_idempotency_key,
    lead_states,
    masked_record,
    prepare_submitted_lead,
    request_hash,
    save_leads,
    verdict_response,
)
from lead_intake.settings import IntakeSettings
from lead_intake.state import IntakeState, intake_state
from lead_intake.visibility import ACCESS_LOG, LEADS, sees_personal_data
from leadnet_shared.access_log import endpoint_of
from leadnet_shared.app import Runtime, runtime_of
from leadnet_shared.auth import Principal, bearer_principal, require_roles
from leadnet_shared.carry import carried
from leadnet_shared.events import LeadRefused
from leadnet_shared.idempotency import IDEMPOTENCY_KEY_MAX, IdempotencyKeyHeader
from leadnet_shared.problems import (
    PROBLEM_JSON,
    Conflict,
    DealerNotActive,
    FieldProblem,
    Forbidden,
    IdempotencyKeyReused,
    MalformedJson,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceError,
    Unauthenticated,
    ValidationFailed,
    json_pointer,
    problem_docs,
    problem_responses,
)

router = APIRouter(prefix="/v1/leads", tags=["leads"])

ERRORS = problem_responses(
    MalformedJson,
    Unauthenticated,
    Forbidden,
    DealerNotActive,
    PayloadTooLarge,
    ValidationFailed,
    IdempotencyKeyReused,
    RateLimited,
)

Caller = Annotated[Principal, Depends(bearer_principal)]


def _respond(status: int, body: dict[str, Any], lead_id: str | None) -> Response:
    headers = {"Location": f"/v1/leads/{lead_id}"} if status == 202 and lead_id else None
    media = PROBLEM_JSON if status >= 400 else "application/json"
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type=media)


def _take_rate(limiter: RateLimiter, caller_key: str) -> None:
    wait = limiter.take(caller_key)
    if wait:
        raise RateLimited("Too many requests from this caller; slow down.", headers={"Retry-After": str(int(wait))})


@router.post(
    "",
    status_code=201,
    response_model=LeadVerdict,
    responses={202: {"model": LeadPending}, **problem_docs({409: "duplicate_lead"}), **ERRORS},
    summary="Submit one customer-information record",
)
async def submit_lead(
    request: Request,
    principal: Caller,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    return await _submit_lead(request, principal, idempotency_key)


async def submit_lead_lane(request: Request) -> Response | None:
    """`POST /v1/leads` by the kit's fast lane (`ServiceApp`): `submit_lead` without FastAPI's per-request layers.
    A key FastAPI's header validation must refuse is handed back to the route, before the body is read."""
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None and len(idempotency_key) > IDEMPOTENCY_KEY_MAX:
        return None
    return await _submit_lead(request, await bearer_principal(request), idempotency_key)


async def _admit_writer(
    request: Request, principal: Principal, *, batch: bool
) -> tuple[Runtime, IntakeSettings, IntakeState]:
    """A write of records: a dealer or hq_admin, within its rate, and an active dealer."""
    require_roles(principal, "dealer", "hq_admin")
    runtime = runtime_of(request)
    settings: IntakeSettings = runtime.settings  # type: ignore[assignment]
    intake = intake_state(runtime)
    _take_rate(intake.batch_rate_limiter if batch else intake.rate_limiter, principal.caller_key)
    await intake.dealers.require(runtime.db, principal)
    return runtime, settings, intake


async def _submit_lead(request: Request, principal: Principal, idempotency_key: str | None) -> Response:
    runtime, settings, intake = await _admit_writer(request, principal, batch=False)
    try:
        body, raw = await read_json(request, limit=settings.max_record_bytes)
    except ValidationFailed as refused:  # a NUL in a text field: a refused record too
        intake.refusals.add(_single_refusal(principal, None, refused.errors, runtime.clock.now()))
        raise
    checked = validate_record(raw)
    if checked.record is None:  # queued, no I/O: the worker writes it (lead_intake.refusals)
        intake.refusals.add(_single_refusal(principal, raw, checked.problems, runtime.clock.now(), checked.source))
    record = checked.require_record()
    waiter, committer = intake.verdicts, intake.lead_committer
    lead = prepare_submitted_lead(
        principal=principal, raw=raw, record=record, now=runtime.clock.now(), topic_prefix=settings.topic_prefix
    )
    lead_id: str = lead.row["lead_id"]
    fut = waiter.expect(lead_id)
    try:
        # Saved together with the requests arriving alongside it, in one transaction (see group_commit).
        replay = await committer.submit(
            Submission(
                lead=lead,
                caller_key=principal.caller_key,
                idempotency_key=idempotency_key,
                body_hash=request_hash(body) if idempotency_key else None,
            )
        )
    except BaseException:
        waiter.forget(lead_id, fut)
        raise
    if replay is not None:
        waiter.forget(lead_id, fut)
        if replay.status_code is not None and replay.response is not None:
            return _respond(replay.status_code, replay.response, replay.lead_id)
        lead_id = replay.lead_id or lead_id
        fut = waiter.expect(lead_id)
    state = await waiter.wait(lead_id, fut, budget=settings.wait_budget_seconds)
    if state is None:  # no verdict in time, or one too large for the notification: read the row
        async with runtime.db.sessions() as session:
            state = (await lead_states(session, [lead_id]))[lead_id]
    # A keyed request's final answer is remembered by the verdict's own transaction (service.apply_verdicts).
    status, out = verdict_response(state)
    return _respond(status, out, lead_id)


def _single_refusal(
    principal: Principal, raw: Any, problems: list[FieldProblem], now: datetime, source: str | None = None
) -> LeadRefused:
    return refusal(
        principal=principal, raw=raw, source=source, problems=problems, status=422, channel="single", now=now
    )


def _record_problem(error: ServiceError, index: int) -> dict[str, Any]:
    return error.to_problem(instance=f"/v1/leads/batch#/records/{index}")


@router.post(
    "/batch",
    status_code=200,
    response_model=BatchOut,
    responses=ERRORS,
    summary="Submit up to 1000 records; one result per record, in order",
)
async def submit_batch(
    request: Request,
    principal: Caller,
    idempotency_key: IdempotencyKeyHeader = None,
    prefer: Annotated[str | None, Header(alias="Prefer", max_length=200)] = None,
) -> Response:
    """Validate all, save every valid record and its event in one transaction, wait once for all verdicts.

    The Idempotency-Key names the whole batch (the records carry none): the batch is saved all at once or not
    at all, so a replay finds either nothing (and saves it) or the whole batch (and answers it again).

    `Prefer: respond-async` (RFC 7240) answers as soon as the batch is saved, each saved record as its 202 body:
    a bulk import then goes as fast as intake saves, not as fast as the router decides, and collects the
    verdicts afterwards through `POST /v1/leads/verdicts`.
    """
    runtime, settings, intake = await _admit_writer(request, principal, batch=True)
    body, parsed = await read_json(request, limit=settings.max_batch_bytes)
    records = _batch_records(parsed, limit=settings.max_batch_records)
    now = runtime.clock.now()
    items: list[dict[str, Any]] = []
    saved: list[SubmittedLead] = []
    refused: list[LeadRefused] = []  # written in the batch's transaction (lead_intake.refusals)
    for index, raw in enumerate(records):
        error: ServiceError
        if len(orjson.dumps(raw)) > settings.max_record_bytes:
            error = PayloadTooLarge(f"The record is larger than {settings.max_record_bytes} bytes.")
            why: dict[str, Any] = {"raw": None, "source": None, "problems": [], "status": 413}
        else:
            result = validate_record(raw)
            if result.record is not None:
                lead = prepare_submitted_lead(
                    principal=principal, raw=raw, record=result.record, now=now, topic_prefix=settings.topic_prefix
                )
                saved.append(lead)
                items.append({"lead_id": lead.row["lead_id"]})
                continue
            error = ValidationFailed("The record has field problems; see errors.", errors=result.problems)
            why = {"raw": raw, "source": result.source, "problems": result.problems, "status": 422}
        items.append({"problem": _record_problem(error, index)})
        refused.append(refusal(principal=principal, channel="batch", batch_index=index, now=now, **why))
    waiter = intake.verdicts
    waits = [(lead.row["lead_id"], waiter.expect(lead.row["lead_id"])) for lead in saved]
    replay: IdempotencyKey | None = None
    try:
        async with runtime.db.transaction() as session:
            if idempotency_key:
                replay = await claim_idempotency_key(
                    session,
                    caller_key=principal.caller_key,
                    key=idempotency_key,
                    body_hash=request_hash(body, endpoint="batch"),
                    lead_id=None,
                    batch_items=items,
                )
            if replay is None:
                await save_leads(session, runtime.outbox, saved)
                await write_refusals(session, runtime.outbox, refused)
    except BaseException:
        for lead_id, fut in waits:
            waiter.forget(lead_id, fut)
        raise
    if replay is not None:
        for lead_id, fut in waits:
            waiter.forget(lead_id, fut)
        items = replay.batch_items or []
        waits = [(item["lead_id"], waiter.expect(item["lead_id"])) for item in items if "lead_id" in item]
    respond_async = prefers_async(prefer)
    came = await waiter.wait_all(waits, budget=0 if respond_async else settings.wait_budget_seconds)
    missing = [lead_id for lead_id, _ in waits if came.get(lead_id) is None]
    if respond_async and replay is None:  # just saved: pending, no need to read them back
        came.update({lead_id: LeadState(lead_id=lead_id, status="pending", entered_by=None) for lead_id in missing})
    elif missing:
        async with runtime.db.sessions() as session:
            came.update(await lead_states(session, missing))
    results: list[dict[str, Any]] = []
    for item in items:
        if "problem" in item:
            results.append(item["problem"])
        else:
            state = came[item["lead_id"]]
            assert state is not None
            results.append(verdict_response(state)[1])
    headers = {"Preference-Applied": "respond-async"} if respond_async else None
    return Response(orjson.dumps({"results": results}), media_type="application/json", headers=headers)


def prefers_async(prefer: str | None) -> bool:
    """Whether the caller sent `Prefer: respond-async` (RFC 7240: comma-separated, case-insensitive tokens)."""
    if not prefer:
        return False
    return any(token.split(";")[0].strip().lower() == "respond-async" for token in prefer.split(","))


@router.post(
    "/verdicts",
    status_code=200,
    response_model=BatchOut,
    responses=ERRORS,
    summary="The current verdicts of up to 1000 leads, in order (how a bulk import collects its verdicts)",
)
async def lead_verdicts(request: Request, principal: Caller) -> Response:
    """Per lead id, in order: the answer `POST /v1/leads` gives for it now (201 body, 202 pending, 409), or a
    404 problem for a lead the caller may not see (the same rule as `GET /v1/leads/{id}`)."""
    runtime = runtime_of(request)
    settings: IntakeSettings = runtime.settings  # type: ignore[assignment]
    _, parsed = await read_json(request, limit=settings.max_batch_bytes)
    lead_ids = _lead_ids(parsed, limit=settings.max_batch_records)
    async with runtime.db.sessions() as session:
        states = await lead_states(session, lead_ids)
    results: list[dict[str, Any]] = []
    for index, lead_id in enumerate(lead_ids):
        state = states.get(lead_id)
        if state is None or not LEADS.may_see(principal, state):
            results.append(NotFound("No such lead.").to_problem(instance=f"/v1/leads/verdicts#/lead_ids/{index}"))
        else:
            results.append(verdict_response(state)[1])
    return Response(orjson.dumps({"results": results}), media_type="application/json")


def _listed(
    parsed: Any, name: str, *, of: type = object, unknown: str, wrong: str, body: str, limit: int, too_many: str
) -> list[Any]:
    """The list `{name: [...]}` (of `of` items) a body is; every field problem at once (`unknown` and `wrong` the
    messages of an unknown field and of a missing or wrong list, `body` what the body is called), 413 past `limit`
    items."""
    if not isinstance(parsed, dict):
        raise ValidationFailed(
            f'The body must be an object {{"{name}": [...]}}.',
            errors=[FieldProblem("", "invalid_type", "must be an object")],
        )
    problems = [FieldProblem(json_pointer(k), "unknown_field", unknown) for k in parsed if k != name]
    listed = parsed.get(name)
    if not isinstance(listed, list) or not all(isinstance(i, of) for i in listed):
        problems.append(FieldProblem(f"/{name}", "missing_field" if listed is None else "invalid_type", wrong))
    if problems:
        raise ValidationFailed(f"The {body} has field problems; see errors.", errors=problems)
    assert isinstance(listed, list)
    if len(listed) > limit:
        raise PayloadTooLarge(too_many.format(n=len(listed), limit=limit))
    return listed


def _lead_ids(parsed: Any, *, limit: int) -> list[str]:
    return _listed(
        parsed,
        "lead_ids",
        of=str,
        unknown="not a field",
        wrong="a list of lead ids",
        body="body",
        limit=limit,
        too_many="{n} lead ids; the limit is {limit}.",
    )


def _batch_records(parsed: Any, *, limit: int) -> list[Any]:
    return _listed(
        parsed,
        "records",
        unknown="not a field of a batch",
        wrong="records must be a list of records",
        body="batch",
        limit=limit,
        too_many="The batch has {n} records; the limit is {limit}.",
    )


@router.get("/{lead_id}", responses=problem_responses(NotFound), summary="A record and its current verdict")
async def get_lead(lead_id: str, request: Request, principal: Caller) -> LeadOut:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        lead = LEADS.visible(principal, await leads.lead(session, lead_id))
        assert isinstance(lead, Lead)
        unmasked = sees_personal_data(principal, lead)
        if unmasked and principal.role == "dealer" and principal.dealer is not None:
            # Only then does the dealer's status matter: asked of the directory (cached while active).
            active = await intake_state(runtime).dealers.is_active(runtime.db, principal.dealer)
            unmasked = sees_personal_data(principal, lead, dealer_active=active)
        if unmasked:
            await _log_unmasked_read(session, request, principal, lead)
    return lead_out(lead, principal, unmasked=unmasked)


async def _log_unmasked_read(session: AsyncSession, request: Request, principal: Principal, lead: Lead) -> None:
    await ACCESS_LOG.record(
        session,
        principal=principal,
        endpoint=endpoint_of(request),
        at=runtime_of(request).clock.now(),
        customer_ids=[lead.customer_id],
        lead_ids=[lead.lead_id],
    )


def lead_out(lead: Lead, principal: Principal, *, unmasked: bool | None = None) -> LeadOut:
    if unmasked is None:
        unmasked = sees_personal_data(principal, lead)
    # A refused duplicate is stored masked already (service.keep_refusals_masked): shown as stored.
    unmasked = unmasked or lead.status == "rejected_duplicate"
    return carried(
        LeadOut,
        lead,
        record=masked_record(lead.normalized, unmasked=unmasked),
        record_version=len(lead.record_versions or []) + 1,
    )


@router.post(
    "/{lead_id}/return",
    responses={**problem_responses(NotFound, (Conflict, "lead_not_returnable")), **ERRORS},
    summary="Return a record as invalid to the dealer who entered it (hq_admin): it re-checks it",
)
async def return_record(lead_id: str, body: ReturnIn, request: Request, principal: Caller) -> LeadOut:
    """The lead becomes `returned`; the entering dealer gets a `recheck` task, which it completes as `confirmed`
    (the lead is accepted again, with any corrections as a new version of the record) or `invalid` (closed)."""
    require_roles(principal, "hq_admin")
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        lead = await return_lead(session, runtime.outbox, lead_id=lead_id, reason=body.reason, now=runtime.clock.now())
        await _log_unmasked_read(session, request, principal, lead)  # HQ's answer shows the record unmasked
        return lead_out(lead, principal)
