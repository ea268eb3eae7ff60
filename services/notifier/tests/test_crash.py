"""The notifier killed (SIGKILL) while a delivery is in flight sends it again after a restart: the claim's lease
was committed before the request, so nothing is lost with the process. Runs the real service as a subprocess and
feeds it through Kafka."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from leadnet_shared.events import LEADS
from leadnet_shared.infra import free_port
from leadnet_shared.settings import to_plain_url
from leadnet_shared.testing import Infra, eventually, fresh_database, new_topic_prefix, service_process

from .conftest import ACTIVE_DEALERS, Receiver, lead_accepted, receiving

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


async def _ready(base: str) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{base}/readyz", timeout=1)).status_code == 200
    except httpx.HTTPError:
        return False


async def test_killed_mid_delivery_the_notifier_delivers_again_after_restart(infra: Infra) -> None:
    url = await fresh_database(infra.database_server_url, "notifier")
    conn = await asyncpg.connect(to_plain_url(url))
    try:
        await conn.execute(ACTIVE_DEALERS)
    finally:
        await conn.close()
    prefix = await new_topic_prefix(infra.bootstrap_servers)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "LEADNET_ENV": "test",
        "LEADNET_NOTIFIER_DATABASE_URL": url,
        "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers,
        "LEADNET_TOPIC_PREFIX": prefix,
        "LEADNET_JWKS_FILE": infra.jwks_file,
        "LEADNET_NOTIFIER_PORT": str(port),
        "LEADNET_NOTIFIER_DELIVERY_LEASE_SECONDS": "2",
        "LEADNET_NOTIFIER_DELIVERY_POLL_SECONDS": "0.1",
        "LEADNET_LOG_JSON": "false",
    }
    auth = infra.auth("dealer", "D001")
    async with receiving() as receiver:
        receiver.hold = asyncio.Event()  # the first request is never answered: the process dies meanwhile
        with service_process("notifier", env, graceful=False) as proc:
            await eventually(lambda: _ready(base), within=60, interval=0.2)
            async with httpx.AsyncClient(base_url=base) as client:
                r = await client.post("/v1/webhooks", json={"url": receiver.url(), "events": ["lead.assigned"]},
                                      headers=auth)  # fmt: skip
                assert r.status_code == 201, r.text
                hook = r.json()
            producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers)
            await producer.start()
            try:
                event = lead_accepted("L1", "C1", "D001")
                await producer.send_and_wait(prefix + LEADS, event.to_bytes(), key=b"C1")
            finally:
                await producer.stop()
            await asyncio.wait_for(receiver.arrived.wait(), timeout=30)
            proc.kill()  # SIGKILL: no shutdown, no cleanup
            proc.wait(timeout=10)
        first = receiver.requests[0].msg_id
        held, receiver.hold = receiver.hold, None
        held.set()
        with service_process("notifier", env, graceful=False):
            # Queued deliveries go out before the consumers have rejoined their group (which waits for the killed
            # member's session to end): the log is read from the database, not through the API.
            await eventually(lambda: _n(receiver, 2), within=90, interval=0.1)
            assert [r.msg_id for r in receiver.requests] == [first, first]
            log = await eventually(lambda: _delivered(url, hook["webhook_id"]), within=15)
        assert (log["status"], log["attempts"], log["response_code"]) == ("delivered", 2, 204)


async def _n(receiver: Receiver, n: int) -> bool:
    return len(receiver.requests) >= n


async def _delivered(url: str, webhook_id: str) -> dict[str, object] | None:
    conn = await asyncpg.connect(to_plain_url(url))
    try:
        row = await conn.fetchrow(
            "SELECT status, attempts, response_code FROM deliveries WHERE webhook_id = $1 AND status = 'delivered'",
            webhook_id,
        )
    finally:
        await conn.close()
    return dict(row) if row else None
