"""Tasks and their actions (see the package docstring for the style): planned, moved, restaffed, cancelled,
completed, listed, and their notes cleared after the retention. The timers' set-based claims are in `timers`."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from followup_scheduler.models import FollowedLead, Task, TaskAction
from leadnet_shared.pagination import PageOf, PageParams, fetch_page

OPEN_STATES = ("open", "overdue")

# A task changes when it is planned, fires overdue, escalates, completes or is cancelled: the latest of these.
TASK_CHANGED_AT = func.greatest(
    Task.created_at, Task.overdue_fired_at, Task.escalated_at, Task.completed_at, Task.cancelled_at
)


async def task_of(session: AsyncSession, task_id: str, *, lock: bool = False) -> Task | None:
    return await session.get(Task, task_id, with_for_update=lock)


async def task_actions(session: AsyncSession, *, task_id: str) -> list[TaskAction]:
    """A task's actions, oldest first."""
    query = select(TaskAction).where(TaskAction.task_id == task_id).order_by(TaskAction.action_id)
    return list((await session.execute(query)).scalars())


async def page_of_tasks(
    session: AsyncSession,
    page: PageParams,
    *,
    visible: ColumnElement[bool] | None,
    dealer: str | None,
    status: str | None,
    due_before: datetime | None,
    kind: str | None,
    works: str | None,
    accompanies: str | None,
) -> PageOf[Task]:
    """One page of tasks, earliest due first, then by tie-break and id (`visible`: the caller's visibility; `dealer`
    only applies without one; `works`: the position that works the task; `accompanies`: an HQ position along)."""
    query = select(Task)
    if kind:
        query = query.where(Task.kind == kind)
    if works is not None:
        query = query.where(Task.position == works)
    elif accompanies is not None:
        query = query.where(Task.accompany.contains([accompanies]))
    if visible is not None:
        query = query.where(visible)
    elif dealer:
        query = query.where(Task.dealer == dealer)
    if status:
        query = query.where(Task.status == status)
    if due_before:
        query = query.where(Task.due_at < due_before)
    order = [Task.due_at, Task.tie_break, Task.task_id]
    return await fetch_page(session, query, order=order, params=page, changed_at=TASK_CHANGED_AT)


async def open_task_of_customer(
    session: AsyncSession, *, customer_id: str, kind: str, other_than: str | None = None
) -> Task | None:
    """The customer's earliest open (or overdue) task of `kind`, locked (`other_than`: a task to leave out)."""
    query = select(Task).where(Task.customer_id == customer_id, Task.kind == kind, Task.status.in_(OPEN_STATES))
    if other_than is not None:
        query = query.where(Task.task_id != other_than)
    found: Task | None = (
        await session.execute(query.order_by(Task.due_at, Task.task_id).limit(1).with_for_update())
    ).scalar_one_or_none()
    return found


async def open_tasks_of_customer(session: AsyncSession, *, customer_id: str, kind: str) -> list[Task]:
    query = select(Task).where(Task.customer_id == customer_id, Task.kind == kind, Task.status.in_(OPEN_STATES))
    return list((await session.execute(query)).scalars())


async def lock_open_tasks_of_customer(session: AsyncSession, customer_id: str) -> None:
    """Lock the customer's open tasks in task id order (the lock order: its open tasks, then its leads)."""
    await session.execute(
        select(Task.task_id)
        .where(Task.customer_id == customer_id, Task.status.in_(OPEN_STATES))
        .order_by(Task.task_id)
        .with_for_update()
    )


async def lock_dealers_open_tasks(
    session: AsyncSession, *, dealer: str, kind: str, customers: Sequence[str]
) -> list[Task]:
    """The dealer's open tasks of `kind` for `customers`, locked, each customer's earliest due first."""
    query = (
        select(Task)
        .where(
            Task.dealer == dealer,
            Task.kind == kind,
            Task.status.in_(OPEN_STATES),
            Task.customer_id.in_(customers),
        )
        .order_by(Task.customer_id, Task.due_at)
        .with_for_update()
    )
    return list((await session.execute(query)).scalars().all())


