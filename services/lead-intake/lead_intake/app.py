"""lead-intake: what every dealer's DMS talks to."""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import FastAPI

from lead_intake.collection_plan_endpoints import router as collection_plans_router
from lead_intake.endpoints import router, submit_lead_lane
from lead_intake.handlers import CORRECTION_TYPES, VERDICT_TYPES, correction_handler, verdict_handler
from lead_intake.models import DEALERS, INBOX, KIT_STATE, OUTBOX
from lead_intake.network_dealers import dealer_levels_consumer
from lead_intake.network_endpoints import router as networks_router
from lead_intake.network_evaluation import evaluation_timer
from lead_intake.network_evaluation_endpoints import router as evaluations_router
from lead_intake.network_plan_reminders import plan_reminder_timer
from lead_intake.rate_limit import RateLimiter
from lead_intake.refusals import RefusalQueue, refusal_rules
from lead_intake.service import lead_committer, purge_idempotency_keys
from lead_intake.settings import IntakeSettings
from lead_intake.state import IntakeState
from lead_intake.verdicts import VerdictWaiter
from lead_intake.visibility import ACCESS_LOG
from leadnet_shared.app import ConsumerSpec, Runtime, create_service_app
from leadnet_shared.auth import TokenVerifier
from leadnet_shared.clock import Clock
from leadnet_shared.dealer_directory import ActiveDealers
from leadnet_shared.events import LEADS, LEADS_INTERNAL
from leadnet_shared.settings import to_plain_url
from leadnet_shared.workers import Step, periodic

log = logging.getLogger(__name__)


async def _start_waiter(runtime: Runtime) -> None:
    settings: IntakeSettings = runtime.settings  # type: ignore[assignment]
    waiter = VerdictWaiter(to_plain_url(settings.async_dsn))
    await waiter.start()
    runtime.readiness_checks["verdict_listener"] = waiter.check
    committer = lead_committer(
        runtime.db, runtime.outbox, max_group=settings.group_commit_max, committers=settings.group_committers
    )
    committer.start()
    runtime.service_state = IntakeState(
        verdicts=waiter,
        rate_limiter=RateLimiter(rate=settings.rate_limit_per_second, burst=settings.rate_limit_burst),
        batch_rate_limiter=RateLimiter(
            rate=settings.batch_rate_limit_per_second, burst=settings.batch_rate_limit_burst
        ),
        lead_committer=committer,
        dealers=ActiveDealers(DEALERS, ttl_seconds=settings.dealer_status_ttl_seconds),
        refusals=RefusalQueue(),
    )


async def _stop_waiter(runtime: Runtime) -> None:
    if isinstance(runtime.service_state, IntakeState):  # not when the startup failed before setting it
        try:  # the last refusals go out with the next start's relay
            await runtime.service_state.refusals.flush(runtime)
        except Exception:
            log.exception("refusals waiting at shutdown were not written")
        await runtime.service_state.lead_committer.stop()
        await runtime.service_state.verdicts.stop()


def purge_expired_idempotency_keys(runtime: Runtime) -> Step:
    """Forget Idempotency-Keys older than the TTL (default 48 h, never under the contract's 24 h)."""
    settings: IntakeSettings = runtime.settings  # type: ignore[assignment]

    async def purge() -> float:
        async with runtime.db.transaction() as session:
            purged = await purge_idempotency_keys(
                session, older_than=runtime.clock.now() - timedelta(hours=settings.idempotency_ttl_hours)
            )
        if purged:
            log.info("purged %d expired idempotency keys", purged)
        return settings.idempotency_purge_interval_seconds

    return purge


def write_refusals_step(runtime: Runtime) -> Step:
    """Write the single records refused since the last pass (lead_intake.refusals), then wait the policy's
    interval; a failed write keeps them queued and the worker backs off."""

    async def flush() -> float:
        if isinstance(runtime.service_state, IntakeState):
            await runtime.service_state.refusals.flush(runtime)
        return refusal_rules().flush_interval_seconds

    return flush


def create_app(
    settings: IntakeSettings | None = None,
    *,
    clock: Clock | None = None,
    verifier: TokenVerifier | None = None,
) -> FastAPI:
    settings = settings or IntakeSettings()
    return create_service_app(
        settings=settings,
        title="leadnet lead-intake",
        tables=(OUTBOX, INBOX, KIT_STATE),
        # /v1/leads/access-log before /v1/leads/{lead_id}, /evaluations before /{code}
        routers=[ACCESS_LOG.router("/v1/leads"), router, evaluations_router, networks_router, collection_plans_router],
        consumers=[
            ConsumerSpec(name="verdicts", topics=[LEADS], handler=verdict_handler, types=VERDICT_TYPES),
            ConsumerSpec(
                name="corrections", topics=[LEADS_INTERNAL], handler=correction_handler, types=CORRECTION_TYPES
            ),
            dealer_levels_consumer(),
        ],
        workers=[
            periodic("idempotency-purge", purge_expired_idempotency_keys),
            periodic("access-log-purge", ACCESS_LOG.purge_step()),
            periodic("network-evaluation", evaluation_timer),
            periodic("network-plan-reminders", plan_reminder_timer),
            periodic("lead-refusals", write_refusals_step),
        ],
        on_startup=[_start_waiter],
        on_shutdown=[_stop_waiter],
        clock=clock,
        verifier=verifier,
        fast_lanes={("POST", "/v1/leads"): submit_lead_lane} if settings.fast_lane else None,
        max_body_bytes=settings.max_record_bytes,
        body_limits={
            ("POST", "/v1/leads/batch"): settings.max_batch_bytes,
            ("POST", "/v1/leads/verdicts"): settings.max_batch_bytes,
        },
    )
