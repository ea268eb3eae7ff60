"""The timers' statements (see the package docstring for the style): one statement per batch claims the tasks that
fall due or overdue and writes their events to the outbox, the daily overdue digest, the plan reminders.

Firing is claimed in the database (`FOR UPDATE SKIP LOCKED`, one set-based UPDATE ... RETURNING per batch) and the
`task.due` events are written to the outbox in the same transaction, so with any number of replicas and any crash
each task fires exactly once. The due event's id is derived from the task id, so even a second claim could not put
a second `task.due` of one task in the outbox (the outbox's unique event id refuses it). The claim and the outbox
insert are one SQL statement per batch (UPDATE ... RETURNING feeding INSERT ... SELECT): no ORM objects, no Python
per task, which is what lets one replica drain tens of thousands of due tasks a second.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.events import TaskDue, TaskEvent, TaskOverdue
from leadnet_shared.outbox import Outbox, insert_select_sql


def _md5_uuid(name: str) -> str:
    return str(uuid.UUID(hashlib.md5(name.encode()).hexdigest()))


def timer_event_id(task_id: str, event_type: str, reschedules: int = 0) -> str:
    """The one id a timer event of a task can have: a repeat is refused by the outbox, deduped by consumers.

    md5 of "task id/event type" as a UUID (with "/n" after the n-th reschedule, which re-arms the timers); the SQL
    below computes the same (`md5(...)::uuid`).
    """
    return _md5_uuid(f"{task_id}/{event_type}" + (f"/{reschedules}" if reschedules else ""))


def digest_event_id(dealer: str | None, day: date) -> str:
    """The one id a dealer's digest of a day can have: a repeat is refused by the outbox."""
    return _md5_uuid(f"overdue_digest/{dealer or ''}/{day.isoformat()}")


# The events are written by the claim itself (the kit's `insert_select_sql`: envelope and `TaskEvent` payload
# built in SQL from the catalogue's model), so a batch costs one round trip and no Python per task.
_WRITE_TASK_EVENTS = insert_select_sql(
    TaskEvent,
    rows="events",
    event_id="event_id",
    key="customer_id",
    subject="customer_id",
    time="CAST(:now AS timestamptz)",
    data={"occurred_at": "CAST(:now AS timestamptz)"},
)


def _claim_sql(*, condition: str, order: str, assignments: str) -> Any:
    # The record's facts come from the lead row (LEFT JOIN: a task whose lead the scheduler lost still fires), as
    # `tasks.task_event` reads them in Python.
    return text(f"""
    WITH claimed AS (
        UPDATE tasks t SET {assignments}
        FROM (SELECT task_id FROM tasks WHERE {condition}
              ORDER BY {order} LIMIT :n FOR UPDATE SKIP LOCKED) c
        WHERE t.task_id = c.task_id
        RETURNING t.task_id, t.lead_id, t.customer_id, t.dealer, t.kind, t.due_at, t.status, t.reason, t.outcome,
                  t.position, t.method, t.accompany, t.tier AS task_tier, t.reschedules, t.escalate_at
    ), events AS (
        SELECT claimed.task_id, claimed.lead_id, claimed.customer_id, claimed.dealer, claimed.kind, claimed.due_at,
               claimed.status, claimed.reason, claimed.outcome, claimed.position, claimed.method,
               COALESCE(claimed.accompany, '[]'::jsonb) AS accompany,
               l.region_code, l.product_line, COALESCE(l.tier, claimed.task_tier) AS tier, l.horizon, l.entered_by,
               claimed.escalate_at,
               md5(claimed.task_id || '/' || CAST(:outbox_type AS text)
                   || CASE WHEN claimed.reschedules > 0 THEN '/' || claimed.reschedules ELSE '' END
               )::uuid::text AS event_id
        FROM claimed LEFT JOIN leads l ON l.lead_id = claimed.lead_id
    ), written AS (
        {_WRITE_TASK_EVENTS}
        RETURNING 1
    )
    SELECT count(*) FROM written""")


_CLAIMS: dict[type[TaskEvent], Any] = {
    TaskDue: _claim_sql(
        condition="fired_at IS NULL AND status = 'open' AND due_at <= :now",
        order="due_at",
        assignments="fired_at = :now",
    ),
    # Only a task that has announced itself as due can become overdue (a backlog never skips `task.due`).
    TaskOverdue: _claim_sql(
        condition="overdue_fired_at IS NULL AND status = 'open' AND overdue_at <= :now AND fired_at IS NOT NULL",
        order="overdue_at",
        assignments="status = 'overdue', overdue_fired_at = :now",
    ),
}


async def claim_and_publish(
    session: AsyncSession, outbox: Outbox, *, event: type[TaskEvent], now: datetime, limit: int
) -> int:
    """Claim up to `limit` tasks whose `event` has come (due, or overdue), mark them and write the events through
    the kit's outbox helper; how many."""
    return await outbox.publish_selected(session, _CLAIMS[event], event=event, params={"now": now, "n": limit})


_NEXT_DUE = text("SELECT min(due_at) FROM tasks WHERE fired_at IS NULL AND status = 'open'")
_COUNT_OVERDUE = text("SELECT count(*) FROM tasks WHERE status = 'overdue'")


async def next_due_at(session: AsyncSession) -> datetime | None:
    """The earliest due time still to fire (the partial index makes this one index probe)."""
    value: datetime | None = (await session.execute(_NEXT_DUE)).scalar_one_or_none()
    return value


