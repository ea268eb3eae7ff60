"""Messages to people, end to end: events → trigger lines (`people.py`) → digests at their time → the channels.

- The consumer (`people_handler`) writes each event's digest lines in the same transaction as its inbox entry, so
  an event is turned into lines exactly once whatever is redelivered.
- The worker (`people_worker`) flushes the lines whose time has come into queued messages, one per channel,
  trigger, dealer and position, then sends the queued messages that are due, each channel within its send window
  (rebuilt from the database every pass: restarts and replicas do not reset it). A message the window cannot take
  now, or that the provider refused for its rate, waits with a later `not_before`: a burst is spread, not dropped.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Mapping
from datetime import timedelta

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.app import Runtime
from leadnet_shared.clock import Clock
from leadnet_shared.consumer import BatchHandler
from leadnet_shared.db import Database
from leadnet_shared.events import Envelope
from leadnet_shared.policy import PolicyError
from leadnet_shared.workers import Step
from notifier import people_store as store
from notifier.channels.base import Channel, SendWindow
from notifier.channels.config import build_channel
from notifier.channels.sending import attempt
from notifier.people import DigestLine, PeoplePolicy, Withdrawal, digests, lines_for_event, people_policy

log = logging.getLogger(__name__)

PERIOD = timedelta(minutes=1)  # every documented limit is per minute
SENDS = Counter("leadnet_people_messages_total", "Messages to people by channel kind and outcome", ["kind", "outcome"])


def source_types(policy: PeoplePolicy) -> frozenset[str]:
    """The event types any trigger reads (to add or to take back lines)."""
    return frozenset(t for trigger in policy.triggers for t in (*trigger.events, *trigger.withdraw_events))


def people_handler(runtime: Runtime) -> BatchHandler:
    policy = people_policy()

    async def handle(session: AsyncSession, envelopes: list[Envelope]) -> None:
        now = runtime.clock.now()
        lines: list[tuple[str, DigestLine]] = []
        withdrawals: list[Withdrawal] = []
        for envelope in envelopes:
            if not isinstance(envelope.data, dict):
                continue
            added, taken = lines_for_event(policy, envelope.type, envelope.data, received_at=now)
            if taken:
                # Apply what came before the withdrawal first, so that the batch keeps the events' order.
                await store.add_lines(session, lines, withdrawals, now=now)
                lines, withdrawals = [], list(taken)
            lines.extend((envelope.id, line) for line in added)
        await store.add_lines(session, lines, withdrawals, now=now)

    return handle


def build_channels(policy: PeoplePolicy, env: Mapping[str, str] | None = None) -> dict[str, Channel]:
    """The adapters of every configured channel; a channel whose secrets are missing stops the service."""
    return {spec.channel_id: build_channel(spec, os.environ if env is None else env) for spec in policy.channels}


class PeopleDispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        policy: PeoplePolicy | None = None,
        channels: Mapping[str, Channel] | None = None,
        batch: int = 50,
        poll_seconds: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy or people_policy()
        self.channels = dict(channels) if channels is not None else build_channels(self.policy)
        self.limits = {spec.channel_id: self._limit(spec.kind, spec.settings) for spec in self.policy.channels}
        self.kinds = {spec.channel_id: spec.kind for spec in self.policy.channels}
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.rng = rng or random.Random()

    def _limit(self, kind: str, settings: Mapping[str, object]) -> int:
        documented = self.policy.limit_of(kind)
        own = settings.get("per_minute")
        if own is None:
            return documented
        if not isinstance(own, int) or not 1 <= own <= documented:
            raise PolicyError(f"a {kind} channel's per_minute must be between 1 and the documented {documented}")
        return own

    async def flush(self) -> int:
        """The notifier's own notices to owners into lines, then due lines into queued messages (one transaction: a
        line is either waiting or in a message)."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            notices = await store.take_owner_notices(session, now=now)
            told: list[tuple[str, DigestLine]] = []
            for notice in notices:
                added, _ = lines_for_event(self.policy, notice["type"], notice, received_at=now)
                told.extend((f"owner_notice:{notice['seq']}", line) for line in added)
            await store.add_lines(session, told, [], now=now)
            lines = await store.take_due_lines(session, now=now)
            made = digests(self.policy, lines)
            await store.queue_messages(session, made, now=now)
        return len(made)

    async def send_due(self) -> int:
        """Send the due messages each channel's window allows; the number of messages handled."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            due = await store.claim_due(session, now=now, limit=self.batch)
            if not due:
                return 0
            recent = await store.recent_sends(session, sorted({m.channel_id for m in due}), now=now, period=PERIOD)
            windows: dict[str, SendWindow] = {}
            for channel_id, (sends, paused_until) in recent.items():
                window = SendWindow(self.limits.get(channel_id, 1), PERIOD, sends)
                if paused_until is not None:
                    window.pause_until(paused_until)
                windows[channel_id] = window
            for queued in due:
                channel = self.channels.get(queued.channel_id)
                if channel is None:
                    # The channel was removed from the policy: nobody can be reached through it any more.
                    await store.mark_failed(session, queued.message_id, error="channel not configured", code=None)
                    continue
                now = self.clock.now()
                outcome = await attempt(
                    channel,
                    windows[queued.channel_id],
                    queued.message,
                    now=now,
                    attempts=queued.attempts,
                    queued_at=queued.queued_at,
                    retry=self.policy.retry,
                    rng=self.rng,
                )
                if outcome.attempted:
                    await store.record_send(session, queued.channel_id, at=now)
                kind = self.kinds.get(queued.channel_id, "unknown")
                if outcome.status == "sent":
                    await store.mark_sent(session, queued.message_id, now=now)
                elif outcome.status == "failed":
                    log.warning("message %s on %s given up: %s", queued.message_id, queued.channel_id, outcome.error)
                    await store.mark_failed(session, queued.message_id, error=outcome.error, code=outcome.code)
                else:
                    assert outcome.retry_at is not None
                    if outcome.pause_until is not None:
                        await store.pause_channel(session, queued.channel_id, until=outcome.pause_until)
                    await store.defer(
                        session,
                        queued.message_id,
                        retry_at=outcome.retry_at,
                        attempted=outcome.attempted,
                        error=outcome.error,
                        code=outcome.code,
                    )
                SENDS.labels(kind, outcome.status).inc()
            await store.purge_sends(session, before=now - PERIOD * 10)
        return len(due)

    async def step(self) -> float:
        await self.flush()
        handled = await self.send_due()
        return 0.0 if handled >= self.batch else self.poll_seconds

    async def aclose(self) -> None:
        for channel in self.channels.values():
            await channel.aclose()


def people_step(runtime: Runtime) -> Step:
    dispatcher = PeopleDispatcher(runtime.db, runtime.clock)
    return dispatcher.step
