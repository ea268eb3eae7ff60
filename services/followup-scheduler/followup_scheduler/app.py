"""followup-scheduler: callbacks and promotions on time, once."""

from __future__ import annotations

from fastapi import FastAPI

from followup_scheduler.endpoints import TASK_KEYS, plans_router, router
from followup_scheduler.firing import timers
from followup_scheduler.handlers import LEAD_TYPES, lead_handler
from followup_scheduler.models import INBOX, KIT_STATE, OUTBOX
from followup_scheduler.plan_endpoints import work_plans_router
from followup_scheduler.retention import notes_retention_step
from followup_scheduler.settings import SchedulerSettings
from leadnet_shared.app import ConsumerSpec, create_service_app
from leadnet_shared.auth import TokenVerifier
from leadnet_shared.clock import Clock
from leadnet_shared.events import DEALERS, LEADS, SALES
from leadnet_shared.workers import periodic


def create_app(
    settings: SchedulerSettings | None = None,
    *,
    clock: Clock | None = None,
    verifier: TokenVerifier | None = None,
    run_timer_worker: bool = True,
    lead_batches: bool = True,
) -> FastAPI:
    """The scheduler app. `lead_batches=False` polls one event at a time (the batch handler on batches of one): the
    baseline `bench/scheduler_leads_bench.py` compares batches with."""
    settings = settings or SchedulerSettings()
    return create_service_app(
        settings=settings,
        title="leadnet followup-scheduler",
        tables=(OUTBOX, INBOX, KIT_STATE),
        # work_plans_router first: its /v1/plans/rollup/{month} must not match /v1/plans/{dealer}/{month}.
        routers=[router, work_plans_router, plans_router],
        consumers=[
            ConsumerSpec(
                name="leads",
                topics=[LEADS, DEALERS, SALES],
                handler=lead_handler,
                types=LEAD_TYPES,
                max_records=500 if lead_batches else 1,
            )
        ],
        # Due tasks must fire promptly once the database is back: backoff after failures stays short.
        workers=[
            periodic("idempotency-purge", TASK_KEYS.purge_step()),
            periodic("notes-retention", notes_retention_step),
            *([periodic("timers", timers, on_service_clock=True, max_backoff=5.0)] if run_timer_worker else []),
        ],
        clock=clock,
        verifier=verifier,
    )