async def count_overdue(session: AsyncSession) -> int:
    return int((await session.execute(_COUNT_OVERDUE)).scalar_one())


# ---- the daily overdue digest (issue 18 item 6) ----------------------------------------------------------------
# Once per Shanghai day (the `overdue_digest_days` row is the proof across replicas), from the policy's local time
# on: one `task.overdue_digest` per dealer with tasks overdue past their escalation moment, counts by kind and the
# oldest. A read only: "new" is an escalation moment since the previous digest ran, so the tasks are not written
# (writing 100,000 imported tasks' rows took seconds under their locks, and every one of them would have shown as
# changed to a dealer syncing with `?updated_since=`). `ix_tasks_overdue_by_dealer` holds the overdue set.
_DIGEST_DONE = text("SELECT 1 FROM overdue_digest_days WHERE day = :day")
_DIGEST_DAY = text("""
    INSERT INTO overdue_digest_days (day, ran_at, dealers)
    VALUES (:day, :now, 0)
    ON CONFLICT DO NOTHING
    RETURNING (SELECT max(ran_at) FROM overdue_digest_days WHERE day < :day)""")
_DIGEST = text("""
    WITH due AS (
        SELECT task_id, COALESCE(dealer, '') AS dealer, kind, due_at,
               (CAST(:since AS timestamptz) IS NULL OR escalate_at > :since) AS new
        FROM tasks WHERE status = 'overdue' AND escalate_at <= :now
    ), by_kind AS (
        SELECT dealer, kind, count(*) AS n, count(*) FILTER (WHERE new) AS new_n FROM due GROUP BY dealer, kind
    ), per_dealer AS (
        SELECT dealer, jsonb_object_agg(kind, n) AS by_kind, sum(new_n)::int AS new FROM by_kind GROUP BY dealer
    ), oldest AS (
        SELECT DISTINCT ON (dealer) dealer, task_id, due_at FROM due ORDER BY dealer, due_at, task_id
    )
    SELECT o.dealer, o.task_id, o.due_at, p.by_kind, p.new
    FROM oldest o JOIN per_dealer p ON p.dealer = o.dealer ORDER BY o.dealer""")
_DIGEST_DEALERS = text("UPDATE overdue_digest_days SET dealers = :n WHERE day = :day")


async def claim_digest_day(session: AsyncSession, *, day: date, now: datetime) -> tuple[bool, datetime | None]:
    """Claim the day's digest: (claimed, when the previous digest ran); not claimed when it ran already (a read
    answers that on all but the first tick of the day: no write per tick) or another replica has just claimed it."""
    if (await session.execute(_DIGEST_DONE, {"day": day})).first() is not None:
        return False, None
    claimed = (await session.execute(_DIGEST_DAY, {"day": day, "now": now})).first()
    return (False, None) if claimed is None else (True, claimed[0])


async def overdue_by_dealer(session: AsyncSession, *, now: datetime, since: datetime | None) -> Sequence[Any]:
    """Per dealer ('' for the HQ queue) with tasks escalated by `now`: its oldest task and due time, the counts by
    kind and how many escalated after `since`."""
    return (await session.execute(_DIGEST, {"now": now, "since": since})).all()


async def record_digest_dealers(session: AsyncSession, *, day: date, dealers: int) -> None:
    await session.execute(_DIGEST_DEALERS, {"n": dealers, "day": day})


# ---- plan reminders: once per (dealer, plan, period, days before), the `plan_reminders` row is the proof -------
_REMIND = text("""
    INSERT INTO plan_reminders (dealer, plan, period, days_before, event_id, sent_at)
    SELECT d.code, CAST(:plan AS varchar), CAST(:period AS varchar), :days_before, gen_random_uuid()::text, :now
    FROM dealers d
    WHERE d.status = 'active'
      AND NOT (CAST(:plan AS varchar) = 'callback' AND EXISTS (
          SELECT 1 FROM plans p WHERE p.dealer = d.code AND p.month = :period AND p.callbacks_planned IS NOT NULL))
      AND NOT EXISTS (SELECT 1 FROM work_plans w WHERE w.dealer = d.code AND w.kind = CAST(:plan AS varchar)
                      AND w.period = CAST(:period AS varchar) AND w.submitted_at IS NOT NULL)
    ON CONFLICT DO NOTHING
    RETURNING dealer, event_id""")
_REMIND_ONE = text("""
    INSERT INTO plan_reminders (dealer, plan, period, days_before, event_id, sent_at)
    VALUES (:dealer, :plan, :period, :days_before, gen_random_uuid()::text, :now)
    ON CONFLICT DO NOTHING RETURNING event_id""")


async def claim_plan_reminders(
    session: AsyncSession, *, plan: str, period: str, days_before: int, now: datetime
) -> list[tuple[str, str]]:
    """Claim the reminder for every active dealer that has not filed the plan (a filed callback count counts):
    (dealer, event id) of those claimed now, none already reminded."""
    params = {"plan": plan, "period": period, "days_before": days_before, "now": now}
    return [(row[0], row[1]) for row in (await session.execute(_REMIND, params)).all()]


async def claim_reminder(
    session: AsyncSession, *, dealer: str, plan: str, period: str, days_before: int, now: datetime
) -> str | None:
    """Claim one dealer's reminder: its event id, or None when it was sent already."""
    params = {"dealer": dealer, "plan": plan, "period": period, "days_before": days_before, "now": now}
    row = (await session.execute(_REMIND_ONE, params)).first()
    return None if row is None else str(row[0])
