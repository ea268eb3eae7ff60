"""The four services running in one test process against the session's real PostgreSQL and Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text

from dedup_router.app import create_app as router_app
from dedup_router.settings import RouterSettings
from followup_scheduler.app import create_app as scheduler_app
from followup_scheduler.settings import SchedulerSettings
from lead_intake.app import create_app as intake_app
from lead_intake.settings import IntakeSettings
from leadnet_shared.clock import Clock
from leadnet_shared.testing import Infra, eventually, fresh_database, new_topic_prefix, running, service_settings
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
        yield Pipeline(apps=apps, infra=infra, **clients)
