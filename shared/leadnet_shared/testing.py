"""Test fixtures on real servers: one PostgreSQL and one Kafka per test session, a fresh database per test cloned
from a template built by the service's real migrations, and a unique topic prefix per test so tests never see each
other's events. Loaded by the root conftest (`pytest_plugins = ["leadnet_shared.testing"]`).

Environment: `DATABASE_URL` / `KAFKA_BOOTSTRAP_SERVERS` use existing servers; `LEADNET_TEST_BROKER` = `apache` |
`embedded` | `auto` (default: Apache Kafka when Java and Maven are present).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict, TypeVar, Unpack

import asyncpg
import pytest

from leadnet_shared.auth import Role, ensure_keys, mint_from_dir
from leadnet_shared.infra import local_servers
from leadnet_shared.kafka import ensure_topics
from leadnet_shared.settings import database_url_for, to_asyncpg_url, to_plain_url

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer, ConsumerRecord
    from sqlalchemy import MetaData, Table

    from leadnet_shared.app import Runtime
    from leadnet_shared.clock import Clock
    from leadnet_shared.consumer import BatchHandler, ConsumerLoop
    from leadnet_shared.db import Database
    from leadnet_shared.events import Envelope, EventData, LeadAccepted, LeadFacts, LeadReassigned, SaleAttributed
    from leadnet_shared.outbox import Outbox
    from leadnet_shared.settings import ServiceSettings


T = TypeVar("T")
F = TypeVar("F", bound="LeadFacts")


class Claims(TypedDict, total=False):
    """A token's claims besides its role and dealer."""

    position: str | None
    regions: list[str] | None
    sub: str | None


@dataclass
class Infra:
    database_server_url: str
    bootstrap_servers: str
    broker_kind: str
    key_dir: Path

    @property
    def jwks_file(self) -> str:
        return str(self.key_dir / "jwks.json")

    def token(self, role: Role, dealer: str | None = None, **claims: Unpack[Claims]) -> str:
        return mint_from_dir(self.key_dir, role=role, dealer=dealer, **claims)

    def auth(self, role: Role, dealer: str | None = None, **claims: Unpack[Claims]) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, dealer, **claims)}"}


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    tmp = Path(tempfile.mkdtemp(prefix="leadnet-test-"))
    key_dir = tmp / "keys"
    ensure_keys(key_dir)
    try:
        with local_servers(tmp, broker=os.environ.get("LEADNET_TEST_BROKER", "auto")) as servers:
            yield Infra(servers.database_url, servers.bootstrap_servers, servers.broker_kind, key_dir)
    finally:
        # The database and broker files of a test session are ~2 GB: left behind, a few CI runs fill the disk.
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def embedded_broker_infra(infra: Infra) -> Iterator[Infra]:
    """The same database server with the embedded Kafka-protocol broker, for tests that must pass on both."""
    from leadnet_shared.infra import EmbeddedBroker

    if infra.broker_kind == "EmbeddedBroker":
        yield infra
        return
    broker = EmbeddedBroker().start()
    try:
        yield Infra(infra.database_server_url, broker.bootstrap, "EmbeddedBroker", infra.key_dir)
    finally:
        broker.stop()


_template_lock = threading.Lock()
_templates: dict[str, str] = {}


def _run_in_thread(fn: Any, *args: Any) -> None:
    """Alembic's env runs its own event loop; run it off the test's loop."""
    error: list[BaseException] = []

    def target() -> None:
        try:
            fn(*args)
        except BaseException as exc:
            error.append(exc)

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if error:
        raise error[0]


async def _admin(server_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(to_plain_url(database_url_for(server_url, "postgres")))


async def migrated_template(server_url: str, package: str) -> str:
    """A template database built once per session by the package's real migrations."""
    from leadnet_shared.migrate import upgrade

    with _template_lock:
        if package in _templates:
            return _templates[package]
    name = f"tmpl_{package}_{uuid.uuid4().hex[:8]}"
    _run_in_thread(upgrade, package, database_url_for(server_url, name))
    with _template_lock:
        _templates[package] = name
    return name


@contextmanager
def bench_database_server(name: str) -> Iterator[str]:
    """The PostgreSQL server a benchmark loads: `DATABASE_URL`'s, or an embedded one started for the run and deleted
    after it (its data are gigabytes nobody reads again)."""
    if server := os.environ.get("DATABASE_URL"):
        yield server
        return
    from leadnet_shared.infra import EmbeddedPostgres

    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    pg = EmbeddedPostgres(workdir / "pg").start()
    try:
        yield pg.url
    finally:
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def load_average() -> str:
    """The machine's load averages (1, 5, 15 minutes), for a benchmark to print before and after it runs: other
    processes on the machine change its figures."""
    return f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cpus)"


