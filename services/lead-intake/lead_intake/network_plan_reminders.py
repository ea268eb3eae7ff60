"""Reminders before the deadlines of the network and collection procedures (issue 19 §6, domain.md "Deadlines in
one place"), as `leadnet.network.plan_reminder` for the notifier, and the hand-on flag after the 25th.

- the 5th: a development plan not filed (HQ and every active dealer without it);
- the 10th of a quarter's first month: the previous quarter's evaluation (HQ and every active dealer not yet
  evaluated for it);
- the 25th: the month's hand-on (every active dealer that has not handed on its target yet).

Each reminder is claimed by a row of `network_plan_reminders` (owner, deadline, period, days before) inserted in the
transaction that publishes it, so however many replicas run the timer, and however often, an owner gets it once.
After the 25th each active dealer's hand-on is judged once (`collection_hand_ons`); a short one is flagged with
`leadnet.collection.hand_on_flagged`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.collection_plans import hand_on_due_by, hand_on_reminder_due, month_of, parse_month
from lead_intake.collection_rollups import dealer_months
from lead_intake.information_networks import HQ_OWNER, quarter_of
from lead_intake.network_evaluation import evaluation_due_at, evaluation_rules, previous_quarter
from lead_intake.network_plans import due_reminders
from lead_intake.periods import closest_reminder, local_midnight
from lead_intake.repository import collection_plans, network_plans
from leadnet_shared.app import Runtime
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.events import CollectionHandOnFlagged, NetworkPlanReminder
from leadnet_shared.outbox import Outbox, Outgoing
from leadnet_shared.workers import Step

log = logging.getLogger(__name__)
POLL_SECONDS = 300.0
DEVELOPMENT, EVALUATION, HAND_ON = "network_development", "network_evaluation", "collection_hand_on"


@dataclass(frozen=True, slots=True)
class EvaluationReminder:
    quarter: str  # the quarter evaluated
    due_by: datetime  # the end of the 10th, Asia/Shanghai
    evaluated_at: datetime  # when the timer evaluates (policy: the 10th at 01:00)
    days_before: int
    remind_at: datetime


def evaluation_reminder_due(now: datetime) -> EvaluationReminder | None:
    """The evaluation reminder whose time has come, the closest to the 10th only; None once the timer evaluated."""
    rules = evaluation_rules()
    for quarter in (previous_quarter(quarter_of(now)), quarter_of(now)):
        evaluated_at = evaluation_due_at(quarter)
        if now >= evaluated_at:
            continue
        due_day = evaluated_at.astimezone(SHANGHAI).date()
        found = closest_reminder(due_day, rules.remind_days_before, rules.remind_at, now)
        return (
            None
            if found is None
            else EvaluationReminder(quarter, local_midnight(due_day + timedelta(1)), evaluated_at, *found)
        )
    return None


def _reminders(
    owners: list[str], plan: str, period: str, due_by: datetime, days: int, at: datetime, now: datetime
) -> list[Outgoing]:
    return [
        Outgoing(
            NetworkPlanReminder(
                owner=owner, plan=plan, period=period, due_by=due_by, days_before=days, remind_at=at, occurred_at=now
            ),
            key=owner,
            subject=owner,
        )
        for owner in owners
    ]


async def send_plan_reminders(session: AsyncSession, outbox: Outbox, *, now: datetime) -> int:
    """Every reminder due at `now` not sent before: development plans (5th), evaluation (10th), hand-on (25th)."""
    events: list[Outgoing] = []
    for due in due_reminders(now):
        when = due.period
        owners = await network_plans.claim_reminders_unless_filed(
            session,
            "development_plan",
            hq=HQ_OWNER,
            deadline=DEVELOPMENT,
            period=when.period,
            days=due.days_before,
            now=now,
        )
        plan = f"{when.kind}_network_development"
        events += _reminders(owners, plan, when.period, when.due_by, due.days_before, due.remind_at, now)
    evaluation = evaluation_reminder_due(now)
    if evaluation is not None:
        quarter, days = evaluation.quarter, evaluation.days_before
        owners = await network_plans.claim_reminders_unless_filed(
            session, "evaluation", hq=HQ_OWNER, deadline=EVALUATION, period=quarter, days=days, now=now
        )
        events += _reminders(owners, EVALUATION, quarter, evaluation.due_by, days, evaluation.remind_at, now)
    hand_on = hand_on_reminder_due(now)
    if hand_on is not None:
        month, days = hand_on.month, hand_on.days_before
        candidates = await network_plans.active_not_reminded(session, deadline=HAND_ON, period=month, days=days)
        if candidates:
            months = await dealer_months(session, month=month, now=now, codes=candidates)
            short = [d.dealer for d in months if d.handed_on < d.target]
            owners = await network_plans.claim_reminders(
                session, short, deadline=HAND_ON, period=month, days=days, now=now
            )
            events += _reminders(owners, HAND_ON, month, hand_on.due_by, days, hand_on.remind_at, now)
    await outbox.publish_many(session, events, time=now)
    return len(events)


def months_to_judge(now: datetime) -> list[str]:
    """The months whose hand-on deadline has passed and may still have dealers to judge: this month once past the
    25th, and the month before (a service that was down over the turn of the month catches up)."""
    this = month_of(now)
    year, m = parse_month(this)
    before = f"{year - (m == 1)}-{(m - 2) % 12 + 1:02d}"
    return [month for month in (before, this) if now >= hand_on_due_by(month)]


async def judge_hand_ons(session: AsyncSession, outbox: Outbox, *, now: datetime) -> int:
    """Judge each active dealer's hand-on once per month after the deadline; flag the short ones. Returns flags."""
    events: list[Outgoing] = []
    for month in months_to_judge(now):
        due = hand_on_due_by(month)
        codes = await collection_plans.dealers_to_judge(session, month=month, due=due)
        if not codes:
            continue
        judged = await dealer_months(session, month=month, now=now, codes=codes)
        rows = [
            {
                "dealer": d.dealer,
                "month": month,
                "target": d.target,
                "handed_on": d.handed_on,
                "met": d.handed_on >= d.target,
                "judged_at": now,
            }
            for d in judged
        ]
        for dealer, target, handed_on, met in await collection_plans.judge_hand_ons(session, rows):
            if met:
                continue
            flag = CollectionHandOnFlagged(
                dealer=dealer, month=month, due_by=due, target=target, handed_on=handed_on, flagged_at=now
            )
            events.append(Outgoing(flag, key=dealer, subject=dealer))
    await outbox.publish_many(session, events, time=now)
    return len(events)


def plan_reminder_timer(runtime: Runtime) -> Step:
    async def step() -> float:
        now = runtime.clock.now()
        async with runtime.db.transaction() as session:
            sent = await send_plan_reminders(session, runtime.outbox, now=now)
            flagged = await judge_hand_ons(session, runtime.outbox, now=now)
        if sent or flagged:
            log.info("sent %d deadline reminders, flagged %d hand-ons", sent, flagged)
        return POLL_SECONDS

    return step
