"""The delivery worker: claims due deliveries, sends them signed, records what came of each.

A round claims a batch (one committed transaction: the lease), sends its requests concurrently, then records the
outcomes (one transaction) and updates the subscriptions' failure streaks: an endpoint failing for longer than the
policy allows is disabled and its owner told. The worker wakes when a consumer commits new deliveries (PostgreSQL
NOTIFY on `notifier_deliveries`) and otherwise polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import asyncpg
import httpx
import orjson
from prometheus_client import Counter, Histogram

from leadnet_shared.app import Runtime
from leadnet_shared.settings import to_plain_url
from leadnet_shared.workers import Step
from notifier import queue, signing, subscriptions
from notifier.rules import WebhookPolicy, gives_up, retry_delay, webhook_policy
from notifier.settings import NotifierSettings
from notifier.targets import TargetRefused, TargetRules

log = logging.getLogger(__name__)

CHANNEL = "notifier_deliveries"
ATTEMPTS = Counter("leadnet_webhook_attempts_total", "Webhook delivery attempts", ["outcome"])
ATTEMPT_SECONDS = Histogram(
    "leadnet_webhook_attempt_seconds", "Webhook request time", buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
)
USER_AGENT = "leadnet-notifier/1"


def target_rules(settings: NotifierSettings) -> TargetRules:
    return TargetRules.of(
        allow_http=bool(settings.webhook_allow_http), allowed_networks=settings.webhook_allowed_networks or []
    )


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or an HTTP date), if any."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class Deliverer:
    def __init__(self, runtime: Runtime, *, client: httpx.AsyncClient | None = None) -> None:
        settings = runtime.settings
        assert isinstance(settings, NotifierSettings)
        self.runtime = runtime
        self.settings = settings
        self.policy: WebhookPolicy = webhook_policy()
        self.rules = target_rules(settings)
        self.client = client or httpx.AsyncClient(
            follow_redirects=False,  # a redirect could lead anywhere, past the target checks: it is a failure
            timeout=settings.delivery_timeout_seconds,
            limits=httpx.Limits(max_connections=settings.delivery_concurrency, max_keepalive_connections=64),
            headers={"user-agent": USER_AGENT},
            trust_env=False,  # no proxy from the environment: the checked address is the one connected to
        )
        self.wakes = [asyncio.Event() for _ in range(settings.delivery_rounds)]
        self.limit = asyncio.Semaphore(settings.delivery_concurrency)

    async def round(self) -> int:
        """One batch: claim, send, record. Returns how many were claimed."""
        clock = self.runtime.clock
        now = clock.now()
        async with self.runtime.db.transaction() as session:
            claimed = await queue.claim(
                session,
                now=now,
                lease_end=now + timedelta(seconds=self.settings.delivery_lease_seconds),
                limit=self.settings.delivery_batch,
            )
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._attempt(c) for c in claimed))
        done = clock.now()
        async with self.runtime.db.transaction() as session:
            await queue.record(session, list(outcomes), now=done)
            await subscriptions.after_attempts(
                session,
                succeeded={o.webhook_id for o in outcomes if o.delivered},
                failed={o.webhook_id for o in outcomes if not o.delivered},
                now=done,
                policy=self.policy,
            )
        return len(claimed)

    async def _attempt(self, c: queue.Claimed) -> queue.Outcome:
        async with self.limit:
            started = time.perf_counter()
            code: int | None = None
            retry_after: float | None = None
            error: str | None = None
            try:
                code, retry_header = await self._send(c)
                if 200 <= code < 300:
                    ATTEMPTS.labels("delivered").inc()
                    return queue.Outcome(c.delivery_id, c.attempts, c.webhook_id, True, code, None, None)
                retry_after = _retry_after(retry_header, self.runtime.clock.now())
                error = f"HTTP {code}"
            except TargetRefused as exc:
                error = f"{exc.code}: {exc}"
            except Exception as exc:  # any failure of one request is that delivery's failed attempt, never the round's
                error = f"{type(exc).__name__}: {exc}"[:200]
            finally:
                ATTEMPT_SECONDS.observe(time.perf_counter() - started)
            ATTEMPTS.labels("failed").inc()
            now = self.runtime.clock.now()
            next_at: datetime | None = now + timedelta(
                seconds=retry_delay(attempts=c.attempts, retry_after=retry_after, policy=self.policy)
            )
            if gives_up(first_attempt_at=c.first_attempt_at, now=now, policy=self.policy):
                next_at = None
            return queue.Outcome(c.delivery_id, c.attempts, c.webhook_id, False, code, error, next_at)

    async def _send(self, c: queue.Claimed) -> tuple[int, str | None]:
        """The answer's status and Retry-After. The body is never read: only the status counts, and a receiver
        cannot make the notifier hold a large answer in memory."""
        _, host, port = self.rules.check_url(c.url)
        address = await self.rules.resolve(host, port)
        body = orjson.dumps(c.payload)
        timestamp = int(self.runtime.clock.now().timestamp())
        headers = signing.headers(c.secrets, msg_id=c.delivery_id, timestamp=timestamp, body=body)
        url = httpx.URL(c.url)
        extensions: dict[str, Any] = {}
        if url.host != str(address):
            # Connect to the address just checked, not to whatever a second lookup returns (DNS rebinding); the
            # Host header and TLS server name stay the URL's, so certificates are verified against the name.
            headers["host"] = url.netloc.decode("ascii")
            extensions["sni_hostname"] = host
            url = url.copy_with(host=str(address))
        request = self.client.build_request("POST", url, content=body, headers=headers, extensions=extensions)
        response = await self.client.send(request, stream=True)
        await response.aclose()
        return response.status_code, response.headers.get("retry-after")

    def wake(self) -> None:
        for event in self.wakes:
            event.set()

    async def _rounds(self, wake: asyncio.Event) -> None:
        while not self.runtime.stopping:
            try:
                claimed = await self.round()
            except Exception:
                log.exception("webhook delivery round failed")
                claimed = 0
            if claimed >= self.settings.delivery_batch:
                continue  # more are due: no wait
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=self.settings.delivery_poll_seconds)
            wake.clear()

    async def run(self) -> None:
        listener = await self._listen()
        try:
            await asyncio.gather(*(self._rounds(wake) for wake in self.wakes))
        finally:
            if listener is not None:
                await listener.close()
            await self.client.aclose()

    async def _listen(self) -> asyncpg.Connection | None:
        try:
            conn = await asyncpg.connect(to_plain_url(self.settings.async_dsn))
            await conn.add_listener(CHANNEL, lambda *_: self.wake())
            return conn
        except Exception:
            log.warning("cannot LISTEN for new deliveries; polling only", exc_info=True)
            return None


def log_purge_step(runtime: Runtime) -> Step:
    """Keeps the delivery log to the policy's retention."""

    async def purge() -> float:
        policy = webhook_policy()
        async with runtime.db.transaction() as session:
            purged = await queue.purge(session, older_than=runtime.clock.now() - policy.log_retention)
        if purged:
            log.info("purged %d old deliveries from the log", purged)
        return 1.0 if purged else 600.0

    return purge


async def delivery_worker(runtime: Runtime) -> None:
    await Deliverer(runtime).run()


async def start_delivery(runtime: Runtime) -> None:
    """A startup hook: the worker runs as one of the service's tasks (stopped with them on shutdown)."""
    runtime.tasks.append(asyncio.create_task(delivery_worker(runtime), name="webhook-delivery"))
