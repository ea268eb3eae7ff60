"""hq-console: reads only the public topics into its own history and serves the measures HQ watches."""

from __future__ import annotations

from fastapi import FastAPI

from hq_console import web
from hq_console.endpoints import router
from hq_console.facts import CONSOLE_TOPICS, CONSOLE_TYPES, facts_handler
from hq_console.models import INBOX, KIT_STATE, OUTBOX
from hq_console.settings import ConsoleSettings
from leadnet_shared.app import ConsumerSpec, create_service_app
from leadnet_shared.auth import TokenVerifier
from leadnet_shared.clock import Clock


def create_app(
    settings: ConsoleSettings | None = None,
    *,
    clock: Clock | None = None,
    verifier: TokenVerifier | None = None,
    consume: bool = True,
) -> FastAPI:
    """The service; `consume=False` serves the API only (tests that feed events through the handler directly)."""
    settings = settings or ConsoleSettings()
    return create_service_app(
        settings=settings,
        title="leadnet hq-console",
        tables=(OUTBOX, INBOX, KIT_STATE),
        routers=[router, web.router],
        consumers=[
            # One group over every public topic: as any HQ dashboard would read them, nothing else. Every type is
            # taken (unknown ones are kept in other_events), so nothing a newer producer adds is lost to history.
            ConsumerSpec(name="facts", topics=list(CONSOLE_TOPICS), handler=facts_handler, types=CONSOLE_TYPES)
        ]
        if consume
        else [],
        clock=clock,
        verifier=verifier,
    )
