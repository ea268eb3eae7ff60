"""Transactional outbox: events are rows written in the caller's transaction; a relay publishes them.

Never publish to Kafka inside a request before the commit: a crash between the two would lose the event or
publish one whose state change rolled back. The relay publishes with `acks=all`, marks rows sent, and retries with
backoff. Sent rows are kept for a retention window so that a broker that lost them (an embedded broker restarted, a
new cluster id) gets the tail again; the consumers' inboxes make the repeats harmless. Rows of event types that carry
personal data in full (`EventData.personal_data`) are kept minutes, not days (docs/privacy.md). A tombstone (a null
value for a key of a compacted topic) is a row with an empty payload (`Outbox.tombstone`).

Order per key (the aggregate id, the Kafka key) holds across relay replicas: keys are spread over `key_partitions`
partitions, and a relay publishes a partition's rows only while it holds that partition's transaction-scoped
advisory lock, so one key has one publisher at a time, which awaits the broker's acks before committing. Within a
batch, a row that fails holds back the later rows of its key (they wait behind it, also once it is parked). A row
that keeps failing (too large for the broker, a topic that does not exist, ...) is parked after `max_attempts`:
alerted (`leadnet_outbox_parked`, an error log) and left for an operator (docs/operations.md); the rest flows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidTopicError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from prometheus_client import Counter, Gauge
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TextClause,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.clock import Clock, SystemClock
from leadnet_shared.db import Database, execute, fetch
from leadnet_shared.events import (
    KAFKA_HEADERS,
    PERSONAL_DATA_TYPES,
    SPECVERSION,
    Envelope,
    EventData,
    make_envelope,
    new_event_id,
)

log = logging.getLogger(__name__)

# The outbox row of a tombstone: its event_type, and an empty payload that the relay sends as a null value.
TOMBSTONE = "kafka.tombstone"

OUTBOX_PENDING = Gauge("leadnet_outbox_pending", "Outbox rows not yet published", ["service"])
OUTBOX_LAG = Gauge("leadnet_outbox_lag_seconds", "Age of the oldest unpublished outbox row", ["service"])
OUTBOX_PUBLISHED = Counter("leadnet_outbox_published_total", "Outbox rows published", ["service"])
OUTBOX_FAILURES = Counter("leadnet_outbox_publish_failures_total", "Failed publish attempts", ["service"])
OUTBOX_PARKED = Gauge("leadnet_outbox_parked", "Outbox rows parked after repeated publish failures", ["service"])

# The advisory-lock class of the relay's key partitions (the two-int lock space; other locks use the bigint one).
RELAY_LOCK_CLASS = 0x6F7574  # "out"
# Errors that belong to the row itself, not to the broker's health: a row failing so is parked even when nothing
# else was published lately.
ROW_ERRORS = (MessageSizeTooLargeError, InvalidTopicError, TopicAuthorizationFailedError)
# Errors that hold for every row of the topic: a batch tries the topic once (a missing topic costs a metadata
# timeout per try).
TOPIC_ERRORS = (UnknownTopicOrPartitionError, TopicAuthorizationFailedError, InvalidTopicError, KafkaTimeoutError)


def define_kit_tables(metadata: MetaData) -> tuple[Table, Table, Table]:
    """The outbox, inbox and kit-state tables, in a service's own metadata (and so its own migrations)."""
    outbox = Table(
        "outbox",
        metadata,
        Column("seq", BigInteger, Identity(always=True), primary_key=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("aggregate_type", String(64), nullable=False),
        Column("aggregate_id", String(200), nullable=False),  # the Kafka key
        Column("event_type", String(120), nullable=False),
        Column("payload", Text, nullable=False),  # the serialized CloudEvents envelope
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("sent_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("last_error", Text),
        # Set when the relay gave up on the row (see OutboxRelay); an operator clears it to release the row.
        Column("parked_at", DateTime(timezone=True)),
        Index("ix_outbox_unsent", "seq", postgresql_where=text("sent_at IS NULL")),
        Index("ix_outbox_sent_at", "sent_at"),
        # Rows that failed at least once: the few that may hold back the later rows of their key.
        Index("ix_outbox_retrying", "aggregate_id", "seq", postgresql_where=text("sent_at IS NULL AND attempts > 0")),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("event_type", String(120), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("outcome", String(20), nullable=False, server_default="processed"),  # processed | dead_lettered
    )
    state = Table(
        "kit_state",
        metadata,
        Column("key", String(100), primary_key=True),
        Column("value", JSONB, nullable=False),
    )
    # The consumers' failure book (leadnet_shared.consumer): attempts counted outside the handler's rolled-back
    # transaction, and the events held behind a parked key, kept to be replayed in order once released.
    Table(
        "consumer_failures",
        metadata,
        Column("seq", BigInteger, Identity(always=True), primary_key=True),
        Column("consumer", String(100), nullable=False),
        Column("event_id", String(64), nullable=False),
        Column("event_type", String(120), nullable=False),
        Column("event_key", String(200), nullable=False),  # the Kafka key: a parked key holds its later events
        Column("topic", String(200), nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("payload", Text, nullable=False),  # the message as received (internal: may carry personal data)
        Column("status", String(20), nullable=False),  # failing | parked | waiting | released | replaying
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("retryable", Boolean),  # the last error's kind (NULL: none recorded, e.g. the process died)
        Column("last_error", Text),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        UniqueConstraint("consumer", "event_id", name="uq_consumer_failures_consumer_event"),
        Index("ix_consumer_failures_held", "consumer", "event_key", postgresql_where=text("status <> 'failing'")),
    )
    return outbox, inbox, state


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One event on its way out: the typed payload, its Kafka key and its CloudEvents subject.

    The key orders events: contract.md keys every event by its customer id (the dealer code for dealer events),
    so one customer's events keep their order on every topic.
    """

    event: EventData
    key: str
    subject: str | None
    event_id: str | None = None  # a derived id, for an event that must exist at most once (timers, reminders)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    topic: str
    key: str
    aggregate_type: str
    envelope: Envelope


class TopicNotWritable(PermissionError):
    """An event for a topic the service's Kafka user may not write."""


class Outbox:
    """Writes events into the caller's transaction: the one way an event leaves a service.

    The topic, the aggregate type, the CloudEvents type and dataschema all come from the event's model in the
    catalogue (`leadnet_shared.events`); the deployment's topic prefix and the service's `source` are given once.
    """

    def __init__(
        self,
        table: Table,
        *,
        topic_prefix: str = "",
        source: str = "/leadnet",
        writes: frozenset[str] | None = None,
    ) -> None:
        self.table = table
        self.topic_prefix = topic_prefix
        self.source = source
        # The topics this service may write (`leadnet_shared.access.WRITES`, what its broker ACLs allow); None: any.
        self.writes = writes
        # One fixed statement over arrays: its text (and plan) is the same for 1 row or 500, unlike a many-row
        # VALUES list that is rebuilt, re-sent and re-planned for every batch size. Sent on the asyncpg
        # connection in the caller's transaction (see `db.execute`): every event leaving a service passes here.
        self._insert = (
            f"INSERT INTO {table.name} (event_id, topic, aggregate_type, aggregate_id, event_type, payload) "
            "SELECT * FROM unnest(CAST($1 AS text[]), CAST($2 AS text[]), CAST($3 AS text[]), "
            "CAST($4 AS text[]), CAST($5 AS text[]), CAST($6 AS text[]))"
        )

    def _allowed(self, model: type[EventData]) -> None:
        if self.writes is not None and model.event_topic not in self.writes:
            # The broker would refuse the relay's send (TopicAuthorizationFailed) and hold the row for ever: refuse
            # it here, in the transaction that wanted it, where a test sees it.
            raise TopicNotWritable(
                f"{self.source} may not write {model.event_type()} to {model.event_topic} "
                "(leadnet_shared.access.WRITES and the broker's ACLs)"
            )

    def row(self, outgoing: Outgoing, *, time: datetime) -> OutboxRow:
        model = type(outgoing.event)
        self._allowed(model)
        envelope = make_envelope(
            data=outgoing.event, source=self.source, time=time, subject=outgoing.subject, event_id=outgoing.event_id
        )
        return OutboxRow(
            topic=self.topic_prefix + model.event_topic,
            key=outgoing.key,
            aggregate_type=model.event_aggregate,
            envelope=envelope,
        )

    async def publish(
        self,
        session: AsyncSession,
        event: EventData,
        *,
        key: str,
        subject: str | None,
        time: datetime,
        event_id: str | None = None,
    ) -> None:
        """Write `event` (a catalogued payload) to be published after the commit; `time` is the caller's now."""
        await self.write(session, [self.row(Outgoing(event, key=key, subject=subject, event_id=event_id), time=time)])

    async def publish_many(self, session: AsyncSession, events: Iterable[Outgoing], *, time: datetime) -> None:
        """`publish` for a batch, in one statement."""
        await self.write(session, [self.row(outgoing, time=time) for outgoing in events])

    async def write(self, session: AsyncSession, rows: Sequence[OutboxRow]) -> None:
        """Insert rows built by `row` (a caller that buffers a batch's events writes them here at its end)."""
        if not rows:
            return
        await execute(
            session,
            self._insert,
            [row.envelope.id for row in rows],
            [row.topic for row in rows],
            [row.aggregate_type for row in rows],
            [row.key for row in rows],
            [row.envelope.type for row in rows],
            [row.envelope.to_bytes().decode() for row in rows],
        )
        self.mark_written(session)

    async def tombstone(self, session: AsyncSession, *, topic: str, key: str, aggregate_type: str) -> None:
        """Write a tombstone for `key` on the compacted `topic` (without the deployment's prefix): a message with a
        null value, after which compaction drops every earlier message of the key. It keeps its place in the key's
        order like any event; consumers skip it (`leadnet_shared.consumer.is_tombstone`)."""
        await execute(
            session,
            self._insert,
            [new_event_id()],
            [self.topic_prefix + topic],
            [aggregate_type],
            [key],
            [TOMBSTONE],
            [""],
        )
        self.mark_written(session)

    @staticmethod
    def mark_written(session: AsyncSession) -> None:
        # The unit of work wakes the relay after the commit, so an event leaves within milliseconds, not a poll.
        session.info["outbox_dirty"] = True

    async def publish_selected(
        self, session: AsyncSession, statement: TextClause, *, event: type[EventData], params: Mapping[str, Any]
    ) -> int:
        """Run a statement holding an `insert_select_sql` part for payloads of type `event`; it returns the count
        of events written (its single value). For set-based writers: no Python per event."""
        self._allowed(event)
        count = int((await session.execute(statement, {**params, **self._select_params(event)})).scalar_one())
        if count:
            self.mark_written(session)
        return count

    def _select_params(self, event: type[EventData]) -> dict[str, str]:
        return {
            "outbox_topic": self.topic_prefix + event.event_topic,
            "outbox_aggregate": event.event_aggregate,
            "outbox_type": event.event_type(),
            "outbox_source": self.source,
            "outbox_dataschema": event.dataschema(),
        }


# The envelope of `insert_select_sql`, key by key: the same JSON as `Envelope.to_bytes` (a test compares them).
_SQL_ENVELOPE = {
    "specversion": f"CAST('{SPECVERSION}' AS text)",
    "id": "{event_id}",
    "type": "CAST(:outbox_type AS text)",
    "source": "CAST(:outbox_source AS text)",
    "time": "{time}",
    "subject": "{subject}",
    "datacontenttype": "CAST('application/json' AS text)",
    "dataschema": "CAST(:outbox_dataschema AS text)",
}
if set(_SQL_ENVELOPE) | {"data"} != set(Envelope.model_fields):
    raise RuntimeError("the SQL envelope of insert_select_sql lags the Envelope model")


def insert_select_sql(
    payload: type[EventData],
    *,
    rows: str,
    event_id: str,
    key: str,
    subject: str,
    time: str,
    data: Mapping[str, str] | None = None,
) -> str:
    """An `INSERT INTO outbox ... SELECT ... FROM {rows}` writing one event per row, envelope built in SQL, for
    `Outbox.publish_selected`. Every field of the payload is the column of `rows` of its name unless `data` gives
    an SQL expression: a field added to the model and missing from `rows` fails the statement where it is
    written, never reaches a consumer as a payload without it."""
    exprs = {name: name for name in payload.model_fields if name != "type"} | dict(data or {})
    unknown = set(exprs) - set(payload.model_fields)
    if unknown:
        raise ValueError(f"{payload.__name__} has no fields {sorted(unknown)}")
    body = ", ".join(f"'{name}', {expr}" for name, expr in exprs.items())
    envelope = ", ".join(
        f"'{name}' VALUE {expr.format(event_id=event_id, time=time, subject=subject)}"
        for name, expr in _SQL_ENVELOPE.items()
    )
    # ABSENT ON NULL at the envelope's level only (no null attribute, as `to_bytes`); the payload keeps its nulls.
    return (
        "INSERT INTO outbox (event_id, topic, aggregate_type, aggregate_id, event_type, payload) "
        f"SELECT {event_id}, CAST(:outbox_topic AS text), CAST(:outbox_aggregate AS text), {key}, "
        f"CAST(:outbox_type AS text), JSON_OBJECT({envelope}, "
        f"'data' VALUE json_build_object({body}) ABSENT ON NULL)::text FROM {rows}"
    )


# The relay's statements run per batch: sent on the asyncpg connection, in the relay's transaction (`db.fetch`).
# The key partitions this relay wins, held until its transaction ends. A statement of its own: the claim below must
# read with a snapshot taken after the locks, or it could see rows a previous holder has just sent as unsent.
LOCK_PARTITIONS_SQL = (
    "SELECT coalesce(array_agg(p), '{}') FROM generate_series(0, $1 - 1) AS p WHERE pg_try_advisory_xact_lock($2, p)"
)
# Due rows, in order, except those behind an earlier row of their key that waits (backoff) or is parked: a key's
# rows leave in order or not at all. The anti-join probes `ix_outbox_retrying`, which holds only failed rows, and
# keeps the scan in `seq` order so the LIMIT ends it early (a LEFT JOIN on the failed keys made PostgreSQL read and
# sort a 50,000-row backlog per claim). Two forms: every partition held (one relay, the usual case), or some.
_CLAIM = (
    "SELECT o.seq, o.topic, o.aggregate_id, o.payload FROM outbox o "
    "WHERE o.sent_at IS NULL AND o.parked_at IS NULL AND o.next_attempt_at <= now() {partitions}{behind}"
    "ORDER BY o.seq LIMIT $1"
)
_BEHIND_A_FAILED_ROW = (
    "AND NOT EXISTS (SELECT 1 FROM outbox b WHERE b.sent_at IS NULL AND b.attempts > 0 "
    "AND b.aggregate_id = o.aggregate_id AND b.seq < o.seq "
    "AND (b.parked_at IS NOT NULL OR b.next_attempt_at > now())) "
)
_OF_PARTITIONS = "AND (hashtext(o.aggregate_id) & 2147483647) % $2 = ANY(CAST($3 AS int[])) "
CLAIM_ALL_SQL = _CLAIM.format(partitions="", behind=_BEHIND_A_FAILED_ROW)
CLAIM_SQL = _CLAIM.format(partitions=_OF_PARTITIONS, behind=_BEHIND_A_FAILED_ROW)
# Nothing has failed (the usual case): the anti-join has nothing to keep back, yet it cost ~50 ms per claim on a
# bulk import's outbox (pg_stat_statements, bench/intake_bench.py), so the claim goes without it. The look-up reads
# `ix_outbox_retrying`, which holds failed rows only. Only the holder of a key partition records failures on it,
# and this relay holds its partitions until its transaction ends: no row of them can fail in between.
ANY_FAILED_SQL = "SELECT EXISTS (SELECT 1 FROM outbox WHERE sent_at IS NULL AND attempts > 0)"
CLAIM_ALL_CLEAN_SQL = _CLAIM.format(partitions="", behind="")
CLAIM_CLEAN_SQL = _CLAIM.format(partitions=_OF_PARTITIONS, behind="")
MARK_SENT_SQL = "UPDATE outbox SET sent_at = now() WHERE seq = ANY(CAST($1 AS bigint[]))"
# Exponential backoff, capped: a broken broker must not be hammered, a healed one not waited on.
RECORD_FAILURES_SQL = (
    "UPDATE outbox o SET attempts = o.attempts + 1, last_error = f.error, "
    "next_attempt_at = now() + make_interval(secs => least($5, $4 * power(2, o.attempts))), "
    "parked_at = CASE WHEN f.parkable AND o.attempts + 1 >= $6 THEN now() END "
    "FROM unnest(CAST($1 AS bigint[]), CAST($2 AS text[]), CAST($3 AS boolean[])) AS f(seq, error, parkable) "
    "WHERE o.seq = f.seq RETURNING o.seq, o.aggregate_id, o.event_type, o.attempts, o.parked_at IS NOT NULL"
)


PURGE_SENT_SQL = text("DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < now() - make_interval(secs => :s)")
PURGE_PERSONAL_DATA_SQL = text(
    "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < now() - make_interval(secs => :s) "
    "AND event_type = ANY(CAST(:types AS text[]))"
)


@dataclass(kw_only=True, eq=False)
class OutboxRelay:
    """Publishes committed outbox rows; run one per process, any number of processes."""

    db: Database
    table: Table
    state_table: Table
    producer: AIOKafkaProducer
    service: str
    batch_size: int = 500
    idle_poll: float = 0.25
    clock: Clock = field(default_factory=SystemClock)
    retention: timedelta = timedelta(days=7)
    # Sent rows of events that carry personal data (`EventData.personal_data`: lead.submitted's raw record)
    # are deleted after this much shorter window: the republish after a broker loss covers them only so long.
    personal_data_retention: timedelta = timedelta(minutes=15)
    key_partitions: int = 16
    max_attempts: int = 10
    retry_backoff: float = 0.1
    retry_backoff_cap: float = 30.0
    _last_published: float = field(init=False, default=float("-inf"))  # loop time of the last row the broker took
    _wake: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _stopping: bool = field(init=False, default=False)
    last_progress: datetime = field(init=False)

    def __post_init__(self) -> None:
        self.personal_data_retention = min(self.personal_data_retention, self.retention)
        self.last_progress = self.clock.now()
        self.db.on_commit(self.wake)

    def wake(self) -> None:
        self._wake.set()

    async def reconcile_with_broker(self, cluster_id: str | None) -> int:
        """If the broker is not the one we last published to, publish the retained tail again."""
        if cluster_id is None:
            return 0
        async with self.db.transaction() as session:
            row = (
                await session.execute(text("SELECT value FROM kit_state WHERE key = 'kafka_cluster_id' FOR UPDATE"))
            ).first()
            previous = row[0] if row else None
            republished = 0
            if previous is not None and previous != cluster_id:
                result = await session.execute(
                    text(
                        "UPDATE outbox SET sent_at = NULL, attempts = 0, next_attempt_at = now() "
                        "WHERE sent_at IS NOT NULL AND sent_at > now() - make_interval(secs => :secs)"
                    ),
                    {"secs": self.retention.total_seconds()},
                )
                republished = int(getattr(result, "rowcount", 0) or 0)
                log.warning(
                    "broker cluster changed (%s -> %s): republishing %d retained events",
                    previous,
                    cluster_id,
                    republished,
                )
            await session.execute(
                text(
                    "INSERT INTO kit_state (key, value) VALUES ('kafka_cluster_id', CAST(:v AS jsonb)) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
                ),
                {"v": orjson.dumps(cluster_id).decode()},
            )
        if republished:
            self.wake()
        return republished

    async def publish_batch(self) -> int:
        """Claim, publish and mark one batch; returns how many rows went out."""
        failures: list[tuple[int, str, BaseException]] = []  # (seq, key, error)
        async with self.db.sessions() as session, session.begin():
            partitions = (await fetch(session, LOCK_PARTITIONS_SQL, self.key_partitions, RELAY_LOCK_CLASS))[0][0]
            if not partitions:
                return 0  # other replicas hold every partition; they publish them
            clean = not (await fetch(session, ANY_FAILED_SQL))[0][0]
            if len(partitions) == self.key_partitions:
                rows = await fetch(session, CLAIM_ALL_CLEAN_SQL if clean else CLAIM_ALL_SQL, self.batch_size)
            else:
                claim = CLAIM_CLEAN_SQL if clean else CLAIM_SQL
                rows = await fetch(session, claim, self.batch_size, self.key_partitions, partitions)
            if not rows:
                return 0
            held: dict[str, int] = {}  # key -> its first failed row: the key's later rows wait behind it
            topic_errors: dict[str, BaseException] = {}
            in_flight: list[tuple[int, str, asyncio.Future[object]]] = []
            for seq, topic, key, payload in rows:
                if key in held:
                    continue
                error = topic_errors.get(topic)
                if error is None:
                    try:
                        in_flight.append(
                            (
                                seq,
                                key,
                                await self.producer.send(
                                    topic,
                                    payload.encode() if payload else None,  # empty: a tombstone (null value)
                                    key=key.encode(),
                                    headers=KAFKA_HEADERS if payload else None,
                                ),
                            )
                        )
                        continue
                    except (KafkaError, ValueError, TypeError) as exc:  # refused before it was sent
                        error = exc
                        if isinstance(exc, TOPIC_ERRORS):
                            topic_errors[topic] = exc
                failures.append((seq, key, error))
                held[key] = seq
            results = await asyncio.gather(*(future for _, _, future in in_flight), return_exceptions=True)
            ok = []
            for (seq, key, _), result in zip(in_flight, results, strict=True):
                if isinstance(result, BaseException):
                    failures.append((seq, key, result))
                    held[key] = min(seq, held.get(key, seq))
                elif seq < held.get(key, seq + 1):
                    ok.append(seq)
                # else: published after an earlier row of its key failed; left unsent, it goes out again after
                # that row (the copy that overtook it is a duplicate the consumers' inboxes absorb).
            if ok:
                await execute(session, MARK_SENT_SQL, ok)
                self._last_published = asyncio.get_running_loop().time()
            if failures:
                await self._record_failures(session, failures)
        OUTBOX_PUBLISHED.labels(self.service).inc(len(ok))
        self.last_progress = self.clock.now()
        return len(ok)

    async def _record_failures(self, session: AsyncSession, failures: list[tuple[int, str, BaseException]]) -> None:
        """Count the failures on their rows (in the batch's transaction, which commits) and park the rows out of
        attempts. A broker-wide failure (it is down) parks nothing: rows are parked only for an error of their own,
        or while other rows still reach the broker."""
        broker_up = asyncio.get_running_loop().time() - self._last_published < 60
        rows = await fetch(
            session,
            RECORD_FAILURES_SQL,
            [seq for seq, _, _ in failures],
            [repr(e)[:500] for _, _, e in failures],
            [broker_up or isinstance(e, ROW_ERRORS) for _, _, e in failures],
            self.retry_backoff,
            self.retry_backoff_cap,
            self.max_attempts,
        )
        OUTBOX_FAILURES.labels(self.service).inc(len(failures))
        log.warning("outbox: %d events failed to publish; will retry", len(failures))
        for seq, key, event_type, attempts, parked in rows:
            if parked:
                OUTBOX_PARKED.labels(self.service).inc()
                log.error(
                    "outbox: row %s (%s, key %s) parked after %d failed attempts; later events of its key "
                    "wait behind it until an operator releases it (docs/operations.md)",
                    seq,
                    event_type,
                    key,
                    attempts,
                )

    async def drain(self, within: float = 10.0) -> None:
        """Publish everything pending now (used on shutdown and in tests)."""
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            if await self.publish_batch() == 0 and await self.pending() == 0:
                return
            await asyncio.sleep(0)

    async def pending(self) -> int:
        """Rows still to publish: not the parked ones, nor those behind them (they wait for an operator, not for
        the relay, so a drain on shutdown does not wait on them)."""
        async with self.db.sessions() as session:
            return int(
                (
                    await session.execute(
                        text(
                            "SELECT count(*) FROM outbox o WHERE o.sent_at IS NULL AND o.parked_at IS NULL "
                            "AND NOT EXISTS (SELECT 1 FROM outbox b WHERE b.sent_at IS NULL AND b.attempts > 0 "
                            "AND b.parked_at IS NOT NULL AND b.aggregate_id = o.aggregate_id AND b.seq < o.seq)"
                        )
                    )
                ).scalar_one()
            )

    async def update_metrics(self) -> None:
        async with self.db.sessions() as session:
            count, oldest, parked = (
                await session.execute(
                    text(
                        "SELECT count(*) FILTER (WHERE parked_at IS NULL), "
                        "min(created_at) FILTER (WHERE parked_at IS NULL), "
                        "count(*) FILTER (WHERE parked_at IS NOT NULL) "
                        "FROM outbox WHERE sent_at IS NULL"
                    )
                )
            ).one()
        OUTBOX_PENDING.labels(self.service).set(count)
        OUTBOX_PARKED.labels(self.service).set(parked)
        lag = (self.clock.now() - oldest).total_seconds() if isinstance(oldest, datetime) else 0.0
        OUTBOX_LAG.labels(self.service).set(max(lag, 0.0))

    async def purge_sent(self) -> int:
        """Forget sent rows after the retention window, and sent rows carrying personal data after theirs (minutes,
        not days: a `lead.submitted` holds the customer's full record). Returns how many rows went."""
        async with self.db.transaction() as session:
            result = await session.execute(PURGE_SENT_SQL, {"s": self.retention.total_seconds()})
            purged = int(getattr(result, "rowcount", 0) or 0)
            if PERSONAL_DATA_TYPES:
                result = await session.execute(
                    PURGE_PERSONAL_DATA_SQL,
                    {"s": self.personal_data_retention.total_seconds(), "types": sorted(PERSONAL_DATA_TYPES)},
                )
                purged += int(getattr(result, "rowcount", 0) or 0)
        return purged

    async def run(self) -> None:
        """Publish until stopped; wakes on commits in this process, polls for others'."""
        loop = asyncio.get_running_loop()
        next_housekeeping = 0.0
        while not self._stopping:
            # Clear before looking, never after: a commit that lands while we query must wake the next wait,
            # or its event sits out a whole idle poll.
            self._wake.clear()
            try:
                sent = await self.publish_batch()
                now = loop.time()
                if now >= next_housekeeping:
                    await self.update_metrics()
                    await self.purge_sent()
                    next_housekeeping = now + 5.0
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay iteration failed; retrying")
                sent = 0
                await asyncio.sleep(1.0)
            # A short batch took everything visible: look again only when woken (a commit here since the clear
            # above) or after the idle poll, instead of spending an empty transaction per wake.
            if sent < self.batch_size:
                self.last_progress = self.clock.now()
                with contextlib.suppress(TimeoutError):  # no commit woke us: poll for other processes' rows
                    await asyncio.wait_for(self._wake.wait(), timeout=self.idle_poll)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()


def decode_payload(payload: str) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(payload)
    return parsed
