"""Idempotent consumers: the inbox and the consumer loop.

Every handled event's id is recorded in the `inbox` table inside the handler's own transaction, so a redelivered
event changes nothing. Offsets are committed per partition only after the transaction committed, and only for
partitions still assigned; a rebalance waits for the batch in flight (or lets it be abandoned cleanly), so the new
owner starts where this one stopped.

A poll goes to the consumer's one handler in one transaction. If that fails, each event is taken on its own (the
same handler, a batch of one), with its attempt counted in `consumer_failures` *before* the handler runs, in a
transaction of its own: the count survives the rollback and a crash of the process. Retryable errors (deadlock,
serialization failure, lock or statement timeout, a lost connection) are retried with capped, jittered backoff,
re-reading the partition from that event after the backoff, never sleeping inside a transaction; other errors get
`max_attempts`. An event out of attempts is dead-lettered and its key *parked*: the event and the later events of
that key are kept in `consumer_failures`, not skipped, until an operator releases the key (docs/operations.md);
the loop then replays them in order. Other keys keep flowing. A dead letter names the event (id, type, source, topic,
partition, offset, key) and the error's class, never its content. A tombstone (a null value: a compacted topic's
deleted key) is acknowledged and skipped, never dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from prometheus_client import Counter, Gauge
from pydantic import ValidationError
from sqlalchemy import Table, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.clock import Clock, SystemClock
from leadnet_shared.db import Database, execute, fetch
from leadnet_shared.events import DEAD_LETTERS, TOPIC_OF_TYPE, TOPICS, DeadLetter, Envelope
from leadnet_shared.outbox import Outbox

if TYPE_CHECKING:
    from leadnet_shared.app import Runtime
    from leadnet_shared.workers import Step

log = logging.getLogger(__name__)

# A consumer's only decision path: a poll's new events at once, in delivery order (e.g. to settle each affected lead
# once per batch). The fallback that isolates a failing event calls the same handler with a batch of one.
BatchHandler = Callable[[AsyncSession, list[Envelope]], Awaitable[None]]


class AllTypesExcept(frozenset[str]):
    """Every event type, including types added after this code was written, except the set's own members: for a
    consumer that keeps events generically (the router's customer timeline), known type or not."""

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str) and not frozenset.__contains__(self, item)


ALL_TYPES: frozenset[str] = AllTypesExcept()


CONSUMED = Counter("leadnet_events_consumed_total", "Events handled", ["service", "consumer", "outcome"])
CONSUMER_LAST_PROGRESS = Gauge("leadnet_consumer_last_progress_timestamp", "Last poll", ["service", "consumer"])


# Statements are built once: a `text()` made per call parses its bind parameters and computes its cache key again
# every time, paid per batch on every hot path (docs/performance.md, "Statements built once").
CLAIM_ONE_SQL = text(
    "INSERT INTO inbox (consumer, event_id, event_type, outcome) VALUES (:c, :e, :t, :o) "
    "ON CONFLICT DO NOTHING RETURNING 1"
)
# The batch claim runs once per poll on every consumer: sent on the asyncpg connection (see `db.fetch`).
CLAIM_MANY_SQL = (
    "INSERT INTO inbox (consumer, event_id, event_type) "
    "SELECT $1, e.id, e.type FROM unnest(CAST($2 AS text[]), CAST($3 AS text[])) AS e(id, type) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
)


