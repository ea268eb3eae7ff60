"""notifier HTTP API (`/v1/webhooks`): subscriptions, their secrets, the delivery log, replays and tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import ORJSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.app import runtime_of
from leadnet_shared.auth import Principal, bearer_principal
from leadnet_shared.dealer_directory import require_active_dealer
from leadnet_shared.idempotency import Answer, IdempotencyKeyHeader, IdempotencyKeys
from leadnet_shared.pagination import PageParams, fetch_page
from leadnet_shared.problems import (
    DealerNotActive,
    FieldProblem,
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    ValidationFailed,
    problem_responses,
)
from notifier import queue, subscriptions
from notifier.delivery import target_rules
from notifier.models import DEALER_DIRECTORY, HQ_OWNER, WEBHOOK_IDEMPOTENCY_KEYS, Delivery, Webhook
from notifier.rules import webhook_policy
from notifier.schemas import (
    DeliveryOut,
    DeliveryPage,
    ReplayIn,
    ReplayOut,
    SecretOut,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
    WebhookPage,
    WebhookPatch,
)
from notifier.settings import NotifierSettings
from notifier.targets import TargetRefused

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
WEBHOOK_KEYS = IdempotencyKeys(WEBHOOK_IDEMPOTENCY_KEYS, route="webhooks", dealers=DEALER_DIRECTORY)
Caller = Annotated[Principal, Depends(bearer_principal)]
WebhookId = Annotated[str, Path(max_length=36)]
DeliveryId = Annotated[str, Path(max_length=40)]
_READ = problem_responses(Forbidden, NotFound, ValidationFailed)
_MANAGE = problem_responses(Forbidden, DealerNotActive, NotFound, ValidationFailed)
_CREATE = problem_responses(Forbidden, DealerNotActive, NotFound, IdempotencyKeyReused, ValidationFailed)
# The operations that queue deliveries: accepted (202), the sending happens after the answer.
_queues = partial(router.post, status_code=202, responses=_MANAGE)


def webhook_out(w: Webhook) -> WebhookOut:
    return WebhookOut.model_validate(w, from_attributes=True)


def delivery_out(d: Delivery) -> DeliveryOut:
    out = DeliveryOut.model_validate(d, from_attributes=True)
    if d.status != "pending":
        out.next_attempt_at = None  # only a pending delivery has a next attempt
    return out


@asynccontextmanager
async def _managing(
    request: Request, principal: Principal, webhook_id: str, *, lock: bool = False
) -> AsyncIterator[tuple[AsyncSession, Webhook]]:
    """A transaction on a subscription the caller sees, which it may change only as an active dealer (or HQ)."""
    async with runtime_of(request).db.transaction() as session:
        webhook = await subscriptions.get_visible(session, principal, webhook_id, lock=lock)
        await require_active_dealer(session, DEALER_DIRECTORY, principal)
        yield session, webhook


@asynccontextmanager
async def _queueing(request: Request, principal: Principal, webhook_id: str) -> AsyncIterator[AsyncSession]:
    """A managing transaction that queues deliveries; the sender is woken with it, so they go out at once."""
    async with _managing(request, principal, webhook_id) as (session, _):
        yield session
        await queue.wake(session)


def _check(request: Request, *, url: str | None, events: list[str] | None) -> None:
    """Every problem of the URL and the event kinds at once (422)."""
    problems: list[FieldProblem] = []
    if url is not None:
        settings = runtime_of(request).settings
        assert isinstance(settings, NotifierSettings)
        try:
            target_rules(settings).check_url(url)
        except TargetRefused as exc:
            problems.append(FieldProblem("/url", exc.code, str(exc)))
    if events is not None:
        known = webhook_policy().events
        for i, kind in enumerate(events):
            if kind not in known:
                problems.append(FieldProblem(f"/events/{i}", "invalid_enum", f"one of {', '.join(sorted(known))}"))
    if problems:
        raise ValidationFailed("The request has field problems; see errors.", errors=problems)


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    summary="Subscribe an endpoint to event kinds; the secret is shown this once",
    responses=_CREATE,
)
async def create_webhook(
    body: WebhookIn, request: Request, principal: Caller, idempotency_key: IdempotencyKeyHeader = None
) -> ORJSONResponse:
    owner = subscriptions.owner_of(principal)
    if owner != HQ_OWNER and body.dealer is not None and body.dealer != owner:
        raise NotFound("No such dealer.")  # another dealer's events are not there for a dealer
    _check(request, url=body.url, events=body.events)
    runtime = runtime_of(request)

    async def create(session: AsyncSession) -> Answer:
        webhook = await subscriptions.create(session, body, owner=owner, now=runtime.clock.now())
        out = WebhookCreated(**webhook_out(webhook).model_dump(), secret=webhook.secret)
        return Answer(201, out.model_dump(mode="json"))

    return await WEBHOOK_KEYS.create_once(runtime.db, principal, idempotency_key, body, create)


@router.get("", response_model=WebhookPage, summary="The caller's subscriptions", responses=_READ)
async def list_webhooks(request: Request, principal: Caller, page: Annotated[PageParams, Depends()]) -> WebhookPage:
    async with runtime_of(request).db.transaction() as session:
        found = await fetch_page(
            session, subscriptions.listed(principal), order=[Webhook.seq], params=page, changed_at=Webhook.updated_at
        )
    return WebhookPage(items=[webhook_out(w) for w in found.rows], next_cursor=found.next_cursor, total=found.total)


@router.get("/{webhook_id}", response_model=WebhookOut, summary="One subscription", responses=_READ)
async def get_webhook(webhook_id: WebhookId, request: Request, principal: Caller) -> WebhookOut:
    async with runtime_of(request).db.transaction() as session:
        return webhook_out(await subscriptions.get_visible(session, principal, webhook_id))


@router.patch(
    "/{webhook_id}",
    response_model=WebhookOut,
    summary="Change the URL, the event kinds or the description; enable or disable",
    responses=_MANAGE,
)
async def patch_webhook(webhook_id: WebhookId, body: WebhookPatch, request: Request, principal: Caller) -> WebhookOut:
    _check(request, url=body.url, events=body.events)
    runtime = runtime_of(request)
    now = runtime.clock.now()
    async with _managing(request, principal, webhook_id, lock=True) as (session, webhook):
        if body.url is not None:
            webhook.url = body.url
        if body.events is not None:
            webhook.events = sorted(set(body.events))
        if "description" in body.model_fields_set:
            webhook.description = body.description
        webhook.updated_at = now
        if body.status is not None:
            await subscriptions.set_status(session, webhook, body.status, now=now)
        await session.flush()
        return webhook_out(webhook)


@router.delete("/{webhook_id}", status_code=204, summary="Unsubscribe (its log goes too)", responses=_MANAGE)
async def delete_webhook(webhook_id: WebhookId, request: Request, principal: Caller) -> Response:
    async with _managing(request, principal, webhook_id, lock=True) as (session, webhook):
        await subscriptions.delete(session, webhook)
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/secret/rotate",
    response_model=SecretOut,
    summary="A new secret; the previous one keeps signing next to it for the overlap",
    responses=_MANAGE,
)
async def rotate_secret(webhook_id: WebhookId, request: Request, principal: Caller) -> SecretOut:
    async with _managing(request, principal, webhook_id, lock=True) as (_, webhook):
        secret = subscriptions.rotate(webhook, now=runtime_of(request).clock.now(), policy=webhook_policy())
        assert webhook.previous_secret_until is not None
        return SecretOut(secret=secret, previous_secret_until=webhook.previous_secret_until)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveryPage,
    summary="The delivery log: status, attempts, response code (oldest first)",
    responses=_READ,
)
async def list_deliveries(
    webhook_id: WebhookId,
    request: Request,
    principal: Caller,
    page: Annotated[PageParams, Depends()],
    status: Annotated[str | None, "pending, delivered or failed"] = None,
) -> DeliveryPage:
    async with runtime_of(request).db.transaction() as session:
        await subscriptions.get_visible(session, principal, webhook_id)
        query = queue.listed(webhook_id, status)
        found = await fetch_page(session, query, order=[Delivery.seq], params=page, changed_at=Delivery.updated_at)
    return DeliveryPage(items=[delivery_out(d) for d in found.rows], next_cursor=found.next_cursor, total=found.total)


async def _delivery(request: Request, principal: Caller, webhook_id: str, delivery_id: str) -> DeliveryOut:
    async with runtime_of(request).db.transaction() as session:
        await subscriptions.get_visible(session, principal, webhook_id)
        delivery = await queue.delivery(session, webhook_id=webhook_id, delivery_id=delivery_id)
        if delivery is None:
            raise NotFound("No such delivery.")
        return delivery_out(delivery)


@router.get(
    "/{webhook_id}/deliveries/{delivery_id}", response_model=DeliveryOut, summary="One delivery", responses=_READ
)
async def get_delivery(
    webhook_id: WebhookId, delivery_id: DeliveryId, request: Request, principal: Caller
) -> DeliveryOut:
    return await _delivery(request, principal, webhook_id, delivery_id)


@_queues(
    "/{webhook_id}/deliveries/{delivery_id}/replay",
    response_model=DeliveryOut,
    summary="Send one delivery again (same webhook-id)",
)
async def replay_delivery(
    webhook_id: WebhookId, delivery_id: DeliveryId, request: Request, principal: Caller
) -> DeliveryOut:
    now = runtime_of(request).clock.now()
    async with _queueing(request, principal, webhook_id) as session:
        if not await queue.replay_one(session, webhook_id=webhook_id, delivery_id=delivery_id, now=now):
            raise NotFound("No such delivery.")
    return await _delivery(request, principal, webhook_id, delivery_id)


@_queues(
    "/{webhook_id}/replay", response_model=ReplayOut, summary="Send again every delivery created in [since, until)"
)
async def replay_range(webhook_id: WebhookId, body: ReplayIn, request: Request, principal: Caller) -> ReplayOut:
    if body.until <= body.since:
        raise ValidationFailed(
            "The request has field problems; see errors.",
            errors=[FieldProblem("/until", "out_of_range", "must be after since")],
        )
    now = runtime_of(request).clock.now()
    async with _queueing(request, principal, webhook_id) as session:
        count = await queue.replay_range(session, webhook_id=webhook_id, **body.model_dump(), now=now)
    return ReplayOut(replayed=count)


@_queues(
    "/{webhook_id}/test",
    response_model=DeliveryOut,
    summary="Send a `webhook.test` message now; see its delivery for the outcome",
)
async def test_webhook(webhook_id: WebhookId, request: Request, principal: Caller) -> DeliveryOut:
    now = runtime_of(request).clock.now()
    async with _queueing(request, principal, webhook_id) as session:
        delivery_id = await queue.enqueue_test(session, webhook_id=webhook_id, event_id=f"test:{uuid.uuid4()}", now=now)
    return await _delivery(request, principal, webhook_id, delivery_id)
