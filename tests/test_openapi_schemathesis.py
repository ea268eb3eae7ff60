"""Every service's `/openapi.json` tells the truth: schemathesis (coverage and fuzzing phases) runs against the four
services on real uvicorn servers, real PostgreSQL and Kafka, with an HQ and a dealer token, and fails the build on
any server error, undocumented status, content type or response shape.

Bounded for CI: a few examples per operation and a time limit per run (the whole test stays under 4 minutes on a
2-core machine); the seed is fixed, so a failure found here is found again on the next run.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, from_schema
from schemathesis.engine.events import EngineEvent, NonFatalError, ScenarioFinished

from dedup_router.app import create_app as router_app
from dedup_router.settings import RouterSettings
from followup_scheduler.app import create_app as scheduler_app
from followup_scheduler.settings import SchedulerSettings
from hq_console.app import create_app as console_app
from hq_console.settings import ConsoleSettings
from lead_intake.app import create_app as intake_app
from lead_intake.settings import IntakeSettings
from leadnet_shared.testing import (
    Infra,
    eventually,
    fresh_database,
    new_topic_prefix,
    service_settings,
    serving_on_loopback,
)
from notifier.app import create_app as notifier_app
from notifier.settings import NotifierSettings
from rewards_ledger.app import create_app as ledger_app
from rewards_ledger.settings import LedgerSettings
from tests.dealers import dealer_body, dealer_status_in
from tests.lists_check import check_lists

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

SERVICES: list[tuple[str, type[Any], str, Any]] = [
    ("lead-intake", IntakeSettings, "lead_intake", intake_app),
    ("dedup-router", RouterSettings, "dedup_router", router_app),
    ("followup-scheduler", SchedulerSettings, "followup_scheduler", scheduler_app),
    ("rewards-ledger", LedgerSettings, "rewards_ledger", ledger_app),
    ("hq-console", ConsoleSettings, "hq_console", console_app),
    ("notifier", NotifierSettings, "notifier", notifier_app),
]
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance")
SECONDS_PER_RUN = 10  # 6 services x 2 tokens: 2 minutes of the 4 the test may take


def run_schemathesis(base_url: str, token: str) -> list[str]:
    """One bounded schemathesis run; what failed, one line each."""
    config = SchemathesisConfig.from_dict(
        {
            "seed": 15,
            "max-time": SECONDS_PER_RUN,
            "headers": {"Authorization": f"Bearer {token}"},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "phases": {
                "examples": {"enabled": False},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
            "generation": {"max-examples": 8},
        }
    )
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)
    failures: list[str] = []
    event: EngineEvent
    for event in from_schema(schema).execute():
        if isinstance(event, NonFatalError):
            failures.append(f"{event.label}: error {event.value!r}")
        elif isinstance(event, ScenarioFinished) and event.status == Status.FAILURE:
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        failures.append(
                            f"{event.recorder.label}: {check.name}: {failure.title} "
                            f"{failure.message}\n{check.failure_info.code_sample}"
                        )
    return failures


async def test_every_service_answers_what_its_document_says(infra: Infra) -> None:
    prefix = await new_topic_prefix(infra.bootstrap_servers)
    found: dict[str, list[str]] = {}
    async with AsyncExitStack() as stack:
        urls, databases = {}, {}
        for name, settings_cls, package, factory in SERVICES:
            databases[name] = await fresh_database(infra.database_server_url, package)
            settings = service_settings(settings_cls, infra, database_url=databases[name], topic_prefix=prefix)
            urls[name] = await stack.enter_async_context(serving_on_loopback(factory(settings), lifespan="on"))
        # The dealer token is a registered dealer's, so its writes are checked past the dealer-status rule.
        async with httpx.AsyncClient(base_url=urls["dedup-router"], headers=infra.auth("hq_admin")) as router:
            assert (await router.post("/v1/dealers", json=dealer_body("D001"))).status_code == 201
        for name in ("lead-intake", "followup-scheduler"):

            async def known(database: str = databases[name]) -> bool:
                return await dealer_status_in(database, "D001") == "active"

            await eventually(known, within=30)
        for name, url in urls.items():
            # contract.md "Lists": every list takes updated_since and counts its first page (tests/test_lists.py).
            async with httpx.AsyncClient(base_url=url) as client:
                document = (await client.get("/openapi.json")).json()
                lists = await check_lists(client, document, infra.auth("hq_admin"))
            if lists:
                found[f"{name} lists"] = lists
            for caller, token in (("hq_admin", infra.token("hq_admin")), ("dealer", infra.token("dealer", "D001"))):
                # schemathesis is synchronous: it runs in a thread while this loop serves its requests.
                failures = await asyncio.to_thread(run_schemathesis, url, token)
                if failures:
                    found[f"{name} as {caller}"] = failures
    report = "\n\n".join(f"== {who}\n" + "\n".join(sorted(set(lines))) for who, lines in found.items())
    print(report)
    assert not found, report
