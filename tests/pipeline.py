"""The four services running in one test process against the session's real PostgreSQL and Kafka.

When a pipeline stops, it scans what the test left behind for personal data (issue 16 "Done when"): every public
topic and the dead-letter topic of the test's prefix, and every log record the services and the kit emitted while it
ran. A phone number or a street-level address in any of them fails the test that produced it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text

from dedup_router.app import create_app as router_app
from dedup_router.settings import RouterSettings
from followup_scheduler.app import create_app as scheduler_app
from followup_scheduler.settings import SchedulerSettings
from lead_intake.app import create_app as intake_app
from lead_intake.settings import IntakeSettings
from leadnet_shared.clock import Clock
from leadnet_shared.events import DEAD_LETTERS, TOPICS
from leadnet_shared.redaction import find_personal_data
from leadnet_shared.testing import (
    Infra,
    eventually,
    fresh_database,
    new_topic_prefix,
    running,
    service_settings,
    topic_reader,
)
from rewards_ledger.app import create_app as ledger_app
from rewards_ledger.settings import LedgerSettings
from tests.dealers import dealer_body


@dataclass
class Pipeline:
    intake: httpx.AsyncClient
    router: httpx.AsyncClient
    scheduler: httpx.AsyncClient
    ledger: httpx.AsyncClient
    apps: dict[str, Any]
    infra: Infra

    def auth(self, role: str, dealer: str | None = None) -> dict[str, str]:
        return self.infra.auth(role, dealer)  # type: ignore[arg-type]

    @property
    def topic_prefix(self) -> str:
        return str(self.apps["router"].state.runtime.settings.topic_prefix)

    async def register_vehicles(self, *vehicles: dict[str, Any]) -> dict[str, Any]:
        """Put vehicles into the router's registry as HQ (`tests.fixtures.registry_vehicle`); the answer's counts."""
        r = await self.router.put("/v1/vehicles", json={"vehicles": list(vehicles)}, headers=self.auth("hq_admin"))
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def first_task(self, dealer: str) -> str:
        """The id of the first task the scheduler lists for `dealer`, once there is one (leads cross a broker)."""

        async def listed() -> str | None:
            items = (await self.scheduler.get("/v1/tasks", headers=self.auth("dealer", dealer))).json()["items"]
            return str(items[0]["task_id"]) if items else None

        task_id: str = await eventually(listed)
        return task_id

    async def rows(self, service: str, sql: str, **params: Any) -> list[Any]:
        """The rows a query finds in one service's database (`service`: intake, router, scheduler, ledger)."""
        async with self.apps[service].state.runtime.db.sessions() as session:
            return list((await session.execute(text(sql), params)).all())

    async def drain_relays(self) -> None:
        """Publish what every service's outbox holds now."""
        for app in self.apps.values():
            await app.state.runtime.relay.drain()

    async def read_until_quiet(self, *topics: str) -> list[ConsumerRecord[bytes, bytes]]:
        """Every message on this pipeline's `topics` from the beginning, in order per partition, read until none
        arrives for two seconds (so events the relays are still publishing are included)."""
        seen: list[ConsumerRecord[bytes, bytes]] = []
        async with topic_reader(self.infra.bootstrap_servers, *(self.topic_prefix + t for t in topics)) as consumer:
            quiet = 0
            while quiet < 8:
                got = [m for msgs in (await consumer.getmany(timeout_ms=250)).values() for m in msgs]
                seen.extend(got)
                quiet = 0 if got else quiet + 1
        return seen

    async def read_to_end(self, *topics: str) -> list[ConsumerRecord[bytes, bytes]]:
        """Every message on this pipeline's `topics`, in order per partition, up to the end offsets of the moment."""
        return await read_to_end(self.infra.bootstrap_servers, [self.topic_prefix + t for t in topics])

    async def register_dealers(self, *dealers: str | dict[str, Any]) -> None:
        """Register dealers at the router (a bare code: a dealer far away, `tests.dealers.dealer_body`) and wait
        until intake and the scheduler have read them: only then may their tokens write there."""
        for dealer in dealers:
            r = await self.router.post("/v1/dealers", json=dealer_body(dealer), headers=self.auth("hq_admin"))
            assert r.status_code == 201, r.text
        await self.dealers_known({dealer_body(d)["code"]: "active" for d in dealers})

    async def dealers_known(self, statuses: dict[str, str]) -> None:
        """Wait until intake's and the scheduler's dealer directories say `statuses` (code -> status)."""
        for name in ("intake", "scheduler"):

            async def known(db: Any = self.apps[name].state.runtime.db) -> bool:
                async with db.sessions() as session:
                    rows = await session.execute(
                        text("SELECT code, status FROM dealers WHERE code = ANY(:codes)"), {"codes": list(statuses)}
                    )
                    return {code: status for code, status in rows} == statuses

            await eventually(known, within=30)


