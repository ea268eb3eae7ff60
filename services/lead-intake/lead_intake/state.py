"""What a running intake holds besides the kit's runtime: typed, set up by the app's startup hook."""

from __future__ import annotations

from dataclasses import dataclass

from lead_intake.rate_limit import RateLimiter
from lead_intake.refusals import RefusalQueue
from lead_intake.service import LeadCommitter
from lead_intake.verdicts import VerdictWaiter
from leadnet_shared.app import Runtime, state_of
from leadnet_shared.dealer_directory import ActiveDealers


@dataclass(frozen=True, slots=True)
class IntakeState:
    verdicts: VerdictWaiter
    rate_limiter: RateLimiter  # POST /v1/leads, per caller
    batch_rate_limiter: RateLimiter  # POST /v1/leads/batch, per caller
    lead_committer: LeadCommitter
    dealers: ActiveDealers  # which dealer tokens may write
    refusals: RefusalQueue  # single records refused, waiting for the `lead-refusals` worker


def intake_state(runtime: Runtime) -> IntakeState:
    return state_of(runtime, IntakeState)