async def has_recheck(session: AsyncSession, *, lead_id: str, kind: str, reason_prefix: str) -> bool:
    """Whether the lead has a task of `kind` whose reason starts with `reason_prefix` (a re-check's round)."""
    query = select(Task.task_id).where(
        Task.lead_id == lead_id, Task.kind == kind, Task.reason.startswith(reason_prefix)
    )
    return (await session.execute(query)).first() is not None


async def unstaffed_open_tasks(
    session: AsyncSession, *, after: str, kinds: Collection[str], limit: int
) -> Sequence[Any]:
    """Up to `limit` open tasks of `kinds` without a position, after task id `after`, with their leads (rows of
    task and lead), locked in task id order, skipping rows another transaction holds."""
    query = (
        select(Task, FollowedLead)
        .join(FollowedLead, FollowedLead.lead_id == Task.lead_id)
        .where(
            Task.task_id > after,
            Task.position.is_(None),
            Task.kind.in_(sorted(kinds)),
            Task.status.in_(OPEN_STATES),
        )
        .order_by(Task.task_id)
        .limit(limit)
        .with_for_update(of=Task, skip_locked=True)
    )
    return (await session.execute(query)).all()


async def update_open_tasks(
    session: AsyncSession,
    *,
    lead_ids: Sequence[str],
    values: dict[str, Any],
    kinds: Collection[str] | None = None,
    except_kind: str | None = None,
    except_task: str | None = None,
    unplanned_only: bool = False,
    synchronize: bool = True,
) -> None:
    """Set `values` on the leads' open and overdue tasks (of `kinds`, if given; not of `except_kind`, not
    `except_task`, and with `unplanned_only` only those no approved plan line placed). `synchronize=False` leaves
    the session's loaded tasks as they were (none of them is read again in that transaction)."""
    query = update(Task).where(Task.lead_id.in_(lead_ids), Task.status.in_(OPEN_STATES))
    if kinds is not None:
        query = query.where(Task.kind.in_(sorted(kinds)))
    if except_kind is not None:
        query = query.where(Task.kind != except_kind)
    if except_task is not None:
        query = query.where(Task.task_id != except_task)
    if unplanned_only:
        query = query.where(Task.plan_id.is_(None))
    if not synchronize:
        query = query.execution_options(synchronize_session=False)
    await session.execute(query.values(**values))


async def cancel_open_tasks(
    session: AsyncSession,
    *,
    lead_ids: Sequence[str],
    now: datetime,
    kinds: Collection[str] | None = None,
    except_task: str | None = None,
    synchronize: bool = True,
) -> None:
    """The leads' open and overdue tasks (of `kinds`, if given) are cancelled: they never fire."""
    values = {"status": "cancelled", "cancelled_at": now}
    await update_open_tasks(
        session, lead_ids=lead_ids, values=values, kinds=kinds, except_task=except_task, synchronize=synchronize
    )


async def erase_customer_tasks(
    session: AsyncSession, *, customer_id: str, lead_ids: Sequence[str], now: datetime
) -> None:
    """An erased customer's open work is cancelled and every note typed about it cleared."""
    mine = or_(Task.customer_id == customer_id, Task.lead_id.in_(lead_ids))
    await session.execute(
        update(Task).where(mine, Task.status.in_(OPEN_STATES)).values(status="cancelled", cancelled_at=now)
    )
    await session.execute(update(Task).where(mine, Task.notes.is_not(None)).values(notes=None))


_CLEAR_OLD_NOTES = text(
    "UPDATE tasks SET notes = NULL WHERE task_id IN (SELECT task_id FROM tasks WHERE notes IS NOT NULL "
    "AND coalesce(completed_at, created_at) < :before LIMIT :batch FOR UPDATE SKIP LOCKED)"
)


async def clear_old_notes(session: AsyncSession, *, before: datetime, batch: int) -> int:
    """Clear up to `batch` notes of tasks done (or created) before `before`; how many."""
    result = await session.execute(_CLEAR_OLD_NOTES, {"before": before, "batch": batch})
    return int(getattr(result, "rowcount", 0) or 0)
