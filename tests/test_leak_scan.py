"""The personal-data scan every pipeline runs when it stops (tests/pipeline.py) finds what it must find: a test of
the test, so that a scan which silently read nothing cannot pass for a clean system."""

from __future__ import annotations

import logging

import pytest
from aiokafka import AIOKafkaProducer

from leadnet_shared.events import CUSTOMERS, DEAD_LETTERS, LEADS_INTERNAL
from leadnet_shared.testing import Infra, new_topic_prefix
from tests.pipeline import _LogScan, personal_data_on_topics


@pytest.mark.postgres
@pytest.mark.kafka
class TestTheScanFindsLeaks:
    async def test_a_phone_on_a_public_topic_or_the_dead_letter_topic_is_found_and_internal_topics_are_not_read(
        self, infra: Infra
    ) -> None:
        prefix = await new_topic_prefix(infra.bootstrap_servers)
        producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait(prefix + CUSTOMERS, b'{"phone": "138****8000"}', key=b"c1")
            await producer.send_and_wait(prefix + CUSTOMERS, None, key=b"c2")  # a tombstone carries nothing
            await producer.send_and_wait(prefix + LEADS_INTERNAL, b'{"phone": "13800138000"}', key=b"c1")
            assert await personal_data_on_topics(infra.bootstrap_servers, prefix) == []

            await producer.send_and_wait(prefix + CUSTOMERS, '{"address": "诸城市东坡北街18号"}'.encode(), key=b"c1")
            await producer.send_and_wait(prefix + DEAD_LETTERS, b'{"raw": {"phone": "13900139000"}}', key=b"c3")
        finally:
            await producer.stop()
        found = await personal_data_on_topics(infra.bootstrap_servers, prefix)
        assert sorted(topic for topic, _ in found) == sorted([CUSTOMERS, DEAD_LETTERS])
        assert any("13900139000" in hits for _, hits in found)


class TestTheLogScan:
    def test_a_service_logger_leaking_a_phone_is_found_and_other_loggers_are_not_scanned(self) -> None:
        with _LogScan() as scan:
            logging.getLogger("dedup_router.routing").info("routed %s", "lead 3f1c0a23 to D003")
            logging.getLogger("tests.anything").info("the test's own fixture 13800138000")
            assert scan.findings == []
            logging.getLogger("dedup_router.routing").info("routed", extra={"phone": "13800138000"})
        assert scan.findings == [("dedup_router.routing", ["13800138000"])]
