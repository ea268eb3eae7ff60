"""A lead's life cycle after routing, as facts that commute (contract.md "Lead life cycle across the services").

The scheduler closes a lead (three unreachable callbacks, or a re-check answered `invalid`), HQ returns a record
through intake (`leadnet.lead.returned`, round n), the entrant's re-check reopens it (`leadnet.lead.reopened`,
round n). `closed` is final. Every service that shows a lead's status keeps these facts the same way: the earliest
close, the highest round returned, the highest round reopened. Max and min commute, so a service ends in one state
whatever order the events arrive in, and a redelivered event changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from leadnet_shared.events import Envelope, LeadClosed, LeadReopened, LeadReturned

CLOSED, RETURNED, REOPENED = "leadnet.lead.closed", "leadnet.lead.returned", "leadnet.lead.reopened"
LIFE_CYCLE_TYPES = frozenset({CLOSED, RETURNED, REOPENED})


LifeCycleStatus = Literal["open", "returned", "closed"]


@dataclass(frozen=True, slots=True)
class Closed:
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Returned:
    round: int


@dataclass(frozen=True, slots=True)
class Reopened:
    round: int


Fact = Closed | Returned | Reopened


@dataclass(frozen=True, slots=True)
class LifeCycle:
    """What the router knows of a lead's life after routing."""

    closed_at: datetime | None = None
    closed_reason: str | None = None
    return_round: int = 0
    reopen_round: int = 0

    @property
    def status(self) -> LifeCycleStatus:
        if self.closed_at is not None:
            return "closed"
        return "returned" if self.return_round > self.reopen_round else "open"

    def after(self, fact: Fact) -> LifeCycle:
        """This state with one more fact: max and min only, so facts commute and repeat harmlessly."""
        if isinstance(fact, Closed):
            if self.closed_at is None or (fact.at, fact.reason) < (self.closed_at, self.closed_reason or ""):
                return LifeCycle(fact.at, fact.reason, self.return_round, self.reopen_round)
            return self
        if isinstance(fact, Returned):
            return LifeCycle(self.closed_at, self.closed_reason, max(self.return_round, fact.round), self.reopen_round)
        return LifeCycle(self.closed_at, self.closed_reason, self.return_round, max(self.reopen_round, fact.round))


def life_cycle_fact(envelope: Envelope) -> tuple[str, Fact] | None:
    """The life-cycle fact an event states, with its lead id; None for another type."""
    if envelope.type == CLOSED:
        closed = LeadClosed.of(envelope)
        return closed.lead_id, Closed(at=closed.closed_at, reason=closed.reason)
    if envelope.type == RETURNED:
        returned = LeadReturned.of(envelope)
        return returned.lead_id, Returned(round=returned.return_round)
    if envelope.type == REOPENED:
        reopened = LeadReopened.of(envelope)
        return reopened.lead_id, Reopened(round=reopened.return_round)
    return None
