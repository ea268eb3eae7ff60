"""Fault test: two scheduler replicas (real processes) share a burst of due tasks; one is SIGKILLed mid-burst.

Every task must fire exactly once (one `task.due` event id per task, read back from Kafka) and none may be missed.
Kafka may carry a copy of an event twice (a relay killed between publishing and marking it sent): same event id,
which consumers dedupe; what must never happen is a second, different `task.due` for one task.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import orjson
import pytest

from leadnet_shared.events import TASKS
from leadnet_shared.infra import free_port
from leadnet_shared.settings import to_plain_url
from leadnet_shared.testing import (
    Infra,
    fresh_database,
    new_topic_prefix,
    read_from_beginning,
    service_process,
    topic_reader,
)
from tests.scheduler_harness import TASK_COLUMNS, open_callback_row

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

BURST = 2000


@contextmanager
def replica(
    infra: Infra, *, database_url: str, prefix: str, port: int, batch: int
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        "LEADNET_ENV": "test",
        "LEADNET_SCHEDULER_DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers,
        "LEADNET_TOPIC_PREFIX": prefix,
        "LEADNET_JWKS_FILE": infra.jwks_file,
        "LEADNET_SCHEDULER_PORT": str(port),
        "LEADNET_SCHEDULER_FIRE_BATCH_SIZE": str(batch),
        "LEADNET_KAFKA_IDEMPOTENCE": "off",
        "LEADNET_LOG_JSON": "false",
        "LEADNET_LOG_LEVEL": "WARNING",
    }
    with service_process("followup_scheduler", env) as proc:
        yield proc


async def wait_ready(port: int, proc: subprocess.Popen[bytes], within: float = 90) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "replica exited during startup"
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz", timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"replica on port {port} not ready in {within}s")


async def read_due_events(bootstrap: str, topic: str, *, want: int, within: float) -> list[dict[str, object]]:
    async with topic_reader(bootstrap) as consumer:
        await read_from_beginning(consumer, topic, within=within)
        events: list[dict[str, object]] = []
        seen: set[object] = set()
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batches.values():
                for record in records:
                    assert record.value is not None
                    envelope = orjson.loads(record.value)
                    if envelope["type"] == "leadnet.task.due":
                        events.append(envelope)
                        seen.add(envelope["data"]["task_id"])
            if len(seen) >= want and not batches:
                break
        return events


class TestReplicaKilledMidBurst:
    async def test_every_task_fires_exactly_once_and_none_is_missed(self, infra: Infra) -> None:
        prefix = await new_topic_prefix(infra.bootstrap_servers)
        url = await fresh_database(infra.database_server_url, "followup_scheduler")
        ports = [free_port(), free_port()]
        with (
            replica(infra, database_url=url, prefix=prefix, port=ports[0], batch=100) as first,
            replica(infra, database_url=url, prefix=prefix, port=ports[1], batch=100) as second,
        ):
            await asyncio.gather(wait_ready(ports[0], first), wait_ready(ports[1], second))
            conn = await asyncpg.connect(to_plain_url(url))
            try:
                due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
                task_ids = [str(uuid.uuid4()) for _ in range(BURST)]
                await conn.copy_records_to_table(
                    "tasks",
                    columns=TASK_COLUMNS,
                    records=[
                        open_callback_row(
                            tid,
                            str(uuid.uuid4()),
                            str(uuid.uuid4()),
                            f"D{i % 7:03d}",
                            due=due,
                            reason="fault test",
                            planned=due - timedelta(seconds=3),
                        )
                        for i, tid in enumerate(task_ids)
                    ],
                )
                # Kill one replica as soon as the burst has started (some fired, most not yet).
                fired_at_kill = 0
                while datetime.now(UTC) < due + timedelta(seconds=10):
                    fired_at_kill = await conn.fetchval("SELECT count(*) FROM tasks WHERE fired_at IS NOT NULL")
                    if fired_at_kill > 0:
                        first.send_signal(signal.SIGKILL)
                        first.wait()
                        break
                    await asyncio.sleep(0.005)
                assert 0 < fired_at_kill < BURST, f"the kill did not land mid-burst ({fired_at_kill} fired)"
                # The survivor finishes the burst.
                deadline = time.monotonic() + 30
                while await conn.fetchval("SELECT count(*) FROM tasks WHERE fired_at IS NULL") > 0:
                    assert time.monotonic() < deadline, "tasks left unfired after a replica died"
                    await asyncio.sleep(0.05)
                lateness = await conn.fetchval(
                    "SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM fired_at - due_at)) "
                    "FROM tasks"
                )
                in_outbox = await conn.fetchval(
                    "SELECT count(DISTINCT event_id) FROM outbox WHERE event_type = 'leadnet.task.due'"
                )
            finally:
                await conn.close()
            assert in_outbox == BURST
            events = await read_due_events(infra.bootstrap_servers, prefix + TASKS, want=BURST, within=60)

        ids_by_task: dict[object, set[object]] = defaultdict(set)
        for event in events:
            ids_by_task[event["data"]["task_id"]].add(event["id"])  # type: ignore[index]
        assert set(ids_by_task) == set(task_ids)  # none missed
        assert all(len(ids) == 1 for ids in ids_by_task.values())  # none fired twice
        # Event ids unique across tasks; copies of one event (a relay killed before marking it sent) share the id.
        assert len({event_id for ids in ids_by_task.values() for event_id in ids}) == BURST
        # Lateness is printed, not asserted: it measures this machine's load as much as the code (a CI run beside
        # a million-record import saw 1.1 s); bench/scheduler_bench.py measures it. What must hold is above: every
        # task fired exactly once, by the survivor, within the deadline.
        print(f"fired at kill {fired_at_kill}, p99 lateness {lateness:.3f}s, kafka copies {len(events)}")