def migrated_database(server_url: str, package: str, name: str) -> str:
    """A new database `<name>_<random>` built by the package's real migrations (benchmarks: one per run)."""
    from leadnet_shared.migrate import upgrade

    url = database_url_for(server_url, f"{name}_{uuid.uuid4().hex[:8]}")
    _run_in_thread(upgrade, package, url)
    return url


async def fresh_database(server_url: str, package: str | None = None) -> str:
    """A new database for one test: a clone of the migrated template (fast), or empty without a package."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    template = await migrated_template(server_url, package) if package else None
    conn = await _admin(server_url)
    try:
        if template:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        else:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return database_url_for(server_url, name)


async def database_with_tables(server_url: str, metadata: MetaData) -> str:
    """A new empty database holding `metadata`'s tables (the kit's tests bring their own tables, no migrations)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    url = await fresh_database(server_url)
    engine = create_async_engine(to_asyncpg_url(url))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await engine.dispose()
    return url


async def tables_db(infra: Infra, metadata: MetaData, *, pool_size: int = 4) -> Database:
    """`database_with_tables` opened as the kit's `Database`; the test disposes of it."""
    from leadnet_shared.db import Database, make_engine

    url = await database_with_tables(infra.database_server_url, metadata)
    return Database(make_engine(to_asyncpg_url(url), pool_size=pool_size))


async def count_rows(db: Database, sql: str, **params: Any) -> int:
    """The number a `SELECT count(*) ...` finds."""
    from sqlalchemy import text

    async with db.sessions() as session:
        return int((await session.execute(text(sql), params)).scalar_one())


def effects_table(metadata: MetaData) -> Table:
    """A table a test's handler writes one row into per event it handled (to count effects)."""
    from sqlalchemy import Column, Integer, String, Table

    return Table(
        "effects",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False),
    )


def lead_closed(lead_id: str = "L1", *, subject: str = "C1", padding: int = 0) -> Envelope:
    """A small `leadnet.lead.closed` of customer C1 for the kit's tests, or one padded past a request size limit."""
    from leadnet_shared.events import LeadClosed, make_envelope

    now = datetime.now(UTC)
    data = LeadClosed(lead_id=lead_id, customer_id="C1", reason="invalid_information" + " " * padding, closed_at=now)
    return make_envelope(data=data, event_type="leadnet.lead.closed", source="/test", time=now, subject=subject)


def polls(events: Sequence[T], cuts: Iterable[int]) -> list[Sequence[T]]:
    """`events` cut into consecutive polls at the positions `cuts` (those at or past the end are ignored)."""
    bounds = sorted({0, len(events), *(c for c in cuts if c < len(events))})
    return [events[start:end] for start, end in itertools.pairwise(bounds)]


@dataclass(frozen=True)
class Arrival:
    """An order in which a consumer may receive a history: shuffled, some facts again, cut into polls (Hypothesis
    draws it: `arrivals()`)."""

    order: random.Random
    cuts: set[int]
    again: list[int]

    def polls(self, history: Sequence[T]) -> list[Sequence[T]]:
        delivered = list(history)
        self.order.shuffle(delivered)
        delivered += [history[i % len(history)] for i in self.again]  # as a replay under new ids brings them again
        return polls(delivered, self.cuts)

    async def deliver(self, db: Database, handler: BatchHandler, history: Sequence[Envelope]) -> None:
        """Each poll to `handler` in its own transaction, as the consumer hands them (without the broker)."""
        for poll in self.polls(history):
            async with db.transaction() as session:
                await handler(session, list(poll))


def arrivals(*, cuts_below: int = 7, again: bool = True) -> Any:
    """Hypothesis' strategy of `Arrival`s: up to three cuts below `cuts_below`, up to three facts again."""
    from hypothesis import strategies as st

    return st.builds(
        Arrival,
        order=st.randoms(use_true_random=False),
        cuts=st.sets(st.integers(1, cuts_below - 1), max_size=3),
        again=st.lists(st.integers(0, 3), max_size=3 if again else 0),
    )


def envelope(
    data: EventData, *, at: datetime, subject: str | None = None, source: str | None = None, event_id: str | None = None
) -> Envelope:
    """`data` in its envelope as its producer publishes it: the source of the service `access.py` names as the
    type's producer (what a consumer that checks sources accepts) and, unless given, the event's customer as the
    subject (the key of a lead's or a sale's events)."""
    from leadnet_shared.access import trusted_sources
    from leadnet_shared.events import make_envelope

    event_type = type(data).event_type()
    source = source or trusted_sources([event_type])[event_type]
    subject = subject or getattr(data, "customer_id", None)
    return make_envelope(data=data, source=source, time=at, subject=subject, event_id=event_id)


