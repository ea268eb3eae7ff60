"""Idempotent consumers: the inbox and the consumer loop.

Every handled event's id is recorded in the `inbox` table inside the handler's own transaction, so a redelivered
event changes nothing. Offsets are committed per partition only after the transaction committed; a
`CommitFailedError` after a rebalance just means "it will be redelivered", which the inbox makes harmless. A message
that keeps failing is sent to the dead-letter topic (through the outbox, so that too is never lost) after
`max_attempts`, instead of blocking its partition forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from prometheus_client import Counter, Gauge
from pydantic import ValidationError
from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.clock import Clock, SystemClock
from leadnet_shared.db import Database, fetch
from leadnet_shared.events import DEAD_LETTERS, Envelope, EventData, make_envelope
from leadnet_shared.outbox import Outbox

log = logging.getLogger(__name__)

# A consumer's only decision path: a poll's new events at once, in delivery order (e.g. to settle each affected lead
# once per batch). The fallback that isolates a failing event calls the same handler with a batch of one.
BatchHandler = Callable[[AsyncSession, list[Envelope]], Awaitable[None]]

CONSUMED = Counter("leadnet_events_consumed_total", "Events handled", ["service", "consumer", "outcome"])
CONSUMER_LAST_PROGRESS = Gauge("leadnet_consumer_last_progress_timestamp", "Last poll", ["service", "consumer"])


class DeadLetter(EventData):
    consumer: str
    topic: str
    partition: int
    offset: int
    key: str | None = None
    error: str
    attempts: int
    original: str  # the message as received (internal topic: may carry personal data)
    failed_at: datetime


# Statements are built once: a `text()` made per call parses its bind parameters and computes its cache key again
# every time, 0.05-0.1 ms of CPU per execution here (micro-measured), paid per batch on every hot path.
CLAIM_ONE_SQL = text("INSERT INTO inbox (consumer, event_id, event_type, outcome) VALUES (:c, :e, :t, :o) "
                     "ON CONFLICT DO NOTHING RETURNING 1")
# The batch claim runs once per poll on every consumer: sent on the asyncpg connection (see `db.fetch`).
CLAIM_MANY_SQL = (
    "INSERT INTO inbox (consumer, event_id, event_type) "
    "SELECT $1, e.id, e.type FROM unnest(CAST($2 AS text[]), CAST($3 AS text[])) AS e(id, type) "
    "ON CONFLICT DO NOTHING RETURNING event_id")


class Inbox:
    """Records processed event ids per consumer."""

    def __init__(self, table: Table) -> None:
        self.table = table

    async def claim(self, session: AsyncSession, *, consumer: str, event_id: str, event_type: str,
                    outcome: str = "processed") -> bool:
        """Insert the id; False when it was already there (a duplicate delivery)."""
        result = await session.execute(
            CLAIM_ONE_SQL, {"c": consumer, "e": event_id, "t": event_type, "o": outcome},
        )
        return result.first() is not None

    async def claim_many(self, session: AsyncSession, *, consumer: str, envelopes: list[Envelope]) -> list[Envelope]:
        """Claim a batch in one statement; returns the events not seen before, in order, each once."""
        if not envelopes:
            return []
        rows = await fetch(session, CLAIM_MANY_SQL, consumer, [e.id for e in envelopes], [e.type for e in envelopes])
        fresh = {row[0] for row in rows}
        out = []
        for envelope in envelopes:
            if envelope.id in fresh:
                out.append(envelope)
                fresh.discard(envelope.id)  # the same event twice in one poll is handled once
        return out


class ConsumerLoop:
    """Consumes topics in batches: one transaction and one `handler` call per poll, offsets after the commit. The
    events of `types` are handled; any other type is acknowledged and skipped (consumers of public topics tolerate
    types they do not know)."""

    def __init__(self, *, name: str, service: str, topics: list[str], handler: BatchHandler, types: Collection[str],
                 db: Database, inbox: Inbox, outbox: Outbox, bootstrap_servers: str, group_id: str,
                 dead_letter_topic: str = DEAD_LETTERS, max_attempts: int = 5, max_records: int = 500,
                 retry_backoff: float = 0.05, clock: Clock | None = None) -> None:
        self.name = name
        self.service = service
        self.topics = topics
        self.handler = handler
        self.types = frozenset(types)
        self.db = db
        self.inbox = inbox
        self.outbox = outbox
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self.dead_letter_topic = dead_letter_topic
        self.max_attempts = max_attempts
        self.max_records = max_records
        self.retry_backoff = retry_backoff
        self.clock = clock or SystemClock()
        self.consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()
        self.last_progress = self.clock.now()
        self.started = asyncio.Event()

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.group_id,
            client_id=f"{self.service}-{self.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=20,  # latency matters: a caller may be waiting for this verdict
            max_poll_records=self.max_records,
            session_timeout_ms=15000,
            heartbeat_interval_ms=1000,
        )
        await self.consumer.start()

    async def run(self) -> None:
        if self.consumer is None:
            await self.start()
        assert self.consumer is not None
        self.started.set()
        try:
            while not self._stopping.is_set():
                batches = await self.consumer.getmany(timeout_ms=100, max_records=self.max_records)
                self.last_progress = self.clock.now()
                CONSUMER_LAST_PROGRESS.labels(self.service, self.name).set_to_current_time()
                if not batches:
                    continue
                try:
                    await self.process(batches)
                except Exception:
                    # The transaction rolled back (e.g. the database went away) and no offset was committed:
                    # rewind to the batch's first events and read them again once the backoff has passed.
                    log.exception("consumer %s: a batch could not be processed; it will be read again", self.name)
                    for tp, msgs in batches.items():
                        if msgs:
                            self.consumer.seek(tp, msgs[0].offset)
                    await asyncio.sleep(1.0)
        finally:
            await self._close()

    async def process(self, batches: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        """Handle a poll's records in one transaction, then commit their offsets."""
        await self.handle([r for msgs in batches.values() for r in msgs])
        offsets = {tp: msgs[-1].offset + 1 for tp, msgs in batches.items() if msgs}
        assert self.consumer is not None
        try:
            await self.consumer.commit(offsets)
        except CommitFailedError:
            # The group rebalanced: another member will get these again; the inbox makes that harmless.
            log.warning("offset commit failed after a rebalance; events will be redelivered (%s)", self.name)

    async def handle(self, records: list[ConsumerRecord[bytes, bytes]]) -> bool:
        """Apply a poll's records (before its offsets are committed); True when one handler call took them all,
        False when they went one by one (the batch failed and was rolled back, or a message was unreadable)."""
        if await self._handle_as_batch(records):
            return True
        await self.handle_each(records)
        return False

    async def _handle_as_batch(self, records: list[ConsumerRecord[bytes, bytes]]) -> bool:
        """One transaction, one inbox claim and one handler call for the whole poll; False (the transaction rolled
        back) sends it down the one-by-one path, which retries each event on its own and dead-letters only the
        ones that keep failing. No savepoint: it would cost two round trips on every poll to spare a rare
        failing batch one."""
        envelopes = []
        for record in records:
            try:
                envelopes.append(Envelope.from_bytes(record.value or b""))
            except (ValueError, ValidationError):
                return False  # let the one-by-one path dead-letter the unreadable message
        known = [e for e in envelopes if e.type in self.types]
        try:
            async with self.db.transaction() as session:
                fresh = await self.inbox.claim_many(session, consumer=self.name, envelopes=known)
                if fresh:
                    await self.handler(session, fresh)
        except Exception as exc:
            log.warning("batch of %d events failed (%r); handling them one at a time", len(records), exc)
            return False
        CONSUMED.labels(self.service, self.name, "processed").inc(len(fresh))
        CONSUMED.labels(self.service, self.name, "duplicate").inc(len(known) - len(fresh))
        return True

    async def handle_each(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """The fallback that isolates a failing event: the same handler on batches of one, each with its inbox
        claim in a savepoint of one transaction."""
        async with self.db.transaction() as session:
            for record in records:
                await self._handle_with_retries(session, record)

    async def _handle_with_retries(self, session: AsyncSession, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            envelope = Envelope.from_bytes(record.value or b"")
        except (ValueError, ValidationError) as exc:
            await self._dead_letter(session, record, f"unreadable envelope: {exc}", attempts=1, event_id=None)
            return
        if envelope.type not in self.types:
            return
        attempt = 0
        while True:
            attempt += 1
            try:
                async with session.begin_nested():
                    if not await self.inbox.claim(session, consumer=self.name, event_id=envelope.id,
                                                  event_type=envelope.type):
                        CONSUMED.labels(self.service, self.name, "duplicate").inc()
                        return
                    await self.handler(session, [envelope])
                CONSUMED.labels(self.service, self.name, "processed").inc()
                return
            except Exception as exc:
                if attempt >= self.max_attempts:
                    log.error("event %s (%s) failed %d times; dead-lettering: %r", envelope.id, envelope.type,
                              attempt, exc)
                    await self._dead_letter(session, record, repr(exc), attempts=attempt, event_id=envelope.id,
                                            event_type=envelope.type)
                    return
                log.warning("event %s (%s) failed (attempt %d/%d): %r", envelope.id, envelope.type, attempt,
                            self.max_attempts, exc)
                await asyncio.sleep(self.retry_backoff * 2 ** (attempt - 1))

    async def _dead_letter(self, session: AsyncSession, record: ConsumerRecord[bytes, bytes], error: str, *,
                           attempts: int, event_id: str | None, event_type: str = "unknown") -> None:
        now = self.clock.now()
        data = DeadLetter(
            consumer=self.name, topic=record.topic, partition=record.partition, offset=record.offset,
            key=record.key.decode(errors="replace") if record.key else None, error=error[:2000],
            attempts=attempts, original=(record.value or b"").decode(errors="replace"), failed_at=now,
        )
        envelope = make_envelope(data=data, event_type="leadnet.event.dead_lettered",
                                 source=f"/leadnet/{self.service}/{self.name}", time=now,
                                 subject=event_id)
        async with session.begin_nested():
            if event_id is not None:
                await self.inbox.claim(session, consumer=self.name, event_id=event_id, event_type=event_type,
                                       outcome="dead_lettered")
            await self.outbox.add(session, topic=self.dead_letter_topic, key=data.key or self.name,
                                  envelope=envelope, aggregate_type="dead_letter")
        CONSUMED.labels(self.service, self.name, "dead_lettered").inc()

    def stop(self) -> None:
        self._stopping.set()

    async def _close(self) -> None:
        if self.consumer is not None:
            try:
                await self.consumer.stop()
            except KafkaError:
                log.warning("consumer stop failed", exc_info=True)
            self.consumer = None
