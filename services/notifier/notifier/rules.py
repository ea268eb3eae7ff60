"""The webhook delivery rules of `policy/webhooks.toml`: retry backoff, giving up, disabling, secret overlap."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leadnet_shared.policy import PolicyError, cached_policy
from notifier import PACKAGE


@dataclass(frozen=True)
class WebhookPolicy:
    version: str
    events: frozenset[str]
    first_seconds: float
    factor: float
    max_seconds: float
    give_up_after: timedelta
    disable_after: timedelta
    secret_overlap: timedelta
    log_retention: timedelta


def webhook_policy() -> WebhookPolicy:
    """The parsed, checked policy (PolicyError for a file that breaks the contract's floor of 24 hours)."""
    data: dict[str, Any] = cached_policy(PACKAGE, "webhooks")
    try:
        retry, disable, secret, log = data["retry"], data["disable"], data["secret"], data["log"]
        policy = WebhookPolicy(
            version=str(data["version"]),
            events=frozenset(str(e) for e in data["events"]),
            first_seconds=float(retry["first_seconds"]),
            factor=float(retry["factor"]),
            max_seconds=float(retry["max_seconds"]),
            give_up_after=timedelta(hours=float(retry["give_up_after_hours"])),
            disable_after=timedelta(hours=float(disable["after_hours"])),
            secret_overlap=timedelta(hours=float(secret["overlap_hours"])),
            log_retention=timedelta(days=float(log["retention_days"])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PolicyError(f"notifier webhooks policy: {exc!r}") from exc
    if policy.give_up_after < timedelta(hours=24):
        raise PolicyError("notifier webhooks policy: retries must last at least 24 hours (contract.md Notifier)")
    if not (0 < policy.first_seconds <= policy.max_seconds and policy.factor >= 1):
        raise PolicyError("notifier webhooks policy: retry needs 0 < first_seconds <= max_seconds and factor >= 1")
    if policy.log_retention < policy.give_up_after:
        raise PolicyError("notifier webhooks policy: the log must outlast the retries (replays need it)")
    if policy.disable_after < policy.give_up_after:
        raise PolicyError("notifier webhooks policy: an endpoint is disabled only after its retries could end")
    return policy


def retry_delay(
    *, attempts: int, retry_after: float | None = None, policy: WebhookPolicy, rng: random.Random | None = None
) -> float:
    """Seconds until the next attempt after `attempts` failed ones: exponential with jitter (half to full of the
    step, so receivers recovering from an outage are not hit by every sender at once), or the receiver's own
    Retry-After when it asks for longer, never past the policy's maximum."""
    step = min(policy.max_seconds, policy.first_seconds * policy.factor ** max(0, attempts - 1))
    delay = step * (0.5 + 0.5 * (rng or random).random())
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return min(delay, policy.max_seconds)


def gives_up(*, first_attempt_at: datetime, now: datetime, policy: WebhookPolicy) -> bool:
    return now - first_attempt_at >= policy.give_up_after


def disables(*, failing_since: datetime | None, now: datetime, policy: WebhookPolicy) -> bool:
    return failing_since is not None and now - failing_since >= policy.disable_after
