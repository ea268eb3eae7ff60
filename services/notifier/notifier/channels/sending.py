"""One attempt to send one queued message on its channel, and what to do next: the decision the dispatcher writes
back to the database (sent, wait until a time, or give up). Kept free of storage so the rate-limit and retry
rules are tested on their own."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from notifier.channels.base import Channel, DeliveryError, Message, RateLimited, SendWindow


@dataclass(frozen=True, slots=True)
class RetryRule:
    """Transient failures back off exponentially (`base` doubling up to `cap`, jittered) for at least `give_up_after`
    from the message's first queueing."""

    base: timedelta = timedelta(seconds=5)
    cap: timedelta = timedelta(minutes=15)
    give_up_after: timedelta = timedelta(hours=24)

    def delay(self, attempts: int, rng: random.Random) -> timedelta:
        ceiling = min(self.cap.total_seconds(), self.base.total_seconds() * 2 ** max(attempts - 1, 0))
        # Jitter keeps channels that failed together from retrying together; never below half the ceiling.
        return timedelta(seconds=rng.uniform(ceiling / 2, ceiling))


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Literal["sent", "deferred", "failed"]
    retry_at: datetime | None = None
    error: str | None = None
    code: str | None = None
    # Whether the provider was called (a deferral by the local window is not an attempt).
    attempted: bool = True
    # Set when the provider said "too many": the whole channel waits until then, not just this message.
    pause_until: datetime | None = None


async def attempt(
    channel: Channel,
    window: SendWindow,
    message: Message,
    *,
    now: datetime,
    attempts: int,
    queued_at: datetime,
    retry: RetryRule,
    rng: random.Random,
) -> Outcome:
    """Send `message` now if the channel's window allows, else say when; `attempts` counts earlier attempts."""
    wait = window.wait(now)
    if wait > 0:
        return Outcome("deferred", retry_at=now + timedelta(seconds=wait), attempted=False)
    # Counted before the call: a provider counts a request it refused too.
    window.record(now)
    try:
        await channel.send(message)
    except RateLimited as exc:
        until = now + timedelta(seconds=exc.retry_after if exc.retry_after is not None else 60.0)
        window.pause_until(until)
        # A rate limit is the provider's pacing, not a fault of the message: it never makes a message give up.
        return Outcome("deferred", retry_at=until, error=str(exc), code=exc.code, pause_until=until)
    except DeliveryError as exc:
        if exc.permanent:
            return Outcome("failed", error=str(exc), code=exc.code)
        if now - queued_at >= retry.give_up_after:
            return Outcome("failed", error=f"gave up after {attempts + 1} attempts: {exc}", code=exc.code)
        return Outcome("deferred", retry_at=now + retry.delay(attempts + 1, rng), error=str(exc), code=exc.code)
    return Outcome("sent")
