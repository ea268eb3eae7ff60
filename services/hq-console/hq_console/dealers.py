"""The dealers page: per dealer, what it collected, how timely its callbacks and promotions were, what is overdue
and escalated, its plan completion against quota, its cross-region sales and its rewards (docs/console-kpis.md).

Timeliness counts the tasks due in the period (callback kinds and promotion kinds from `policy/measures.toml`),
except those cancelled by the life cycle (a closed lead, a sale, an erasure): on time = completed at or before
its due instant."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from hq_console.filters import Filters, Scope, Where, dims
from hq_console.insights import MEASURES, measure_where, period_params
from hq_console.periods import Period


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
# (cell, the figure of insights.MEASURES it counts)
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
    for name in (*_LEAD_FIGURES, "sold", "rewards", "tasks_open", "sales_pending", "sales_rejected"):
        measure = MEASURES[name]
        where = measure_where(name, period, filters, scope, now=now)
        value = "sum(e.amount_fen)" if name == "rewards" else "count(*)"
        sql = f"SELECT {measure.dealer}, {value} FROM {measure.table} {measure.alias} WHERE {where.sql()} GROUP BY 1"
        for dealer, n in (await session.execute(text(sql), where.params)).all():
            put(dealer, name, int(n or 0))
    sold = measure_where("sold", period, filters, scope, now=now)
    sql = (
        "SELECT s.credited_dealer, count(*) FILTER (WHERE s.cross_region), count(*) FILTER (WHERE s.violation IS "
        f"NOT NULL) FROM sales s WHERE {sold.sql()} GROUP BY 1"
    )
    for dealer, cross, violations in (await session.execute(text(sql), sold.params)).all():
        put(dealer, "cross_region_sales", int(cross))
        put(dealer, "violations", int(violations))

    # tasks: timeliness of what fell due in the period, overdue and escalated in it. Each count is the condition of
    # its figure in insights.MEASURES (the list a cell links to), so a cell and its list's total agree.
    tasks = dims(Where(params=period_params(period, now=now)), "t", filters, scope, dealer="t.dealer")
    counted = ", ".join(
        f"count(*) FILTER (WHERE {MEASURES[measure].condition}) AS {figure}" for figure, measure in _TASK_FIGURES
    )
    sql = f"""
        SELECT t.dealer, {counted}
        FROM tasks t
        WHERE {tasks.sql()} AND (t.due_at >= :start AND t.due_at < :end
               OR t.overdue_at >= :start AND t.overdue_at < :end OR t.escalate_at >= :start AND t.escalate_at < :end
               OR t.completed_at >= :start AND t.completed_at < :end)
        GROUP BY 1
    """
    for row in (await session.execute(text(sql), tasks.params)).mappings().all():
        for figure, n in row.items():
            if figure != "dealer":
                put(row["dealer"], figure, int(n or 0))

    # Escalated is counted per task from the tasks' escalation moment (insights.TASK_ESCALATED), never from the
    # scheduler's daily `task.overdue_digest`: its counts carry no task ids, so adding them made a figure its list
    # could not show (the digest stays in other_events).

    # plans (when the plan events carry a quota): the months the period covers
    months = sorted({f"{d.year}-{d.month:02d}" for d in (period.first, period.last)})
    quotas: dict[str, int] = {}
    plan_sql = (
        "SELECT dealer, sum(quota) FROM plan_facts WHERE plan = 'callback' AND period >= :first AND period <= :last "
        "AND quota IS NOT NULL GROUP BY 1"
    )
    for dealer, quota in (await session.execute(text(plan_sql), {"first": months[0], "last": months[-1]})).all():
        if filters.dealer is None or dealer == filters.dealer:
            quotas[dealer] = int(quota)

    registered = {
        code: (name, status)
        for code, name, status in (await session.execute(text("SELECT code, name, status FROM dealers"))).all()
    }
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
                dealer=dealer,
                name=name,
                status=status,
                records_received=got.get("records_received", 0),
                records_accepted=got.get("records_accepted", 0),
                duplicates_refused=got.get("duplicates_refused", 0),
                cross_region_entered=got.get("cross_region", 0),
                verified=got.get("verified", 0),
                callbacks=_timeliness(got, "cb"),
                promotions=_timeliness(got, "pr"),
                overdue=got.get("overdue", 0),
                escalated=got.get("escalated", 0),
                tasks_open=got.get("tasks_open", 0),
                plan_quota=quota,
                plan_done=got.get("plan_done", 0),
                plan_completion=round(got.get("plan_done", 0) / quota, 4) if quota else None,
                sold=got.get("sold", 0),
                cross_region_sales=got.get("cross_region_sales", 0),
                violations=got.get("violations", 0),
                sales_pending=got.get("sales_pending", 0),
                sales_rejected=got.get("sales_rejected", 0),
                rewards_fen=got.get("rewards", 0),
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