def lead_event(
    model: type[F],
    lead_id: str = "L1",
    customer_id: str = "C1",
    *,
    dealer: str | None = "D001",
    entered_by: str | None = "D001",
    **fields: Any,
) -> F:
    """A public lead event of `model` on a lead `entered_by` entered, assigned to its authorized `dealer` (None: the
    HQ queue); `fields`: the other fields of `model` a test is about."""
    facts = {"assigned_dealer": dealer, "authorized_dealer": dealer, **fields}
    return model(lead_id=lead_id, customer_id=customer_id, entered_by=entered_by, **facts)


def accepted_event(lead_id: str = "L1", customer_id: str = "C1", *, at: datetime, **fields: Any) -> LeadAccepted:
    """The router's verdict on a lead (`lead_event`'s defaults)."""
    from leadnet_shared.events import LeadAccepted

    return lead_event(LeadAccepted, lead_id, customer_id, accepted_at=at, **fields)


def reassigned_event(
    lead_id: str = "L1", customer_id: str = "C1", *, to_dealer: str | None, at: datetime, **fields: Any
) -> LeadReassigned:
    """The router moving a lead to `to_dealer` (its assigned and authorized dealer from then on) because the dealer
    withdrew; `fields`: `from_dealer` and the other fields a test is about."""
    from leadnet_shared.events import LeadReassigned

    fields = {"reason": "dealer_withdrawn", **fields}
    return lead_event(
        LeadReassigned, lead_id, customer_id, dealer=to_dealer, to_dealer=to_dealer, reassigned_at=at, **fields
    )


def sale_event(
    sale_id: str = "S1",
    customer_id: str = "C1",
    *,
    seller: str = "D001",
    at: datetime,
    vehicles: Sequence[tuple[str, str | None]] = (("LFWSRXRJ0N1000001", "tractor"),),
    **fields: Any,
) -> SaleAttributed:
    """The router's attribution of a sale of `vehicles` (VIN, product line); `fields`: the other fields of
    `SaleAttributed` a test is about."""
    from leadnet_shared.events import SaleAttributed, SoldVehicle

    sold = [SoldVehicle(vin=vin, product_line=line) for vin, line in vehicles]
    return SaleAttributed(sale_id=sale_id, customer_id=customer_id, seller=seller, sold_at=at, vehicles=sold, **fields)


def lead_history(
    lead_id: str, customer_id: str, moves: list[str | None], *, at: datetime, step: timedelta, **accepted: Any
) -> list[Envelope]:
    """What the router publishes for one lead of D001's: accepted at `at` (version 1), then one reassignment per
    move, `step` apart (version 2, 3, ...); `accepted`: more fields of the verdict."""
    events = [
        envelope(accepted_event(lead_id, customer_id, at=at, rule="in_region", lead_version=1, **accepted), at=at)
    ]
    for version, (from_dealer, to_dealer) in enumerate(itertools.pairwise(["D001", *moves]), start=2):
        moved_at = at + version * step
        moved = reassigned_event(
            lead_id, customer_id, from_dealer=from_dealer, to_dealer=to_dealer, at=moved_at, lead_version=version
        )
        events.append(envelope(moved, at=moved_at))
    return events


def lead_consumer(
    infra: Infra,
    db: Database,
    topic: str,
    handler: BatchHandler,
    *,
    prefix: str,
    inbox: Table,
    outbox: Table,
    name: str = "test-consumer",
    **options: Any,
) -> ConsumerLoop:
    """A consumer of `leadnet.lead.closed` on `topic` for the kit's tests: service "test", group `<prefix>g`, the
    given inbox and outbox tables; `options` go to `ConsumerLoop` as they are."""
    from leadnet_shared.consumer import ConsumerLoop, Inbox
    from leadnet_shared.outbox import Outbox

    return ConsumerLoop(
        name=name,
        service="test",
        topics=[topic],
        handler=handler,
        types={"leadnet.lead.closed"},
        db=db,
        inbox=Inbox(inbox),
        outbox=Outbox(outbox, topic_prefix=prefix),
        bootstrap_servers=infra.bootstrap_servers,
        group_id=f"{prefix}g",
        **options,
    )