class Inbox:
    """Records processed event ids per consumer."""

    def __init__(self, table: Table) -> None:
        self.table = table

    async def claim(
        self, session: AsyncSession, *, consumer: str, event_id: str, event_type: str, outcome: str = "processed"
    ) -> bool:
        """Insert the id; False when it was already there (a duplicate delivery)."""
        result = await session.execute(
            CLAIM_ONE_SQL,
            {"c": consumer, "e": event_id, "t": event_type, "o": outcome},
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

    async def purge(self, session: AsyncSession, *, now: datetime, limit: int = 10_000) -> int:
        """Forget up to `limit` processed ids that can no longer be delivered again (`inbox_retention`); the rest
        are kept for ever (events of compacted topics and of types this catalogue does not know)."""
        purged = 0
        for retention, types in _purgeable_types().items():
            result = await session.execute(
                text(INBOX_PURGE_SQL.format(table=self.table.name)),
                {"types": types, "before": now - retention, "limit": limit - purged},
            )
            purged += int(getattr(result, "rowcount", 0) or 0)
            if purged >= limit:
                break
        return purged


def inbox_retention(event_type: str) -> timedelta | None:
    """How long a processed id must be remembered: twice its topic's retention (a redelivery after that is
    impossible: Kafka has deleted the event, and the outbox's republish window is far shorter); None for events
    of compacted topics, which a consumer reset to the earliest offset reads again however old they are."""
    spec = _TOPIC_SPECS.get(TOPIC_OF_TYPE.get(event_type, ""))
    if spec is None or spec.retention_days is None:
        return None
    return timedelta(days=2 * spec.retention_days)


def _purgeable_types() -> dict[timedelta, list[str]]:
    by_retention: dict[timedelta, list[str]] = {}
    for event_type in sorted(TOPIC_OF_TYPE):
        if (retention := inbox_retention(event_type)) is not None:
            by_retention.setdefault(retention, []).append(event_type)
    return by_retention


_TOPIC_SPECS = {t.name: t for t in TOPICS}
INBOX_PURGE_SQL = (
    "DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE event_type = ANY(:types) "
    "AND processed_at < :before LIMIT :limit))"
)
INBOX_PURGE_EVERY_SECONDS = 6 * 3600.0


def inbox_purge_step(runtime: Runtime) -> Step:
    """A `workers.periodic` step: the inbox forgets what can no longer come back (review L11: it grew for ever)."""

    async def purge() -> float:
        async with runtime.db.transaction() as session:
            purged = await runtime.inbox.purge(session, now=runtime.clock.now())
        if purged:
            log.info("purged %d processed event ids from the inbox", purged)
        return 0.0 if purged >= 10_000 else INBOX_PURGE_EVERY_SECONDS

    return purge


# SQLSTATEs worth another try: deadlock, serialization failure, lock not available (lock_timeout), statement
# timeout (query_canceled); class 08 (connection exception) and the server shutting down are retryable too.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001", "55P03", "57014", "57P01", "57P02", "57P03"})
_LOST_CONNECTION = (ConnectionError, OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)


def is_retryable(exc: BaseException) -> bool:
    """Whether `exc` is transient (worth retrying with backoff) rather than a property of the event (validation,
    programming errors): looks through the causes, as handlers often wrap a database error in one of their own."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        error = todo.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        if isinstance(error, _LOST_CONNECTION):
            return True
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str) and (sqlstate in RETRYABLE_SQLSTATES or sqlstate.startswith("08")):
            return True
        orig = getattr(error, "orig", None)
        todo.extend([error.__cause__, error.__context__, orig if isinstance(orig, BaseException) else None])
    return False


# The failure book, outside any handler's transaction (each statement commits on its own).
COUNT_ATTEMPT_SQL = (
    'INSERT INTO consumer_failures AS f (consumer, event_id, event_type, event_key, topic, partition, "offset", '
    "payload, status, attempts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'failing', 1) "
    "ON CONFLICT (consumer, event_id) DO UPDATE SET attempts = f.attempts + 1, updated_at = now() "
    "RETURNING attempts, retryable, status"
)
RECORD_ERROR_SQL = (
    "UPDATE consumer_failures SET last_error = $3, retryable = $4, updated_at = now() "
    "WHERE consumer = $1 AND event_id = $2"
)
COUNT_POLL_SQL = (
    'INSERT INTO consumer_failures AS f (consumer, event_id, event_type, event_key, topic, partition, "offset", '
    "payload, status, attempts) SELECT $1, e.*, 'failing', 1 FROM unnest(CAST($2 AS text[]), CAST($3 AS text[]), "
    "CAST($4 AS text[]), CAST($5 AS text[]), CAST($6 AS int[]), CAST($7 AS bigint[]), CAST($8 AS text[])) AS e "
    "ON CONFLICT (consumer, event_id) DO UPDATE SET attempts = f.attempts + 1, updated_at = now() "
    "RETURNING event_id, attempts, retryable, status"
)
FORGET_SQL = "DELETE FROM consumer_failures WHERE consumer = $1 AND event_id = $2"
FORGET_POLL_SQL = (
    "DELETE FROM consumer_failures WHERE consumer = $1 AND event_id = ANY(CAST($2 AS text[])) AND status = 'failing'"
)
HOLD_SQL = (
    'INSERT INTO consumer_failures AS f (consumer, event_id, event_type, event_key, topic, partition, "offset", '
    "payload, status, attempts, last_error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10) "
    "ON CONFLICT (consumer, event_id) DO UPDATE SET status = EXCLUDED.status, attempts = 0, "
    "last_error = EXCLUDED.last_error, updated_at = now() WHERE f.status = 'failing'"
)
SET_STATUS_SQL = "UPDATE consumer_failures SET status = $3 WHERE consumer = $1 AND seq = $2"
PARK_SQL = (
    "UPDATE consumer_failures SET status = 'parked', last_error = $3, updated_at = now() "
    "WHERE consumer = $1 AND event_id = $2"
)
# A key is held while any of its events is parked, waiting or released; released once all of them are.
HELD_KEYS_SQL = (
    "SELECT event_key, bool_and(status IN ('released', 'replaying')) FROM consumer_failures "
    "WHERE consumer = $1 AND status <> 'failing' GROUP BY event_key"
)
# Released rows are taken by one replica at a time; a replay that died with its process is taken again later.
TAKE_RELEASED_SQL = (
    "UPDATE consumer_failures SET status = 'replaying', attempts = 0, updated_at = now() "
    "WHERE consumer = $1 AND (status = 'released' OR (status = 'replaying' AND updated_at < now() - interval "
    "'10 minutes')) RETURNING seq, event_id, event_key, topic, partition, \"offset\", payload"
)
PARKED_GAUGE_SQL = "SELECT count(*) FROM consumer_failures WHERE consumer = $1 AND status IN ('parked', 'waiting')"

CONSUMER_PARKED = Gauge(
    "leadnet_consumer_parked", "Events held behind a parked key (dead-lettered and waiting)", ["service", "consumer"]
)


def is_tombstone(record: ConsumerRecord[bytes, bytes]) -> bool:
    """A message with a null value: on a compacted topic the producer's word that the key is gone (a customer
    erased). Not an event, and not an error: acknowledged and skipped like an event type a consumer does not handle,
    never dead-lettered as an unreadable envelope."""
    return record.value is None


@dataclass(frozen=True, slots=True)
class _Message:
    """A message as the failure book keeps it (from a poll, or stored and released for replay)."""

    topic: str
    partition: int
    offset: int
    key: str
    value: bytes
    tombstone: bool = False  # a null value: the key's deletion marker on a compacted topic

    @classmethod
    def of(cls, record: ConsumerRecord[bytes, bytes]) -> _Message:
        return cls(
            record.topic,
            record.partition,
            record.offset,
            record.key.decode(errors="replace") if record.key else "",
            record.value or b"",
            is_tombstone(record),
        )

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)

    def book_row(self, envelope: Envelope) -> tuple[str, str, str, str, int, int, str]:
        """The failure book's columns for this message: event_id, event_type, event_key, topic, partition,
        offset, payload (the order of COUNT_ATTEMPT_SQL, COUNT_POLL_SQL and HOLD_SQL after the consumer)."""
        value = self.value.decode(errors="replace")
        return envelope.id, envelope.type, self.key, self.topic, self.partition, self.offset, value


class _Rewind(Exception):
    """A signal, not an error: re-read the partition from this event after `delay` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.delay = delay


