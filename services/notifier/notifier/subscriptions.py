"""Webhook subscriptions (table `webhooks`): who may see which, creating, changing, rotating, and the failure
streak that disables an endpoint. Every statement on webhooks is here."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.auth import Principal
from leadnet_shared.problems import Forbidden, NotFound
from notifier.models import HQ_OWNER, Webhook
from notifier.rules import WebhookPolicy
from notifier.schemas import WebhookIn
from notifier.signing import new_secret


def owner_of(principal: Principal) -> str:
    """Whose subscriptions a caller works with: a dealer its own, hq_admin HQ's (hq_analyst none)."""
    if principal.role == "dealer" and principal.dealer:
        return principal.dealer
    if principal.role == "hq_admin":
        return HQ_OWNER
    raise Forbidden(f"Role {principal.role} may not manage webhooks.")


def visible(principal: Principal, webhook: Webhook | None) -> Webhook:
    """The subscription if the caller may see it; 404 otherwise (another dealer's is not there, for a dealer). HQ's
    administrators see every subscription (support), dealers only their own."""
    owner = owner_of(principal)
    if webhook is None or (owner != HQ_OWNER and webhook.owner != owner):
        raise NotFound("No such webhook.")
    return webhook


async def get_visible(session: AsyncSession, principal: Principal, webhook_id: str, *, lock: bool = False) -> Webhook:
    query = select(Webhook).where(Webhook.webhook_id == webhook_id)
    if lock:
        query = query.with_for_update()
    return visible(principal, (await session.execute(query)).scalar_one_or_none())


def listed(principal: Principal) -> Select[Webhook]:
    owner = owner_of(principal)
    query = select(Webhook)
    return query if owner == HQ_OWNER else query.where(Webhook.owner == owner)


async def delete(session: AsyncSession, webhook: Webhook) -> None:
    """Unsubscribe: the subscription goes, and its delivery log with it."""
    await session.delete(webhook)


async def create(session: AsyncSession, body: WebhookIn, *, owner: str, now: datetime) -> Webhook:
    """`owner`'s new subscription; HQ's may narrow to one dealer's events, a dealer's are its own."""
    webhook = Webhook(
        **body.model_dump(include={"url", "description"}),
        webhook_id=str(uuid.uuid4()),
        owner=owner,
        dealer=body.dealer if owner == HQ_OWNER else None,
        events=sorted(set(body.events)),
        secret=new_secret(),
        status="enabled",
        created_at=now,
        updated_at=now,
    )
    session.add(webhook)
    await session.flush()
    return webhook


_RESUME = text(
    """
UPDATE deliveries SET next_attempt_at = :now, first_attempt_at = NULL, updated_at = :now
WHERE webhook_id = :webhook_id AND status = 'pending'
"""
)


async def set_status(session: AsyncSession, webhook: Webhook, status: str, *, now: datetime) -> None:
    """Enable or disable by hand. Enabling clears the failure streak and sends what waited at once, with its
    retries counted afresh."""
    if status == webhook.status:
        return
    webhook.status = status
    webhook.updated_at = now
    if status == "enabled":
        webhook.disabled_reason = None
        webhook.disabled_at = None
        webhook.failing_since = None
        await session.execute(_RESUME, {"webhook_id": webhook.webhook_id, "now": now})
    else:
        webhook.disabled_reason = "owner"
        webhook.disabled_at = now


def rotate(webhook: Webhook, *, now: datetime, policy: WebhookPolicy) -> str:
    """A new secret; the current one keeps signing next to it for the policy's overlap."""
    webhook.previous_secret = webhook.secret
    webhook.previous_secret_until = now + policy.secret_overlap
    webhook.secret = new_secret()
    webhook.updated_at = now
    return webhook.secret


_FAILED = text(
    """
UPDATE webhooks SET failing_since = :now
WHERE webhook_id = ANY(CAST(:ids AS text[])) AND failing_since IS NULL
"""
)
_SUCCEEDED = text(
    """
UPDATE webhooks SET failing_since = NULL
WHERE webhook_id = ANY(CAST(:ids AS text[])) AND failing_since IS NOT NULL
"""
)
# An endpoint failing for longer than the policy allows is disabled, and its owner told: a notice is kept for the
# channels to deliver to people (`owner_notices`), and a `webhook.disabled` message goes to the owner's other
# endpoints that asked for it; `GET /v1/webhooks/{id}` shows the status and why.
_DISABLE = text(
    """
WITH disabled AS (
    UPDATE webhooks SET status = 'disabled', disabled_reason = 'failing', disabled_at = :now, updated_at = :now
    WHERE webhook_id = ANY(CAST(:ids AS text[])) AND status = 'enabled' AND failing_since <= :cutoff
    RETURNING webhook_id, owner, failing_since
), noticed AS (
    INSERT INTO owner_notices (owner, kind, webhook_id, detail, created_at)
    SELECT owner, 'webhook.disabled', webhook_id,
           'Webhook ' || webhook_id || ' was disabled: every delivery to it has failed since '
           || to_char(failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
           || '. Fix the receiver, then enable it again with PATCH {"status": "enabled"}.',
           :now
    FROM disabled
    RETURNING webhook_id
), told AS (
    INSERT INTO deliveries (delivery_id, webhook_id, event_type, source_event_id, order_key, payload, status,
                            attempts, next_attempt_at, created_at, updated_at)
    SELECT 'msg_' || replace(CAST(gen_random_uuid() AS text), '-', ''), o.webhook_id, 'webhook.disabled',
           'disabled:' || d.webhook_id || ':' || CAST(CAST(extract(epoch FROM d.failing_since) AS bigint) AS text),
           'webhook:' || d.webhook_id,
           jsonb_build_object('type', 'webhook.disabled', 'timestamp', CAST(:stamp AS text),
                              'data', jsonb_build_object('webhook_id', d.webhook_id, 'disabled_reason', 'failing',
                                                         'failing_since', d.failing_since)),
           'pending', 0, :now, :now, :now
    FROM disabled d
    JOIN webhooks o ON o.owner = d.owner AND o.webhook_id <> d.webhook_id AND o.status = 'enabled'
                   AND 'webhook.disabled' = ANY(o.events)
    ON CONFLICT ON CONSTRAINT uq_deliveries_event DO NOTHING
    RETURNING 1
)
SELECT webhook_id FROM noticed
"""
)


async def after_attempts(
    session: AsyncSession, *, succeeded: set[str], failed: set[str], now: datetime, policy: WebhookPolicy
) -> list[str]:
    """Update the failure streaks after a round (a success in the round ends its endpoint's streak); returns the
    subscriptions disabled now."""
    only_failed = sorted(failed - succeeded)
    if only_failed:
        await session.execute(_FAILED, {"ids": only_failed, "now": now})
    if succeeded:
        await session.execute(_SUCCEEDED, {"ids": sorted(succeeded)})
    if not only_failed:
        return []
    result = await session.execute(
        _DISABLE,
        {
            "ids": only_failed,
            "now": now,
            "cutoff": now - policy.disable_after,
            "stamp": now.isoformat().replace("+00:00", "Z"),
        },
    )
    return [row.webhook_id for row in result]