@asynccontextmanager
async def topic_reader(bootstrap: str, *topics: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer in no group that reads `topics` from their beginning (none: the test assigns partitions);
    stopped on leaving."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def read_from_beginning(consumer: AIOKafkaConsumer, topic: str, *, within: float = 20.0) -> None:
    """Assign every partition of `topic` to a `topic_reader` and seek to their beginning, once the consumer's
    metadata knows the topic (it appears when a relay first writes to it)."""
    from aiokafka import TopicPartition

    deadline = asyncio.get_running_loop().time() + within
    partitions: list[TopicPartition] = []
    while not partitions and asyncio.get_running_loop().time() < deadline:
        await consumer._client.force_metadata_update()
        partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)


async def first_messages(bootstrap: str, topic: str, count: int) -> list[ConsumerRecord[bytes, bytes]]:
    """The first `count` messages of `topic`, waiting for them (tombstones included)."""
    got: list[ConsumerRecord[bytes, bytes]] = []
    async with topic_reader(bootstrap, topic) as consumer:
        while len(got) < count:
            batch = await consumer.getmany(timeout_ms=500)
            got.extend(m for msgs in batch.values() for m in msgs)
    return got


def dead_lettering_consumer(
    infra: Infra, db: Database, topic: str, handler: BatchHandler, *, prefix: str, max_attempts: int, **options: Any
) -> ConsumerLoop:
    """`lead_consumer` (`options`: its inbox and outbox, and overrides) that parks an event after `max_attempts`
    onto the prefix's own dead-letter topic, with short retry backoffs and replays every 0.2 s."""
    from leadnet_shared.events import DEAD_LETTERS

    options = {"retry_backoff": 0.01, "replay_interval": 0.2, "max_attempts": max_attempts, **options}
    return lead_consumer(infra, db, topic, handler, prefix=prefix, dead_letter_topic=prefix + DEAD_LETTERS, **options)


async def new_topic_prefix(bootstrap: str, *, partitions: int = 3) -> str:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    await ensure_topics(bootstrap, prefix=prefix, partitions=partitions)
    return prefix


def handler_runtime(
    settings: ServiceSettings,
    db: Database,
    tables: tuple[Table, Table, Table],
    *,
    clock: Clock,
    outbox: Outbox | None = None,
) -> Runtime:
    """A service's runtime without its app, for handing events straight to its handlers: its kit tables (outbox,
    inbox, state) and, unless given, an outbox without a topic prefix."""
    from leadnet_shared.app import Runtime
    from leadnet_shared.consumer import Inbox
    from leadnet_shared.outbox import Outbox

    outbox = outbox or Outbox(tables[0])
    return Runtime(settings=settings, db=db, outbox=outbox, inbox=Inbox(tables[1]), tables=tables, clock=clock)


def service_settings(
    settings_cls: type[Any], infra: Infra, *, database_url: str, topic_prefix: str, **overrides: Any
) -> Any:
    return settings_on(
        settings_cls,
        database_url=database_url,
        bootstrap=infra.bootstrap_servers,
        topic_prefix=topic_prefix,
        jwks_file=infra.jwks_file,
        **overrides,
    )


def settings_on(
    settings_cls: type[Any],
    *,
    database_url: str,
    bootstrap: str,
    topic_prefix: str,
    jwks_file: str | Path,
    **overrides: Any,
) -> Any:
    """A service's test settings on given servers (`service_settings` for the session's; benchmarks start their own)."""
    return settings_cls(
        env="test",
        service_database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=topic_prefix,
        jwks_file=str(jwks_file),
        log_json=False,
        **overrides,
    )


@asynccontextmanager
async def running(app: Any) -> AsyncIterator[Any]:
    """Run an app's lifespan (startup before, shutdown after) and give an httpx client bound to it."""
    import httpx

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@contextmanager
def service_process(package: str, env: dict[str, str], *, graceful: bool = True) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m <package> serve` as a real process, `env` added to this one's environment, its output discarded.
    Stopped on exit unless the test ended it: as an orchestrator stops a pod (SIGTERM, SIGKILL after 30 s), or at
    once (SIGKILL) when not `graceful`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", package, "serve"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None and graceful:
            proc.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


@asynccontextmanager
async def serving_on_loopback(app: Any, *, lifespan: Literal["on", "off"] = "off") -> AsyncIterator[str]:
    """`app` on a real uvicorn server on 127.0.0.1 (this loop, any free port); its base URL. Stopped on exit."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan=lifespan, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # startup failed: raise its error
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def eventually(predicate: Any, *, within: float = 15.0, interval: float = 0.05) -> Any:
    """Poll an async predicate until it returns a truthy value (for effects that cross a broker)."""
    deadline = asyncio.get_running_loop().time() + within
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s (last value: {last!r})")
