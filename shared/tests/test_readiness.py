"""Readiness is the database, live consumer tasks and the service's own checks, not the broker: a Kafka outage
must not take every pod out of its Service (intake keeps saving into its outbox; reads need no broker), while a
consumer task that ended must (its events would wait silently)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.app import ConsumerSpec, Runtime, create_service_app
from leadnet_shared.events import LEADS, Envelope
from leadnet_shared.infra import EmbeddedBroker
from leadnet_shared.outbox import define_kit_tables
from leadnet_shared.settings import ServiceSettings
from leadnet_shared.testing import Infra, database_with_tables, new_topic_prefix, running

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

metadata = MetaData()
TABLES = define_kit_tables(metadata)


class ProbeSettings(ServiceSettings, service="probe"):
    pass


async def _ignore(session: AsyncSession, envelopes: list[Envelope]) -> None:
    return None


async def test_ready_with_the_broker_down_and_not_once_a_consumer_task_ended(infra: Infra) -> None:
    url = await database_with_tables(infra.database_server_url, metadata)
    broker = EmbeddedBroker().start()  # a broker of this test's own, to take down
    try:
        prefix = await new_topic_prefix(broker.bootstrap, partitions=1)
        settings = ProbeSettings(
            env="test",
            service_database_url=url,
            kafka_bootstrap_servers=broker.bootstrap,
            topic_prefix=prefix,
            jwks_file=infra.jwks_file,
            log_json=False,
        )
        app = create_service_app(
            settings=settings,
            title="probe",
            tables=TABLES,
            routers=[],
            consumers=[
                ConsumerSpec(
                    name="leads", topics=[LEADS], handler=lambda _rt: _ignore, types=frozenset({"leadnet.lead.closed"})
                )
            ],
        )
        async with running(app) as client:
            runtime: Runtime = app.state.runtime
            full = await client.get("/readyz?full")
            assert full.status_code == 200
            assert full.json()["checks"] == {"database": "ok", "tasks": "ok", "broker": "ok"}

            broker.stop()  # Kafka is down
            ready = await client.get("/readyz")
            assert ready.status_code == 200
            assert "broker" not in ready.json()["checks"]
            full = await client.get("/readyz?full")
            assert full.status_code == 200 and full.json()["checks"]["broker"].startswith("error")

            runtime.consumers[0].stop()  # the consumer loop ends (as a crash would end it)
            task = next(t for t in runtime.tasks if t.get_name() == "consumer-leads")
            await asyncio.wait([task], timeout=30)  # (its ending with the broker down may be a cancellation)
            assert task.done()
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["tasks"] == "error: ended: consumer-leads"

            async def failing_check() -> None:
                raise RuntimeError("the verdict listener is not connected")

            runtime.consumers.clear()
            runtime.tasks.remove(task)
            assert (await client.get("/readyz")).status_code == 200
            runtime.readiness_checks["verdict_listener"] = failing_check  # a service's own condition
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["verdict_listener"] == "error: the verdict listener is not connected"
    finally:
        broker.stop()
