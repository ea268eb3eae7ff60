"""The re-check of a record HQ returned as invalid (domain.md §3 "invalid records returned by HQ are re-checked by
the dealer who entered them"; contract.md "Lead life cycle across the services").

`leadnet.lead.returned` (round n) gives the entering dealer a `recheck` task, due by policy (`policy/recheck.toml`,
default 3 days). The dealer completes it with `confirmed` (the lead is active again: `leadnet.lead.reopened`, and
its corrections, which may carry personal data, go to intake on the internal topic as `leadnet.lead.corrected`, a
new version of the record) or `invalid` (the lead is closed: `leadnet.lead.closed`, its open tasks cancelled).
The round travels in the task's reason (`hq_return #n: ...`), so a redelivered return never makes a second task.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from followup_scheduler.business_calendar import default_calendar
from followup_scheduler.models import FollowedLead, Task
from followup_scheduler.policy_values import policy_int, policy_section
from followup_scheduler.repository.leads import lead_of
from followup_scheduler.repository.tasks import cancel_open_tasks, has_recheck
from followup_scheduler.schemas import CompleteIn
from followup_scheduler.tasks import Actor, lead_facts, new_task, publish, record_action, require_open, task_event
from followup_scheduler.vocabulary import PACKAGE
from leadnet_shared.carry import carried
from leadnet_shared.events import (
    LeadClosed,
    LeadCorrected,
    LeadReopened,
    LeadReturned,
    RecordCorrections,
    TaskCompleted,
    TaskScheduled,
)
from leadnet_shared.outbox import Outbox
from leadnet_shared.policy import cached_policy
from leadnet_shared.problems import Conflict, FieldProblem, ValidationFailed

RECHECK = "recheck"
RECHECK_OUTCOMES = frozenset({"confirmed", "invalid"})
INVALID_INFORMATION = "invalid_information"
_ROUND = re.compile(r"^hq_return #(\d+):")


@dataclass(frozen=True, slots=True)
class RecheckPolicy:
    version: str
    due_in_days: int


def recheck_policy() -> RecheckPolicy:
    """The re-check deadline in force (HQ overrides the file with LEADNET_POLICY_DIR)."""
    data = cached_policy(PACKAGE, "recheck")
    section = policy_section(data, "recheck", policy="recheck")
    return RecheckPolicy(
        version=str(data["version"]), due_in_days=policy_int(section, "due_in_days", policy="recheck", minimum=1)
    )


def return_round_of(task: Task) -> int | None:
    found = _ROUND.match(task.reason or "")
    return int(found.group(1)) if found else None


async def plan_recheck(
    session: AsyncSession, outbox: Outbox, *, event: LeadReturned, lead: FollowedLead, now: datetime
) -> Task | None:
    """The entering dealer's re-check of round n (the assigned dealer's for a record HQ collected itself); none
    for a closed lead or a round that already has its task."""
    if lead.status == "closed":
        return None
    reason_prefix = f"hq_return #{event.return_round}:"
    if await has_recheck(session, lead_id=lead.lead_id, kind=RECHECK, reason_prefix=reason_prefix):
        return None
    rules = recheck_policy()
    due = default_calendar().due_in_days(start=event.returned_at, days=rules.due_in_days)
    task = new_task(
        lead=lead, planned=None, kind=RECHECK, due_at=due.at, reason=f"{reason_prefix} {event.reason}", now=now
    )
    task.dealer = lead.entered_by or lead.assigned_dealer
    task.policy_version = rules.version
    session.add(task)
    lead.status = "returned"
    await session.flush()
    await publish(
        session,
        outbox,
        task_event(task, lead=lead, event=TaskScheduled, occurred_at=now),
        key=task.customer_id,
        now=now,
    )
    return task


def check_completion(*, task: Task, outcome: str, corrections: RecordCorrections | None) -> None:
    """A re-check takes `confirmed` or `invalid` (corrections only with `confirmed`); other tasks take neither."""
    problems: list[FieldProblem] = []
    if task.kind == RECHECK:
        if outcome not in RECHECK_OUTCOMES:
            problems.append(FieldProblem("/outcome", "invalid_outcome", "a recheck is confirmed or invalid"))
        elif outcome == "invalid" and corrections is not None:
            problems.append(FieldProblem("/corrections", "not_allowed", "an invalid record is closed, not corrected"))
    else:
        if outcome in RECHECK_OUTCOMES:
            problems.append(FieldProblem("/outcome", "invalid_outcome", f"{outcome} completes a recheck task only"))
        if corrections is not None:
            problems.append(FieldProblem("/corrections", "not_allowed", "corrections complete a recheck task only"))
    if problems:
        raise ValidationFailed("The request has field problems; see errors.", errors=problems)


async def complete_recheck(
    session: AsyncSession,
    outbox: Outbox,
    *,
    task: Task,
    report: CompleteIn,
    by: str | None,
    now: datetime,
    actor: Actor | None = None,
) -> Task:
    """`confirmed` reopens the lead (its corrections become a new version of the record); `invalid` closes it."""
    outcome, corrections = report.outcome, report.corrections
    require_open(task, to="completed")
    lead = await lead_of(session, task.lead_id, lock=True, fresh=True)
    if lead is None:
        raise Conflict("The task's lead is unknown to the scheduler.", code="lead_unknown")
    task.status, task.outcome, task.completed_at, task.notes = "done", outcome, now, report.notes
    if actor is not None:
        await record_action(session, task=task, action="completed", actor=actor, now=now, detail={"outcome": outcome})
    completed = task_event(task, lead=lead, event=TaskCompleted, occurred_at=now)
    completed.completed_by_position = actor.position if actor else None
    await publish(session, outbox, completed, key=task.customer_id, now=now)
    round_ = return_round_of(task)
    if lead.status == "closed":
        return task  # closed meanwhile (by callbacks): closed is final
    if outcome == "invalid":
        lead.status, lead.closed_reason = "closed", INVALID_INFORMATION
        await cancel_open_tasks(session, lead_ids=[lead.lead_id], now=now, except_task=task.task_id)
        closed = LeadClosed(**lead_facts(lead), reason=INVALID_INFORMATION, closed_at=now, return_round=round_)
        await publish(session, outbox, closed, key=lead.customer_id, now=now)
        return task
    lead.status = "open"
    changed: dict[str, Any] = corrections.model_dump(exclude_none=True) if corrections is not None else {}
    reopened = LeadReopened(
        **lead_facts(lead), return_round=round_ or 0, reopened_at=now, task_id=task.task_id, corrected=sorted(changed)
    )
    await publish(session, outbox, reopened, key=lead.customer_id, now=now)
    if changed:
        corrected = carried(
            LeadCorrected,
            lead,
            return_round=round_,
            task_id=task.task_id,
            corrected_by=by,
            corrections=changed,
            corrected_at=now,
        )
        await publish(session, outbox, corrected, key=lead.customer_id, now=now)
    return task
