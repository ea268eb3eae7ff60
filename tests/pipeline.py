"""The four services running in one test process against the session's real PostgreSQL and Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from dedup_router.app import create_app as router_app
from dedup_router.settings import RouterSettings
from followup_scheduler.app import create_app as scheduler_app
from followup_scheduler.settings import SchedulerSettings
from lead_intake.app import create_app as intake_app
from lead_intake.settings import IntakeSettings
from leadnet_shared.clock import Clock
from leadnet_shared.testing import Infra, fresh_database, new_topic_prefix, running, service_settings
from rewards_ledger.app import create_app as ledger_app
from rewards_ledger.settings import LedgerSettings


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
        yield Pipeline(apps=apps, infra=infra, **clients)