class _Abandoned(Exception):
    """A signal: the partition was revoked; its new owner takes it from here."""


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: ConsumerLoop) -> None:
        self.loop = loop

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.loop.partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.loop.partitions_assigned(assigned)


@dataclass(kw_only=True, eq=False)
class ConsumerLoop:
    """Consumes topics in batches: one transaction and one `handler` call per poll, offsets after the commit. The
    events of `types` are handled; any other type is acknowledged and skipped (consumers of public topics tolerate
    types they do not know)."""

    name: str
    service: str
    topics: list[str]
    handler: BatchHandler
    types: Collection[str]
    db: Database
    inbox: Inbox
    outbox: Outbox
    bootstrap_servers: str
    group_id: str
    dead_letter_topic: str = DEAD_LETTERS
    max_attempts: int = 5  # for errors that are a property of the event
    max_records: int = 500
    retry_backoff: float = 0.1
    retry_backoff_cap: float = 5.0
    retryable_attempts: int = 20  # for transient ones (about a minute with the defaults)
    replay_interval: float = 5.0
    clock: Clock = field(default_factory=SystemClock)
    kafka_options: Mapping[str, Any] = field(default_factory=dict)  # KafkaSecurity.options(): how to authenticate
    # type -> the only `source` accepted for it (leadnet_shared.access.trusted_sources); None: any source.
    sources: Mapping[str, str] | None = None
    consumer: AIOKafkaConsumer | None = field(init=False, default=None)
    _stopping: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    last_progress: datetime = field(init=False)
    started: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    # Keys held back: key -> True when released (its rows wait for the replay), False while parked.
    _held: dict[str, bool] = field(init=False, default_factory=dict)
    # The poll after a start, an assignment or a failure has its attempts counted before it is handled: the
    # previous owner may have died on one of these events, and a message that crashes the process must be
    # counted to be dead-lettered one day. Other polls skip the book (two statements saved per poll).
    _careful: bool = field(init=False, default=True)
    _idle: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _revoked: set[TopicPartition] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        # A frozenset stays itself: `AllTypesExcept` is one, and copying it would keep only the types it excludes.
        if not isinstance(self.types, frozenset):
            self.types = frozenset(self.types)
        self.kafka_options = dict(self.kafka_options)  # copies: the caller's mappings may change later
        self.sources = dict(self.sources) if self.sources is not None else None
        self.last_progress = self.clock.now()
        self._idle.set()

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.group_id,
            client_id=f"{self.service}-{self.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=20,  # latency matters: a caller may be waiting for this verdict
            max_poll_records=self.max_records,
            session_timeout_ms=15000,
            heartbeat_interval_ms=1000,
            **self.kafka_options,
        )
        self.consumer.subscribe(self.topics, listener=_Rebalance(self))
        await self.consumer.start()
        await self.load_held_keys()

    async def run(self) -> None:
        if self.consumer is None:
            await self.start()
        assert self.consumer is not None
        self.started.set()
        failures = 0
        next_replay = 0.0
        try:
            while not self._stopping.is_set():
                batches = await self.consumer.getmany(timeout_ms=100, max_records=self.max_records)
                self.progressed()
                try:
                    if asyncio.get_running_loop().time() >= next_replay:
                        next_replay = asyncio.get_running_loop().time() + self.replay_interval
                        await self.replay_released()
                    if batches:
                        await self.process(batches)
                    failures = 0
                except Exception:
                    # A transaction rolled back (e.g. the database went away) and no offset was committed: rewind
                    # to the batch's first events and read them again once the backoff has passed.
                    failures += 1
                    log.exception("consumer %s: a batch could not be processed; it will be read again", self.name)
                    self._careful = True
                    self._rewind({tp: msgs[0].offset for tp, msgs in batches.items() if msgs})
                    await self._backoff(min(30.0, 0.5 * 2 ** min(failures, 6)))
        finally:
            await self._close()

    def progressed(self) -> None:
        """Liveness: the loop is polling, or backing off on purpose (not stuck)."""
        self.last_progress = self.clock.now()
        CONSUMER_LAST_PROGRESS.labels(self.service, self.name).set_to_current_time()

    async def partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Before the group rebalances: let the batch in flight finish and commit its offsets (or, if it is retrying
        an event on a revoked partition, abandon that partition cleanly), so the next owner starts where we
        stopped: nothing is lost and nothing handled twice."""
        self._revoked = set(revoked)
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=60)
        except TimeoutError:
            log.warning("consumer %s: the batch in flight did not finish before the rebalance", self.name)

    async def partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._revoked = set()
        self._careful = True
        await self.load_held_keys()

    async def load_held_keys(self) -> None:
        """The keys parked (or released and not yet replayed) for this consumer: whoever owned their partitions."""
        try:
            async with self.db.transaction() as session:
                rows = await fetch(session, HELD_KEYS_SQL, self.name)
                parked = (await fetch(session, PARKED_GAUGE_SQL, self.name))[0][0]
        except Exception:
            log.exception(
                "consumer %s: held keys could not be read; events go event by event until they are", self.name
            )
            self._careful = True
            return
        self._held = {str(key): bool(released) for key, released in rows}
        CONSUMER_PARKED.labels(self.service, self.name).set(parked)

    async def process(self, batches: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        """Handle a poll's records, then commit the offsets of the partitions still assigned."""
        self._idle.clear()
        try:
            # Records of a partition revoked since the poll are its new owner's: not handled, not committed here.
            batches = {tp: msgs for tp, msgs in batches.items() if tp not in self._revoked}
            records = [r for msgs in batches.values() for r in msgs]
            counted: dict[str, tuple[int, bool | None, str]] = {}
            one_by_one = bool(self._held) and any(
                r.key is not None and r.key.decode(errors="replace") in self._held for r in records
            )
            if self._careful and not one_by_one:
                counts = await self._count_poll(records)
                # An event tried before (by a process that died, or that failed it) is taken on its own.
                one_by_one = counts is None or any(a > 1 or st != "failing" for a, _, st in counts.values())
                counted = counts or {}
            if one_by_one or not await self._handle_as_batch(records, counted=list(counted)):
                offsets, rewind = await self._handle_each(records, counted)
            else:
                offsets = {tp: msgs[-1].offset + 1 for tp, msgs in batches.items() if msgs}
                rewind = None
            await self._commit(offsets)
        finally:
            self._idle.set()
        if rewind is not None:
            positions, delay = rewind
            self._rewind(positions)
            await self._backoff(delay)
        else:
            self._careful = False

    async def _count_poll(
        self, records: list[ConsumerRecord[bytes, bytes]]
    ) -> dict[str, tuple[int, bool | None, str]] | None:
        """Count an attempt for each event of the poll, committed before any handler runs; None when a message is
        unreadable (the one-by-one path dead-letters it)."""
        rows = []
        seen: set[str] = set()
        for record in records:
            if is_tombstone(record):
                continue
            try:
                envelope = Envelope.from_bytes(record.value or b"")
            except (ValueError, ValidationError):
                return None
            if self._untrusted(envelope) is not None:
                continue  # refused without attempts (`_handle_one`)
            if envelope.type in self.types and envelope.id not in seen:  # a redelivery in the same poll: once
                seen.add(envelope.id)
                rows.append(_Message.of(record).book_row(envelope))
        if not rows:
            return {}
        columns = list(zip(*rows, strict=True))
        booked = await self._book(COUNT_POLL_SQL, self.name, *(list(column) for column in columns))
        return {str(r["event_id"]): (int(r["attempts"]), r["retryable"], str(r["status"])) for r in booked}

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        assert self.consumer is not None
        assigned = self.consumer.assignment()
        mine = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        if not mine:
            return
        try:
            await self.consumer.commit(mine)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group rebalanced under us: the partition's new owner reads these again; the inbox makes that
            # harmless.
            log.warning(
                "consumer %s: offset commit failed after a rebalance (%r); events will be redelivered", self.name, exc
            )

    def _rewind(self, positions: Mapping[TopicPartition, int]) -> None:
        """Read again from these offsets, on the partitions we still own (a revoked one is its new owner's)."""
        if self.consumer is None:
            return
        for tp, offset in positions.items():
            try:
                if tp in self.consumer.assignment():
                    self.consumer.seek(tp, offset)
            except (IllegalStateError, AssertionError, KafkaError) as exc:  # unassigned while we looked
                log.info("consumer %s: not rewinding %s (%r)", self.name, tp, exc)

    async def _backoff(self, delay: float) -> None:
        """Wait outside any transaction, with jitter, staying live and stoppable."""
        deadline = asyncio.get_running_loop().time() + delay * random.uniform(0.5, 1.0)
        while not self._stopping.is_set():
            self.progressed()
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=min(left, 1.0))
            except TimeoutError:
                continue

    async def handle(self, records: list[ConsumerRecord[bytes, bytes]]) -> bool:
        """Apply a poll's records (before its offsets are committed); True when one handler call took them all,
        False when they went one by one (the batch failed and was rolled back, or a message was unreadable)."""
        if await self._handle_as_batch(records):
            return True
        await self.handle_each(records)
        return False

    async def _handle_as_batch(
        self, records: list[ConsumerRecord[bytes, bytes]], *, counted: Collection[str] = ()
    ) -> bool:
        """One transaction, one inbox claim and one handler call for the whole poll; False (the transaction rolled
        back) sends it down the one-by-one path, which retries each event on its own and dead-letters only the
        ones that keep failing. No savepoint: it would cost two round trips on every poll to spare a rare
        failing batch one."""
        envelopes = []
        tombstones = 0
        for record in records:
            if is_tombstone(record):
                tombstones += 1
                continue
            try:
                envelopes.append(Envelope.from_bytes(record.value or b""))
            except (ValueError, ValidationError):
                return False  # let the one-by-one path dead-letter the unreadable message
        known = [e for e in envelopes if e.type in self.types]
        if any(self._untrusted(e) is not None for e in known):
            return False  # the one-by-one path refuses the event from the wrong source, and handles the rest
        try:
            async with self.db.transaction() as session:
                fresh = await self.inbox.claim_many(session, consumer=self.name, envelopes=known)
                if fresh:
                    await self.handler(session, fresh)
                if counted:  # the attempts counted for this poll: it succeeded
                    await execute(session, FORGET_POLL_SQL, self.name, list(counted))
        except Exception as exc:
            log.warning("batch of %d events failed (%r); handling them one at a time", len(records), exc)
            return False
        CONSUMED.labels(self.service, self.name, "processed").inc(len(fresh))
        CONSUMED.labels(self.service, self.name, "duplicate").inc(len(known) - len(fresh))
        if tombstones:
            CONSUMED.labels(self.service, self.name, "tombstone").inc(tombstones)
        return True

    async def handle_each(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """The fallback that isolates a failing event: the same handler on batches of one, each in a transaction
        of its own with its inbox claim; failing events are retried in place (no broker to re-read from)."""
        for record in records:
            while True:
                try:
                    await self._handle_one(_Message.of(record))
                    break
                except _Rewind as rewind:
                    await self._backoff(rewind.delay)

    async def _handle_each(
        self,
        records: list[ConsumerRecord[bytes, bytes]],
        counted: dict[str, tuple[int, bool | None, str]],
    ) -> tuple[dict[TopicPartition, int], tuple[dict[TopicPartition, int], float] | None]:
        """Each event on its own, in order; returns the offsets to commit, and where to re-read from (and after
        what backoff) when an event failed and has attempts left. A partition revoked meanwhile is left as is."""
        offsets: dict[TopicPartition, int] = {}
        stopped: dict[TopicPartition, int] = {}
        delay = 0.0
        for record in records:
            message = _Message.of(record)
            if message.tp in stopped:
                continue  # later events of the partition wait behind the one being retried
            try:
                await self._handle_one(message, counted)
            except _Rewind as rewind:
                stopped[message.tp] = message.offset
                delay = max(delay, rewind.delay)
                continue
            except _Abandoned:
                stopped[message.tp] = message.offset
                continue
            offsets[message.tp] = message.offset + 1
        return offsets, ((stopped, delay) if stopped else None)

    async def _handle_one(
        self, message: _Message, counted: dict[str, tuple[int, bool | None, str]] | None = None
    ) -> None:
        """One event: handled, acknowledged as a duplicate or an unknown type, held behind its parked key, parked,
        or (with attempts left) `_Rewind` to try again after a backoff. `counted`: attempts already counted for
        this poll (taken once: a retry in place counts again)."""
        if message.tp in self._revoked:
            raise _Abandoned
        if message.tombstone:
            CONSUMED.labels(self.service, self.name, "tombstone").inc()
            return
        try:
            envelope = Envelope.from_bytes(message.value)
        except (ValueError, ValidationError) as exc:
            async with self.db.transaction() as session:
                await self._dead_letter(session, message, None, error_class=f"UnreadableEnvelope.{type(exc).__name__}")
            return
        if envelope.type not in self.types:
            return
        refusal = self._untrusted(envelope)
        if refusal is not None:
            await self._refuse(message, envelope, refusal)
            return
        if message.key in self._held:
            await self._hold(message, envelope)
            return
        booked = counted.pop(envelope.id, None) if counted is not None else None
        if booked is None:
            row = (await self._book(COUNT_ATTEMPT_SQL, self.name, *message.book_row(envelope)))[0]
            booked = (int(row["attempts"]), row["retryable"], str(row["status"]))
        attempts, retryable, status = booked
        if status != "failing":  # parked or waiting meanwhile (another replica, an operator): leave it held
            self._held.setdefault(message.key, False)
            return
        if attempts > self._budget(retryable):
            # Counted before each run and never settled: the handler crashed the process (or we lost the book).
            await self._park(
                message,
                envelope,
                attempts=attempts - 1,
                error="the process died handling it",
                error_class="ProcessDied",
            )
            return
        try:
            async with self.db.transaction() as session:
                claimed = await self.inbox.claim(
                    session, consumer=self.name, event_id=envelope.id, event_type=envelope.type
                )
                if claimed:
                    await self.handler(session, [envelope])
                await execute(session, FORGET_SQL, self.name, envelope.id)
        except Exception as exc:
            kind = is_retryable(exc)
            await self._book(RECORD_ERROR_SQL, self.name, envelope.id, repr(exc)[:2000], kind)
            if attempts >= self._budget(kind):
                log.error(
                    "consumer %s: event %s (%s) failed %d times; dead-lettered, key %r parked: %r",
                    self.name,
                    envelope.id,
                    envelope.type,
                    attempts,
                    message.key,
                    exc,
                )
                await self._park(message, envelope, attempts=attempts, error=repr(exc), error_class=type(exc).__name__)
                return
            log.warning(
                "consumer %s: event %s (%s) failed (attempt %d/%d, %s): %r",
                self.name,
                envelope.id,
                envelope.type,
                attempts,
                self._budget(kind),
                "retryable" if kind else "permanent",
                exc,
            )
            raise _Rewind(min(self.retry_backoff_cap, self.retry_backoff * 2 ** (attempts - 1))) from exc
        CONSUMED.labels(self.service, self.name, "processed" if claimed else "duplicate").inc()

    def _untrusted(self, envelope: Envelope) -> str | None:
        """Why this event must not be handled (its type from a source that does not produce it), or None."""
        if self.sources is None or envelope.type not in self.types:
            return None
        expected = self.sources.get(envelope.type)
        if envelope.source == expected:
            return None
        return f"refused: {envelope.type} from source {envelope.source!r}; only {expected!r} produces it"

    async def _refuse(self, message: _Message, envelope: Envelope, reason: str) -> None:
        """Dead-letter an event from the wrong source at once, without attempts and without parking its key: a
        forged event must not hold back the key's real ones. The inbox records it, so a redelivery is skipped."""
        log.error("consumer %s: event %s %s", self.name, envelope.id, reason)
        async with self.db.transaction() as session:
            claimed = await self.inbox.claim(
                session, consumer=self.name, event_id=envelope.id, event_type=envelope.type, outcome="refused"
            )
            if claimed:
                await self._dead_letter(session, message, envelope, error_class="RefusedSource", attempts=0)
        CONSUMED.labels(self.service, self.name, "refused").inc()

    def _budget(self, retryable: bool | None) -> int:
        return self.retryable_attempts if retryable else self.max_attempts

    async def _book(self, sql: str, *args: object) -> list[asyncpg.Record]:
        """A statement on the failure book, committed on its own (never inside the handler's transaction)."""
        async with self.db.transaction() as session:
            return await fetch(session, sql, *args)

    async def _hold(self, message: _Message, envelope: Envelope) -> None:
        """Keep an event of a parked key for later instead of handling it out of order."""
        released = self._held[message.key]
        await self._book(
            HOLD_SQL,
            self.name,
            *message.book_row(envelope),
            "released" if released else "waiting",
            "waiting behind a parked event of its key",
        )
        CONSUMED.labels(self.service, self.name, "held").inc()

    async def _park(
        self, message: _Message, envelope: Envelope, *, attempts: int, error: str, error_class: str
    ) -> None:
        """Out of attempts: dead-letter the event (through the outbox) and park its key. The error's text stays in
        `consumer_failures` (the service's own database); the dead letter carries its class only."""
        async with self.db.transaction() as session:
            await execute(session, PARK_SQL, self.name, envelope.id, error[:2000])
            await self._dead_letter(session, message, envelope, error_class=error_class, attempts=attempts)
        self._held[message.key] = False
        CONSUMER_PARKED.labels(self.service, self.name).inc()

    async def replay_released(self) -> None:
        """Replay the events an operator released (their key's parked and waiting events), in their order."""
        rows = await self._book(TAKE_RELEASED_SQL, self.name)
        if not rows and not any(self._held.values()):
            return
        for key in {str(row["event_key"]) for row in rows}:
            self._held.pop(key, None)
        for row in sorted(rows, key=lambda r: int(r["seq"])):
            message = _Message(
                str(row["topic"]),
                int(row["partition"]),
                int(row["offset"]),
                str(row["event_key"]),
                str(row["payload"]).encode(),
            )
            if message.key in self._held:  # an earlier event of the key failed again: back to waiting
                await self._book(SET_STATUS_SQL, self.name, row["seq"], "waiting")
                continue
            await self._book(SET_STATUS_SQL, self.name, row["seq"], "failing")
            while True:
                try:
                    await self._handle_one(message)
                    break
                except _Rewind as rewind:
                    await self._backoff(rewind.delay)
                except _Abandoned:
                    break
        await self.load_held_keys()

    async def _dead_letter(
        self,
        session: AsyncSession,
        message: _Message,
        envelope: Envelope | None,
        *,
        error_class: str,
        attempts: int = 1,
    ) -> None:
        """Publish where the failed event is and what it is, never the event itself: the original may carry
        personal data (a raw record) and the topic, partition and offset find it again (docs/operations.md)."""
        now = self.clock.now()
        data = DeadLetter(
            consumer=self.name,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key or None,
            failed_event_id=envelope.id if envelope is not None else None,
            failed_event_type=envelope.type if envelope is not None else None,
            failed_event_source=envelope.source if envelope is not None else None,
            error_class=error_class[:200],
            attempts=attempts,
            failed_at=now,
        )
        await self.outbox.publish(session, data, key=data.key or self.name, subject=data.failed_event_id, time=now)
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
