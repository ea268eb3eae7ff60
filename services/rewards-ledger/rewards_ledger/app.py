"""rewards-ledger: the 2 / 100 / 1000-3000 CNY rewards, exact, once, auditable."""

from __future__ import annotations

from fastapi import FastAPI

from leadnet_shared.access import trusted_sources
from leadnet_shared.app import ConsumerSpec, create_service_app
from leadnet_shared.auth import TokenVerifier
from leadnet_shared.clock import Clock
from leadnet_shared.events import LEADS, SALES
from leadnet_shared.policy import rewards_policy
from rewards_ledger import payout_endpoints
from rewards_ledger.endpoints import router
from rewards_ledger.handlers import REWARD_TYPES, reward_handler
from rewards_ledger.models import INBOX, KIT_STATE, OUTBOX
from rewards_ledger.money_guards import check_money_guards
from rewards_ledger.settings import LedgerSettings


def create_app(
    settings: LedgerSettings | None = None,
    *,
    clock: Clock | None = None,
    verifier: TokenVerifier | None = None,
    consume: bool = True,
) -> FastAPI:
    """The service; `consume=False` serves the API only (tests that feed events through the handlers directly)."""
    settings = settings or LedgerSettings()
    rewards_policy()  # a reward table outside domain.md's ranges stops the service here (PolicyError), not at a payout
    return create_service_app(
        settings=settings,
        title="leadnet rewards-ledger",
        tables=(OUTBOX, INBOX, KIT_STATE),
        routers=[router, payout_endpoints.router],
        consumers=[
            ConsumerSpec(
                name="rewards",
                topics=[LEADS, SALES],
                handler=reward_handler,
                types=REWARD_TYPES,
                # Money is paid only on facts from their producer: a sale from the router, a verification from
                # the scheduler (issue 16 §5); another source is refused and dead-lettered.
                sources=trusted_sources(REWARD_TYPES),
            )
        ]
        if consume
        else [],
        on_startup=[check_money_guards],
        clock=clock,
        verifier=verifier,
    )
