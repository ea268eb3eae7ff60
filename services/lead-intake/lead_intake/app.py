"""lead-intake: what every dealer's DMS talks to."""

from __future__ import annotations

from fastapi import FastAPI

from lead_intake.endpoints import router
from lead_intake.handlers import verdict_handlers
from lead_intake.models import INBOX, KIT_STATE, OUTBOX
from lead_intake.rate_limit import RateLimiter
from lead_intake.settings import IntakeSettings
from lead_intake.verdicts import VerdictWaiter
from leadnet_shared.app import ConsumerSpec, Runtime, create_service_app
from leadnet_shared.auth import TokenVerifier
from leadnet_shared.clock import Clock
from leadnet_shared.events import LEADS
from leadnet_shared.settings import to_plain_url


async def _start_waiter(runtime: Runtime) -> None:
    settings: IntakeSettings = runtime.settings  # type: ignore[assignment]
    waiter = VerdictWaiter(to_plain_url(settings.async_dsn))
    await waiter.start()
    runtime.extras["verdicts"] = waiter
    runtime.extras["rate_limiter"] = RateLimiter(
        rate=settings.rate_limit_per_second, burst=settings.rate_limit_burst
    )


async def _stop_waiter(runtime: Runtime) -> None:
    waiter: VerdictWaiter | None = runtime.extras.get("verdicts")
    if waiter is not None:
        await waiter.stop()


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
        routers=[router],
        consumers=[ConsumerSpec(name="verdicts", topics=[LEADS], handlers=lambda _rt: verdict_handlers())],
        on_startup=[_start_waiter],
        on_shutdown=[_stop_waiter],
        clock=clock,
        verifier=verifier,
    )
