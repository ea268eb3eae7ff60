"""The dealers page: per dealer, what it collected, how timely its callbacks and promotions were, what is overdue
and escalated, its plan completion against quota, its cross-region sales and its rewards (docs/console-kpis.md).

Timeliness counts the tasks due in the period (callback kinds and promotion kinds from `policy/measures.toml`),
except those cancelled by the life cycle (a closed lead, a sale, an erasure): on time = completed at or before
its due instant."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from hq_console.filters import Filters, Scope
from hq_console.periods import Period
from hq_console.repository import directory
from hq_console.repository.figures import Counted, counted_by, grouped
from hq_console.repository.measures import MEASURES, Where, dims, measure_where, period_params


class Timeliness(BaseModel):
    due: int  # tasks due in the period (not cancelled by the life cycle)
    on_time: int  # completed at or before the due instant
    late: int  # completed after it
    open: int  # not completed yet
    share_on_time: float | None


class DealerRow(BaseModel):
    dealer: str
    name: str | None
    status: str | None  # active | withdrawn | None (not registered on the dealers topic)
    records_received: int
    records_accepted: int
    duplicates_refused: int
    cross_region_entered: int
    verified: int
    callbacks: Timeliness
    promotions: Timeliness
    overdue: int  # tasks that became overdue in the period
    escalated: int  # tasks escalated in the period
    tasks_open: int
    plan_quota: int | None  # callback plans' quotas of the months the period covers (when plans publish them)
    plan_done: int  # callbacks completed in the period
    plan_completion: float | None
    sold: int
    cross_region_sales: int  # sales of records entered across regions (跨區域), by the dealer credited
    violations: int  # sales the attribution flagged (e.g. outside protection)
    sales_pending: int  # sales it reported that wait for their confirmation at the period's end (or now)
    sales_rejected: int  # sales it reported that their confirmer rejected in the period
    rewards_fen: int


_LEAD_FIGURES = ("records_received", "records_accepted", "duplicates_refused", "cross_region", "verified")
_SUMMED = {"rewards": "sum(e.amount_fen)"}
# The sales credited to a dealer that were entered across regions (跨區域), and those the attribution flagged.
_SALE_FLAGS = (("cross_region_sales", "s.cross_region"), ("violations", "s.violation IS NOT NULL"))
# The tasks a task figure of the period can count: due, overdue, escalating or completed in it.
_TASKS_IN_PERIOD = (
    "t.due_at >= :start AND t.due_at < :end OR t.overdue_at >= :start AND t.overdue_at < :end "
    "OR t.escalate_at >= :start AND t.escalate_at < :end OR t.completed_at >= :start AND t.completed_at < :end"
)
# The row's counts: (field, the cell it shows).
_SAME = (
    *("records_received", "records_accepted", "duplicates_refused", "verified", "overdue", "escalated", "tasks_open"),
    *("plan_done", "sold", "cross_region_sales", "violations", "sales_pending", "sales_rejected"),
)
_CELLS = {**{f: f for f in _SAME}, "cross_region_entered": "cross_region", "rewards_fen": "rewards"}
# (cell, the figure of MEASURES it counts)
_TASK_FIGURES = (
    ("cb_due", "callbacks_due"),
    ("cb_on_time", "callbacks_on_time"),
    ("cb_late", "callbacks_late"),
    ("pr_due", "promotions_due"),
    ("pr_on_time", "promotions_on_time"),
    ("pr_late", "promotions_late"),
    ("overdue", "tasks_became_overdue"),
    ("escalated", "tasks_escalated"),
    ("plan_done", "callbacks_completed"),
)


async def dealer_rows(
    session: AsyncSession, period: Period, filters: Filters, scope: Scope, *, now: datetime
) -> list[DealerRow]:
    cells: dict[str, dict[str, int]] = {}

    def put(dealer: str | None, figure: str, n: int) -> None:
        if dealer:
            cell = cells.setdefault(dealer, {})
            cell[figure] = cell.get(figure, 0) + n

    # lead figures by entering dealer, sales by the dealer credited, rewards by the dealer paid
    counted = [
        Counted.of(name, measure_where(name, period, filters, scope, now=now), _SUMMED.get(name, "count(*)"))
        for name in (*_LEAD_FIGURES, "sold", "rewards", "tasks_open", "sales_pending", "sales_rejected")
    ]
    sold = measure_where("sold", period, filters, scope, now=now)
    counted += [Counted.of(name, sold, f"count(*) FILTER (WHERE {flag})", measure="sold") for name, flag in _SALE_FLAGS]
    for figure, dealer, n in await grouped(
        session, counted, {one.name: one.measure.dealer or "NULL" for one in counted}
    ):
        put(dealer, figure, n)

    # tasks: timeliness of what fell due in the period, overdue and escalated in it. Each count is the condition of
    # its figure in MEASURES (the list a cell links to), so a cell and its list's total agree.
    tasks = dims(Where(params=period_params(period, now=now)), "t", filters, scope, dealer="t.dealer")
    figures = {figure: MEASURES[measure].condition for figure, measure in _TASK_FIGURES}
    for row in await counted_by(session, "t.dealer", tasks, figures, within=_TASKS_IN_PERIOD):
        for figure, n in row.items():
            if figure != "key":
                put(row["key"], figure, int(n or 0))

    # Escalated is counted per task from the tasks' escalation moment (measures.TASK_ESCALATED), never from the
    # scheduler's daily `task.overdue_digest`: its counts carry no task ids, so adding them made a figure its list
    # could not show (the digest stays in other_events).

    # plans (when the plan events carry a quota): the months the period covers
    months = sorted({f"{d.year}-{d.month:02d}" for d in (period.first, period.last)})
    quotas = {
        dealer: quota
        for dealer, quota in (await directory.callback_quotas(session, months[0], months[-1])).items()
        if filters.dealer is None or dealer == filters.dealer
    }
    registered = await directory.dealers(session)
    everyone = set(cells)
    if filters == Filters() and not scope.regions:
        everyone |= set(registered)  # without a filter every registered dealer has a row, zeros included
    elif filters.dealer:
        everyone = {filters.dealer} & (everyone | set(registered))
    rows = []
    for dealer in sorted(everyone):
        got = cells.get(dealer, {})
        name, status = registered.get(dealer, (None, None))
        quota = quotas.get(dealer)
        rows.append(
            DealerRow(
                **{field: got.get(cell, 0) for field, cell in _CELLS.items()},
                dealer=dealer,
                name=name,
                status=status,
                callbacks=_timeliness(got, "cb"),
                promotions=_timeliness(got, "pr"),
                plan_quota=quota,
                plan_completion=round(got.get("plan_done", 0) / quota, 4) if quota else None,
            )
        )
    return rows


def _timeliness(got: dict[str, int], prefix: str) -> Timeliness:
    due, on_time, late = got.get(f"{prefix}_due", 0), got.get(f"{prefix}_on_time", 0), got.get(f"{prefix}_late", 0)
    return Timeliness(
        due=due,
        on_time=on_time,
        late=late,
        open=due - on_time - late,
        share_on_time=round(on_time / due, 4) if due else None,
    )
