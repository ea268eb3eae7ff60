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
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.collection_plans import hand_on_due_by, hand_on_reminder_due, month_of, parse_month
from lead_intake.collection_rollups import dealer_months
from lead_intake.information_networks import HQ_OWNER, quarter_of
from lead_intake.network_evaluation import evaluation_due_at, evaluation_rules, previous_quarter
from lead_intake.network_models import CollectionHandOn
from lead_intake.network_plans import due_reminders
from leadnet_shared.app import Runtime
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.events import CollectionHandOnFlagged, NetworkPlanReminder
from leadnet_shared.outbox import Outbox, Outgoing
from leadnet_shared.workers import Step

log = logging.getLogger(__name__)
POLL_SECONDS = 300.0
DEVELOPMENT, EVALUATION, HAND_ON = "network_development", "network_evaluation", "collection_hand_on"

# Claim the development-plan reminder for every owner without the plan; the rows returned are the owners to remind.
_CLAIM_DEVELOPMENT = text(
    """
    INSERT INTO network_plan_reminders (owner, deadline, period, days_before, sent_at)
    SELECT o.owner, CAST(:deadline AS varchar), CAST(:period AS varchar), :days, :now FROM (
        SELECT CAST(:hq AS varchar) AS owner UNION SELECT code FROM dealers WHERE status = 'active'
    ) o
    WHERE NOT EXISTS (
        SELECT 1 FROM network_development_plans p WHERE p.owner = o.owner AND p.period = CAST(:period AS varchar)
    )
    ON CONFLICT DO NOTHING
    RETURNING owner
    """
)
# The evaluation reminder for HQ and every active dealer not yet evaluated for the quarter.
_CLAIM_EVALUATION = text(
    """
    INSERT INTO network_plan_reminders (owner, deadline, period, days_before, sent_at)
    SELECT o.owner, CAST(:deadline AS varchar), CAST(:period AS varchar), :days, :now FROM (
        SELECT CAST(:hq AS varchar) AS owner UNION SELECT code FROM dealers WHERE status = 'active'
    ) o
    WHERE NOT EXISTS (
        SELECT 1 FROM network_evaluations e WHERE e.owner = o.owner AND e.quarter = CAST(:period AS varchar)
    )
    ON CONFLICT DO NOTHING
    RETURNING owner
    """
)
# A reminder for the owners named (the hand-on: the dealers still short of their target).
_CLAIM_NAMED = text(
    """
    INSERT INTO network_plan_reminders (owner, deadline, period, days_before, sent_at)
    SELECT o, CAST(:deadline AS varchar), CAST(:period AS varchar), :days, :now
    FROM unnest(CAST(:owners AS varchar[])) o
    ON CONFLICT DO NOTHING
    RETURNING owner
    """
)
_ACTIVE_SHORT_CANDIDATES = text(
    """
    SELECT code FROM dealers d WHERE status = 'active'
      AND NOT EXISTS (
          SELECT 1 FROM network_plan_reminders r
          WHERE r.owner = d.code AND r.deadline = :deadline AND r.period = :period AND r.days_before = :days)
    ORDER BY code
    """
)
_NOT_JUDGED = text(
    """
    SELECT code FROM dealers d WHERE status = 'active' AND first_seen_at < :due
      AND NOT EXISTS (SELECT 1 FROM collection_hand_ons h WHERE h.dealer = d.code AND h.month = :month)
    ORDER BY code
    """
)


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
        due_by = datetime.combine(due_day + timedelta(days=1), datetime.min.time(), tzinfo=SHANGHAI).astimezone(UTC)
        for days in rules.remind_days_before:  # ascending: the closest first
            at = datetime.combine(due_day - timedelta(days=days), rules.remind_at, tzinfo=SHANGHAI).astimezone(UTC)
            if at <= now:
                return EvaluationReminder(quarter, due_by, evaluated_at, days, at)
        return None
    return None


def _reminder(owner: str, plan: str, period: str, due_by: datetime, days: int, at: datetime, now: datetime) -> Outgoing:
    data = NetworkPlanReminder(
        owner=owner, plan=plan, period=period, due_by=due_by, days_before=days, remind_at=at, occurred_at=now
    )
    return Outgoing(data, key=owner, subject=owner)


async def send_plan_reminders(session: AsyncSession, outbox: Outbox, *, now: datetime) -> int:
    """Every reminder due at `now` not sent before: development plans (5th), evaluation (10th), hand-on (25th)."""
    events: list[Outgoing] = []
    for due in due_reminders(now):
        params = {
            "deadline": DEVELOPMENT,
            "period": due.period.period,
            "days": due.days_before,
            "now": now,
            "hq": HQ_OWNER,
        }
        for (owner,) in (await session.execute(_CLAIM_DEVELOPMENT, params)).all():
            plan = f"{due.period.kind}_network_development"
            events.append(
                _reminder(owner, plan, due.period.period, due.period.due_by, due.days_before, due.remind_at, now)
            )
    evaluation = evaluation_reminder_due(now)
    if evaluation is not None:
        params = {
            "deadline": EVALUATION,
            "period": evaluation.quarter,
            "days": evaluation.days_before,
            "now": now,
            "hq": HQ_OWNER,
        }
        for (owner,) in (await session.execute(_CLAIM_EVALUATION, params)).all():
            events.append(
                _reminder(
                    owner,
                    EVALUATION,
                    evaluation.quarter,
                    evaluation.due_by,
                    evaluation.days_before,
                    evaluation.remind_at,
                    now,
                )
            )
    hand_on = hand_on_reminder_due(now)
    if hand_on is not None:
        params = {"deadline": HAND_ON, "period": hand_on.month, "days": hand_on.days_before}
        candidates = [code for (code,) in (await session.execute(_ACTIVE_SHORT_CANDIDATES, params)).all()]
        if candidates:
            months = await dealer_months(session, month=hand_on.month, now=now, codes=candidates)
            short = [d.dealer for d in months if d.handed_on < d.target]
            claimed = await session.execute(_CLAIM_NAMED, {**params, "owners": short, "now": now})
            for (owner,) in claimed.all():
                events.append(
                    _reminder(
                        owner, HAND_ON, hand_on.month, hand_on.due_by, hand_on.days_before, hand_on.remind_at, now
                    )
                )
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
        codes = [c for (c,) in (await session.execute(_NOT_JUDGED, {"month": month, "due": due})).all()]
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
        inserted = await session.execute(
            pg_insert(CollectionHandOn)
            .values(rows)
            .on_conflict_do_nothing()
            .returning(
                CollectionHandOn.dealer, CollectionHandOn.target, CollectionHandOn.handed_on, CollectionHandOn.met
            )
        )
        for dealer, target, handed_on, met in inserted.all():
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
