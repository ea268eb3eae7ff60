"""notifier: webhooks to dealers' systems (and, in `channels`, messages to people) from the public topics."""

from __future__ import annotations

import os

from fastapi import FastAPI

from leadnet_shared.app import ConsumerSpec, create_service_app
from leadnet_shared.auth import TokenVerifier
from leadnet_shared.clock import Clock
from leadnet_shared.dealer_directory import dealer_directory_consumer
from leadnet_shared.events import LEADS, LEDGER, NETWORKS, PLANS, SALES, TASKS
from leadnet_shared.workers import periodic
from notifier.channels.config import check_channels
from notifier.delivery import log_purge_step, start_delivery
from notifier.endpoints import WEBHOOK_KEYS, router
from notifier.handlers import WEBHOOK_SOURCE_TYPES, webhook_handler
from notifier.models import DEALER_DIRECTORY, INBOX, KIT_STATE, OUTBOX
from notifier.people import people_policy
from notifier.people_dispatch import people_handler, people_step, source_types
from notifier.rules import webhook_policy
from notifier.settings import NotifierSettings

PEOPLE_TOPICS = [TASKS, SALES, NETWORKS, PLANS]


def create_app(
    settings: NotifierSettings | None = None,
    *,
    clock: Clock | None = None,
    verifier: TokenVerifier | None = None,
    consume: bool = True,
) -> FastAPI:
    """The service; `consume=False` serves the API only (tests that feed events through the handlers directly)."""
    settings = settings or NotifierSettings()
    webhook_policy()  # a bad policy file stops the service here, not at the first delivery
    people = people_policy()
    if settings.run_people_messages:
        check_channels(people.channels, os.environ)  # a channel without its secrets stops the service here
    return create_service_app(
        settings=settings,
        title="leadnet notifier",
        tables=(OUTBOX, INBOX, KIT_STATE),
        routers=[router],
        consumers=[
            ConsumerSpec(
                name="webhooks",
                topics=[LEADS, TASKS, LEDGER, SALES],
                handler=webhook_handler,
                types=WEBHOOK_SOURCE_TYPES,
            ),
            # Messages to people (people.toml): task and plan reminders come on the tasks topic, network and
            # collection deadlines on the networks topic, plan submissions and decisions on the plans topic.
            ConsumerSpec(name="people", topics=PEOPLE_TOPICS, handler=people_handler, types=source_types(people)),
            dealer_directory_consumer(DEALER_DIRECTORY),
        ]
        if consume
        else [],
        # Deliveries already queued go out from the start, before the consumers have joined their group (a broker
        # that is slow or away does not hold back what the database holds).
        on_startup=[start_delivery] if settings.run_delivery else [],
        workers=[
            periodic("delivery-log-purge", log_purge_step),
            periodic("idempotency-purge", WEBHOOK_KEYS.purge_step()),
            *([periodic("people-messages", people_step)] if settings.run_people_messages else []),
        ],
        clock=clock,
        verifier=verifier,
    )