@asynccontextmanager
async def pipeline(
    infra: Infra,
    *,
    clock: Clock | None = None,
    intake_overrides: dict[str, Any] | None = None,
    scheduler_clock: Clock | None = None,
) -> AsyncIterator[Pipeline]:
    prefix = await new_topic_prefix(infra.bootstrap_servers)
    specs = [
        ("intake", IntakeSettings, "lead_intake", intake_app, intake_overrides or {}),
        ("router", RouterSettings, "dedup_router", router_app, {}),
        ("scheduler", SchedulerSettings, "followup_scheduler", scheduler_app, {}),
        ("ledger", LedgerSettings, "rewards_ledger", ledger_app, {}),
    ]
    clients: dict[str, httpx.AsyncClient] = {}
    apps: dict[str, Any] = {}
    async with AsyncExitStack() as stack:
        for name, settings_cls, package, factory, overrides in specs:
            url = await fresh_database(infra.database_server_url, package)
            settings = service_settings(settings_cls, infra, database_url=url, topic_prefix=prefix, **overrides)
            app_clock = scheduler_clock if name == "scheduler" and scheduler_clock else clock
            apps[name] = factory(settings, clock=app_clock)
            clients[name] = await stack.enter_async_context(running(apps[name]))
        # Every consumer holds its partitions before the test's first request: a record posted while the router's
        # group is still joining waits out intake's verdict budget and gets 202 where the test expects 201.
        await eventually(lambda: _all_consuming(apps), within=60)
        with _LogScan() as logs:
            yield Pipeline(apps=apps, infra=infra, **clients)
    on_topics = await personal_data_on_topics(infra.bootstrap_servers, prefix)
    assert on_topics == [], f"personal data on public or dead-letter topics: {on_topics[:5]}"
    assert logs.findings == [], f"personal data in log records: {logs.findings[:5]}"


async def _all_consuming(apps: dict[str, Any]) -> bool:
    loops = [loop for app in apps.values() for loop in app.state.runtime.consumers]
    return all(loop.consumer is not None and loop.consumer.assignment() for loop in loops)


# The loggers of the code under test; the tests' own loggers and third-party libraries are not the services' output.
_SCANNED_LOGGERS = ("lead_intake", "dedup_router", "followup_scheduler", "rewards_ledger", "leadnet_shared", "leadnet")


_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class _LogScan(logging.Handler):
    """Collects personal data from every log record of the services while a pipeline runs. It reads the raw record
    (message, arguments, fields, exception), before the redacting formatter: redaction is a backstop, the code must
    not log personal data in the first place."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.findings: list[tuple[str, list[str]]] = []
        self._root_level = logging.NOTSET

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(_SCANNED_LOGGERS):
            return
        # The message and the fields code added (`extra=`), not the record's own numbers (a `created` timestamp's
        # digits can look like a phone number).
        extras = {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRIBUTES}
        text = f"{record.getMessage()} {extras!r}"
        if record.exc_info and record.exc_info[1] is not None:
            text += repr(record.exc_info[1])
        if found := find_personal_data(text):
            self.findings.append((record.name, found))

    def __enter__(self) -> _LogScan:
        root = logging.getLogger()
        self._root_level = root.level
        root.setLevel(min(root.level or logging.INFO, logging.INFO))  # INFO records are created, so scanned
        root.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self)
        root.setLevel(self._root_level)


async def personal_data_on_topics(bootstrap: str, prefix: str) -> list[tuple[str, list[str]]]:
    """Every phone number or street-level address on the prefix's public topics and dead-letter topic, read from the
    beginning to the end offsets of the moment (tombstones have no value and carry nothing)."""
    names = [prefix + t.name for t in TOPICS if t.public] + [prefix + DEAD_LETTERS]
    return [
        (m.topic.removeprefix(prefix), found)
        for m in await read_to_end(bootstrap, names)
        if m.value and (found := find_personal_data(m.value.decode("utf-8", "replace")))
    ]


async def read_to_end(bootstrap: str, names: list[str]) -> list[ConsumerRecord[bytes, bytes]]:
    """Every message on the topics `names` from the beginning to the end offsets of the moment, in order per
    partition (a topic that does not exist has none)."""
    # The partitions from the admin client: a consumer's own metadata knows only the topics it was assigned
    # (Apache Kafka answers `topics()` with names, and `partitions_for_topic` stays empty).
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    partitions = [
        TopicPartition(t.get("topic") or t.get("name"), p.get("partition", p.get("partition_index")))
        for t in described
        if not t.get("error_code")
        for p in t.get("partitions", [])
    ]
    if not partitions:
        return []
    out: list[ConsumerRecord[bytes, bytes]] = []
    async with topic_reader(bootstrap) as consumer:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp, end in ends.items() if end > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for messages in batch.values():
                out.extend(messages)
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    return out
