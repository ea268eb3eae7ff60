"""The shutdown budget (issue 16 §5, review L14): from SIGTERM the process is gone within
`shutdown_timeout_seconds`, so it fits the orchestrator's grace period (tests/deploy checks the manifests against
it). Here the lifespan's share, on a real database and broker, with a shutdown hook that would never return."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import MetaData

from leadnet_shared.app import Runtime, create_service_app, shutdown_budget
from leadnet_shared.outbox import define_kit_tables
from leadnet_shared.settings import ServiceSettings
from leadnet_shared.testing import Infra, database_with_tables, new_topic_prefix, running

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

metadata = MetaData()
TABLES = define_kit_tables(metadata)


class ProbeSettings(ServiceSettings, service="probe"):
    pass


def test_the_budget_is_configurable_and_leaves_the_lifespan_a_share() -> None:
    settings = ProbeSettings(env="test", shutdown_timeout_seconds=12, shutdown_http_seconds=4)
    assert shutdown_budget(settings) == 8
    with pytest.raises(ValueError, match="shutdown_http_seconds"):
        ProbeSettings(env="test", shutdown_timeout_seconds=5, shutdown_http_seconds=5)


async def test_a_hanging_shutdown_step_does_not_outlive_the_budget(infra: Infra) -> None:
    url = await database_with_tables(infra.database_server_url, metadata)
    settings = ProbeSettings(
        env="test",
        service_database_url=url,
        kafka_bootstrap_servers=infra.bootstrap_servers,
        topic_prefix=await new_topic_prefix(infra.bootstrap_servers, partitions=1),
        jwks_file=infra.jwks_file,
        shutdown_timeout_seconds=4,
        shutdown_http_seconds=1,
    )

    async def never_returns(runtime: Runtime) -> None:
        await asyncio.sleep(3600)

    app = create_service_app(settings=settings, title="probe", tables=TABLES, routers=[], on_shutdown=[never_returns])
    async with running(app):
        stopping = time.monotonic()
    took = time.monotonic() - stopping
    # The lifespan's 3 s, plus the producer's and the pool's own closing.
    assert took < shutdown_budget(settings) + 1.5, took
