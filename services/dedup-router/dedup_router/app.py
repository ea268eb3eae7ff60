"""dedup-router: who owns a customer."""

from __future__ import annotations

from fastapi import FastAPI

from dedup_router import customer_file_endpoints, sale_endpoints, vehicle_endpoints
from dedup_router.confidentiality import ACCESS_LOG
from dedup_router.endpoints import router
from dedup_router.handlers import LEAD_TYPES, lead_handler, life_cycle_handler
from dedup_router.models import INBOX, KIT_STATE, OUTBOX
from dedup_router.protection import protection_timer
from dedup_router.republish import republish_masked_customers
from dedup_router.sales import SALE_KEYS
from dedup_router.settings import RouterSettings
from dedup_router.timeline import TIMELINE_TOPICS, TIMELINE_TYPES, timeline_handler
from leadnet_shared.app import ConsumerSpec, create_service_app
from leadnet_shared.auth import TokenVerifier
from leadnet_shared.clock import Clock
from leadnet_shared.events import LEADS, LEADS_INTERNAL
from leadnet_shared.life_cycle import LIFE_CYCLE_TYPES
from leadnet_shared.policy import rewards_policy
from leadnet_shared.workers import periodic


def create_app(
    settings: RouterSettings | None = None, *, clock: Clock | None = None, verifier: TokenVerifier | None = None
) -> FastAPI:
    settings = settings or RouterSettings()
    rewards_policy()  # the rewards a sale answer announces: a table outside domain.md's ranges stops the service here
    return create_service_app(
        settings=settings,
        title="leadnet dedup-router",
        tables=(OUTBOX, INBOX, KIT_STATE),
        routers=[
            ACCESS_LOG.router("/v1/customers"),  # before /v1/customers/{customer_id}
            router,
            sale_endpoints.router,
            vehicle_endpoints.router,
            customer_file_endpoints.router,
        ],
        consumers=[
            ConsumerSpec(name="submitted-leads", topics=[LEADS_INTERNAL], handler=lead_handler, types=LEAD_TYPES),
            ConsumerSpec(name="timeline", topics=TIMELINE_TOPICS, handler=timeline_handler, types=TIMELINE_TYPES),
            ConsumerSpec(name="lead-life-cycle", topics=[LEADS], handler=life_cycle_handler, types=LIFE_CYCLE_TYPES),
        ],
        workers=[
            periodic("protection-timer", protection_timer),
            periodic("idempotency-purge", SALE_KEYS.purge_step()),
            periodic("access-log-purge", ACCESS_LOG.purge_step()),
            republish_masked_customers,
        ],
        clock=clock,
        verifier=verifier,
    )
