"""rewards-ledger over a real broker: public lead and sale events in (sale first, verification after, duplicates),
balanced entries and `leadnet.ledger.entry_posted` events out."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI

from leadnet_shared.events import DEAD_LETTERS, LEADS, LEDGER, SALES, Envelope
from leadnet_shared.kafka import start_producer
from leadnet_shared.testing import Infra, eventually, fresh_database, new_topic_prefix, running, service_settings
from rewards_ledger.app import create_app
from rewards_ledger.settings import LedgerSettings
from tests.ledger_harness import lead_accepted, lead_verified, republished

from .story import LEAD, sold

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


async def _ledger_app(infra: Infra) -> tuple[str, FastAPI]:
    """The ledger on a fresh database, consuming and publishing under a topic prefix of its own."""
    prefix = await new_topic_prefix(infra.bootstrap_servers)
    url = await fresh_database(infra.database_server_url, "rewards_ledger")
    return prefix, create_app(service_settings(LedgerSettings, infra, database_url=url, topic_prefix=prefix))


class TestLedgerOverTheBroker:
    async def test_sale_before_verification_is_paid_once_and_announced(self, infra: Infra) -> None:
        prefix, app = await _ledger_app(infra)
        sale, verified = sold(), lead_verified(**LEAD)
        producer = await start_producer(infra.bootstrap_servers)
        try:
            async with running(app) as client:
                for topic, env in (
                    (SALES, sale),
                    (LEADS, lead_accepted(**LEAD)),
                    (LEADS, verified),
                    (LEADS, verified),
                    (LEADS, republished(verified)),
                    (SALES, republished(sale)),
                ):
                    await producer.send_and_wait(prefix + topic, env.to_bytes(), key=b"C1")

                async def paid_once() -> bool:
                    r = await client.get("/v1/ledger/accounts/D002", headers=infra.auth("dealer", "D002"))
                    return int(r.json()["balance_fen"]) == 10200

                assert await eventually(paid_once)
                r = await client.get("/v1/ledger/entries", headers=infra.auth("hq_analyst"))
                assert sorted((e["kind"], e["amount_fen"]) for e in r.json()["items"]) == [
                    ("info_fee", 200),
                    ("purchase_reward", 10000),
                ]
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            prefix + LEDGER, bootstrap_servers=infra.bootstrap_servers, auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        try:
            seen: list[Envelope] = []
            keys: list[bytes | None] = []

            async def two_events() -> bool:
                batch = await consumer.getmany(timeout_ms=200)
                for m in (m for msgs in batch.values() for m in msgs):
                    seen.append(Envelope.from_bytes(m.value or b""))
                    keys.append(m.key)
                return len(seen) >= 2

            await eventually(two_events)
            assert sorted((e.type, e.data["kind"], e.data["dealer"]) for e in seen) == [
                ("leadnet.ledger.entry_posted", "info_fee", "D002"),
                ("leadnet.ledger.entry_posted", "purchase_reward", "D002"),
            ]
            # Keyed by the customer, like the lead and sale events it pays for (contract.md "Events").
            assert keys == [b"C1", b"C1"]
        finally:
            await consumer.stop()

    async def test_a_money_event_from_the_wrong_source_is_refused_and_dead_lettered(self, infra: Infra) -> None:
        """issue 16 §5: the ledger pays a sale only from the router and a verification only from the scheduler. The
        same facts from another service's source are dead-lettered, pay nothing, and do not hold back the record's
        real events."""
        prefix, app = await _ledger_app(infra)
        sale, verified = sold(), lead_verified(**LEAD)
        assert (sale.source, verified.source) == ("/leadnet/router", "/leadnet/scheduler")
        forged = [
            (SALES, republished(sale).model_copy(update={"source": "/leadnet/scheduler"})),
            (LEADS, republished(verified).model_copy(update={"source": "/leadnet/router"})),
            (LEADS, republished(verified).model_copy(update={"source": "/leadnet/intake"})),
        ]
        dlq = AIOKafkaConsumer(
            prefix + DEAD_LETTERS,
            bootstrap_servers=infra.bootstrap_servers,
            auto_offset_reset="earliest",
            group_id=None,
        )
        producer = await start_producer(infra.bootstrap_servers)
        await dlq.start()
        try:
            async with running(app) as client:
                await producer.send_and_wait(prefix + LEADS, lead_accepted(**LEAD).to_bytes(), key=b"C1")
                for topic, env in forged:
                    await producer.send_and_wait(prefix + topic, env.to_bytes(), key=b"C1")
                dead: list[Envelope] = []

                async def three_dead_letters() -> bool:
                    batch = await dlq.getmany(timeout_ms=200)
                    dead.extend(Envelope.from_bytes(m.value or b"") for msgs in batch.values() for m in msgs)
                    return len(dead) >= 3

                assert await eventually(three_dead_letters)
                assert sorted(d.subject or "" for d in dead) == sorted(env.id for _, env in forged)
                assert all(d.data["error_class"] == "RefusedSource" for d in dead), [d.data for d in dead]
                assert sorted(d.data["failed_event_source"] for d in dead) == sorted(env.source for _, env in forged)
                assert all(d.data["attempts"] == 0 for d in dead)
                r = await client.get("/v1/ledger/entries", headers=infra.auth("hq_analyst"))
                assert r.json()["items"] == []  # nothing paid on the forged facts

                # The genuine facts of the same record (same key) still flow and pay, once.
                for topic, env in ((LEADS, verified), (SALES, sale)):
                    await producer.send_and_wait(prefix + topic, env.to_bytes(), key=b"C1")

                async def paid() -> bool:
                    r = await client.get("/v1/ledger/accounts/D002", headers=infra.auth("dealer", "D002"))
                    return int(r.json()["balance_fen"]) == 10200

                assert await eventually(paid)
        finally:
            await producer.stop()
            await dlq.stop()
