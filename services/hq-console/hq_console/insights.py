"""The overview: the KPI tiles with the previous period's values, the trend, and the funnel (received → accepted →
verified → promoted → sold). Definitions in docs/console-kpis.md; each figure is one SQL condition over one fact
table, written once below and reused by the list behind it (`hq_console.records`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from hq_console.filters import Filters, Scope, Where, dims
from hq_console.periods import Period, zone
from hq_console.tiers import measures_policy

# ---- what each figure counts: (table, alias, dealer column, condition) ----------------------------------------


@dataclass(frozen=True)
class Measure:
    """A counted figure: rows of `table` (as `alias`) meeting `condition` for the period [:start, :end) or, for
    a snapshot, at the instant :as_of; `dealer` is the column the dealer filter applies to."""

    table: str
    alias: str
    key: str  # the row's id column
    time: str  # the column the list behind it is ordered by
    dealer: str | None
    condition: str
    has: frozenset[str] = frozenset({"region", "product_line", "tier", "source", "network"})
    # Disjoint conditions whose counts add up to the figure: a snapshot counted as two index-only scans (never
    # closed; closed after the instant) instead of one scan that must visit the table for its OR.
    parts: tuple[str, ...] = ()


MEASURES: dict[str, Measure] = {
    "records_received": Measure(
        "leads", "l", "lead_id", "received_at", "l.entered_by", "l.received_at >= :start AND l.received_at < :end"
    ),
    "records_accepted": Measure(
        "leads", "l", "lead_id", "accepted_at", "l.entered_by", "l.accepted_at >= :start AND l.accepted_at < :end"
    ),
    "duplicates_refused": Measure(
        "leads",
        "l",
        "lead_id",
        "rejected_at",
        "l.entered_by",
        "l.rejected_at >= :start AND l.rejected_at < :end "
        "AND l.reject_reason = ANY(CAST(:duplicate_reasons AS text[]))",
    ),
    "refused_at_intake": Measure(
        "refusals", "r", "event_id", "refused_at", "r.dealer", "r.refused_at >= :start AND r.refused_at < :end"
    ),
    "cross_region": Measure(
        "leads",
        "l",
        "lead_id",
        "accepted_at",
        "l.entered_by",
        "l.accepted_at >= :start AND l.accepted_at < :end AND l.cross_region",
    ),
    "verified": Measure(
        "leads", "l", "lead_id", "verified_at", "l.entered_by", "l.verified_at >= :start AND l.verified_at < :end"
    ),
    # the records accepted in the period that have been verified since: the authenticity share's numerator
    "accepted_verified": Measure(
        "leads",
        "l",
        "lead_id",
        "accepted_at",
        "l.entered_by",
        "l.accepted_at >= :start AND l.accepted_at < :end AND l.verified_at IS NOT NULL",
    ),
    "promoted": Measure(
        "leads", "l", "lead_id", "promoted_at", "l.assigned_dealer", "l.promoted_at >= :start AND l.promoted_at < :end"
    ),
    "sold": Measure(
        "sales",
        "s",
        "sale_id",
        "sold_at",
        "s.credited_dealer",
        "s.sold_at >= :start AND s.sold_at < :end AND s.cancelled_at IS NULL",
    ),
    "rewards": Measure(
        "ledger_entries", "e", "entry_id", "posted_at", "e.dealer", "e.posted_at >= :start AND e.posted_at < :end"
    ),
    "tasks_open": Measure(
        "tasks",
        "t",
        "task_id",
        "updated_at",
        "t.dealer",
        "t.scheduled_at < :as_of AND (t.closed_at IS NULL OR t.closed_at >= :as_of)",
        parts=(
            "t.closed_at IS NULL AND t.scheduled_at < :as_of",
            "t.closed_at >= :as_of AND t.scheduled_at < :as_of",
        ),
    ),
    "tasks_overdue": Measure(
        "tasks",
        "t",
        "task_id",
        "updated_at",
        "t.dealer",
        "t.scheduled_at < :as_of AND (t.closed_at IS NULL OR t.closed_at >= :as_of) AND t.overdue_at < :as_of",
        parts=(
            "t.closed_at IS NULL AND t.overdue_at < :as_of AND t.scheduled_at < :as_of",
            "t.closed_at >= :as_of AND t.overdue_at < :as_of AND t.scheduled_at < :as_of",
        ),
    ),
    # customers (hq_console.customers): the figure counts distinct customers, its list shows the facts
    "new_customers": Measure(
        "leads",
        "l",
        "lead_id",
        "accepted_at",
        "l.entered_by",
        "l.accepted_at >= :start AND l.accepted_at < :end AND l.customer_existed IS FALSE",
    ),
    "lost_customers": Measure(
        "leads",
        "l",
        "lead_id",
        "closed_at",
        "l.assigned_dealer",
        "l.closed_at >= :start AND l.closed_at < :end AND l.close_reason = ANY(CAST(:lost_reasons AS text[])) "
        "AND l.customer_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM sales x WHERE x.customer_id = l.customer_id AND x.cancelled_at IS NULL) "
        "AND NOT EXISTS (SELECT 1 FROM leads o WHERE o.customer_id = l.customer_id AND o.lead_id <> l.lead_id "
        "AND o.status IN ('accepted', 'returned'))",
    ),
    "upgraded_customers": Measure(
        "tier_changes",
        "c",
        "event_id",
        "changed_at",
        "c.entered_by",
        "c.changed_at >= :start AND c.changed_at < :end AND c.upgraded",
    ),
    "repeat_purchases": Measure(
        "sales",
        "s",
        "sale_id",
        "sold_at",
        "s.credited_dealer",
        "s.sold_at >= :start AND s.sold_at < :end AND s.cancelled_at IS NULL AND EXISTS (SELECT 1 FROM sales p "
        "WHERE p.customer_id = s.customer_id AND p.cancelled_at IS NULL AND p.sale_id <> s.sale_id "
        "AND (p.sold_at < s.sold_at OR (p.sold_at = s.sold_at AND p.sale_id < s.sale_id)))",
    ),
}

# ---- the funnel's stages: a cohort (the records received in the period) and how far it has come since -----------
_COHORT = "l.received_at >= :start AND l.received_at < :end"
for _stage in ("accepted", "verified", "promoted", "sold"):
    MEASURES[f"funnel_{_stage}"] = Measure(
        "leads", "l", "lead_id", "received_at", "l.entered_by", f"{_COHORT} AND l.{_stage}_at IS NOT NULL"
    )

# ---- the dealers page: timeliness of the tasks due in the period (not cancelled by the life cycle), tasks that
# became overdue or were escalated in it, callbacks completed in it (the plan's done), sales across regions -------
TASK_DUE = (
    "t.due_at >= :start AND t.due_at < :end AND (t.close_reason IS NULL OR t.close_reason = 'completed' "
    "OR t.completed_at IS NOT NULL)"
)
_TIMELINESS = {
    "due": "",
    "on_time": " AND t.completed_at <= t.due_at",
    "late": " AND t.completed_at > t.due_at",
    "open": " AND t.completed_at IS NULL",
}
for _plural, _kinds in (("callbacks", ":callback_kinds"), ("promotions", ":promotion_kinds")):
    for _part, _extra in _TIMELINESS.items():
        MEASURES[f"{_plural}_{_part}"] = Measure(
            "tasks",
            "t",
            "task_id",
            "due_at",
            "t.dealer",
            f"{TASK_DUE} AND t.kind = ANY(CAST({_kinds} AS text[])){_extra}",
        )
MEASURES["tasks_became_overdue"] = Measure(
    "tasks", "t", "task_id", "overdue_at", "t.dealer", "t.overdue_at >= :start AND t.overdue_at < :end"
)
# Escalated in the period (docs/console-kpis.md): the task's escalation moment (`escalate_at`, the scheduler's
# deadline on its task events) fell in the period and has passed (:as_of is the period's end or now), and the task
# was then still overdue: it became overdue and was not completed or cancelled by that moment, as the scheduler's
# digest decides (status overdue AND escalate_at <= now). An older `task.escalated` event is the scheduler's own
# word that it escalated (its instant is the task's escalate_at when the event had none). Per task, so the figure
# and its list are the same rows; the daily `task.overdue_digest` (counts, no task ids) is not added.
TASK_ESCALATED = (
    "(t.escalate_at >= :start AND t.escalate_at < :end AND t.escalate_at <= :as_of AND (t.escalated_at IS NOT NULL "
    "OR t.overdue_at IS NOT NULL AND (t.closed_at IS NULL OR t.closed_at > t.escalate_at)))"
)
MEASURES["tasks_escalated"] = Measure("tasks", "t", "task_id", "escalate_at", "t.dealer", TASK_ESCALATED)
MEASURES["callbacks_completed"] = Measure(
    "tasks",
    "t",
    "task_id",
    "completed_at",
    "t.dealer",
    "t.kind = ANY(CAST(:callback_kinds AS text[])) AND t.completed_at >= :start AND t.completed_at < :end",
)
MEASURES["cross_region_sales"] = Measure(
    "sales", "s", "sale_id", "sold_at", "s.credited_dealer", f"{MEASURES['sold'].condition} AND s.cross_region"
)
# ---- sales waiting for a confirmation (a snapshot at the period's end, or now) and sales their confirmer rejected
# in the period: kept in pending_sales, by the reporting dealer (the seller); nothing is paid on either -----------
MEASURES["sales_pending"] = Measure(
    "pending_sales",
    "p",
    "sale_id",
    "reported_at",
    "p.seller",
    "p.reported_at < :as_of AND (p.settled_at IS NULL OR p.settled_at >= :as_of)",
)
MEASURES["sales_rejected"] = Measure(
    "pending_sales", "p", "sale_id", "rejected_at", "p.seller", "p.rejected_at >= :start AND p.rejected_at < :end"
)


def measure_where(name: str, period: Period, filters: Filters, scope: Scope, *, now: datetime) -> Where:
    """The condition (with its parameters) of figure `name` for a period, filters and caller."""
    measure = MEASURES[name]
    where = Where(params=period_params(period, now=now))
    where.add(measure.condition)
    return dims(where, measure.alias, filters, scope, dealer=measure.dealer, has=measure.has)


def period_params(period: Period, *, now: datetime) -> dict[str, object]:
    policy = measures_policy()
    return {
        "start": period.start,
        "end": period.end,
        # A snapshot (open tasks) is taken at the period's end, or now for a period not over yet.
        "as_of": min(period.end, now),
        "duplicate_reasons": list(policy.duplicate_reasons),
        "lost_reasons": list(policy.lost_close_reasons),
        "callback_kinds": list(policy.callback_kinds),
        "promotion_kinds": list(policy.promotion_kinds),
    }


# ---- KPIs -----------------------------------------------------------------------------------------------------


class PeriodOut(BaseModel):
    from_: date = Field(alias="from")  # "from" in JSON (a Python keyword here)
    to: date
    granularity: str
    label: str
    time_zone: str

    model_config = {"populate_by_name": True}

    @classmethod
    def of(cls, period: Period) -> PeriodOut:
        return cls(
            from_=period.first,
            to=period.last,
            granularity=period.granularity,
            label=period.label(),
            time_zone=str(zone()),
        )


class KpiValues(BaseModel):
    """The overview's tiles for one period (docs/console-kpis.md)."""

    records_received: int
    records_accepted: int
    duplicates_refused: int
    refused_at_intake: int
    cross_region: int
    verified: int
    authenticity_share: float | None  # accepted in the period and verified since / accepted in the period
    promoted: int
    sold: int
    vehicles_sold: int
    rewards_fen: int
    tasks_open: int
    tasks_overdue: int
    sales_pending: int  # reported sales waiting for their confirmation at the period's end (or now)
    sales_rejected: int  # reported sales their confirmer rejected in the period


class Kpis(KpiValues):
    period: PeriodOut
    previous_period: PeriodOut
    previous: KpiValues
    # current - previous per figure (None where a share is undefined)
    change: dict[str, float | int | None]


_COUNTED = (
    "records_received",
    "records_accepted",
    "duplicates_refused",
    "refused_at_intake",
    "cross_region",
    "verified",
    "accepted_verified",
    "promoted",
    "sold",
    "tasks_open",
    "tasks_overdue",
    "sales_pending",
    "sales_rejected",
)


async def kpi_values(
    session: AsyncSession, period: Period, filters: Filters, scope: Scope, *, now: datetime
) -> KpiValues:
    """Every tile of one period in one statement (each figure a scalar subquery on its indexed time column)."""
    params: dict[str, object] = {}
    parts = []
    for name in _COUNTED:
        measure = MEASURES[name]
        counts = []
        for condition in measure.parts or (measure.condition,):
            where = dims(
                Where(params=period_params(period, now=now)).add(condition),
                measure.alias,
                filters,
                scope,
                dealer=measure.dealer,
                has=measure.has,
            )
            params.update(where.params)
            counts.append(f"(SELECT count(*) FROM {measure.table} {measure.alias} WHERE {where.sql()})")
        parts.append(f"({' + '.join(counts)}) AS {name}")
    sold = measure_where("sold", period, filters, scope, now=now)
    rewards = measure_where("rewards", period, filters, scope, now=now)
    params.update(sold.params)
    params.update(rewards.params)
    parts.append(f"(SELECT COALESCE(sum(s.vehicles), 0) FROM sales s WHERE {sold.sql()}) AS vehicles_sold")
    parts.append(f"(SELECT COALESCE(sum(e.amount_fen), 0) FROM ledger_entries e WHERE {rewards.sql()}) AS rewards_fen")
    row = (await session.execute(text("SELECT " + ", ".join(parts)), params)).mappings().one()
    received = int(row["records_received"]) + int(row["refused_at_intake"])
    accepted = int(row["records_accepted"])
    return KpiValues(
        records_received=received,
        records_accepted=accepted,
        duplicates_refused=int(row["duplicates_refused"]),
        refused_at_intake=int(row["refused_at_intake"]),
        cross_region=int(row["cross_region"]),
        verified=int(row["verified"]),
        authenticity_share=round(int(row["accepted_verified"]) / accepted, 4) if accepted else None,
        promoted=int(row["promoted"]),
        sold=int(row["sold"]),
        vehicles_sold=int(row["vehicles_sold"]),
        rewards_fen=int(row["rewards_fen"]),
        tasks_open=int(row["tasks_open"]),
        tasks_overdue=int(row["tasks_overdue"]),
        sales_pending=int(row["sales_pending"]),
        sales_rejected=int(row["sales_rejected"]),
    )


async def kpis(session: AsyncSession, period: Period, filters: Filters, scope: Scope, *, now: datetime) -> Kpis:
    """The tiles for `period` and its previous period, with the change."""
    current = await kpi_values(session, period, filters, scope, now=now)
    before = period.previous()
    previous = await kpi_values(session, before, filters, scope, now=now)
    change: dict[str, float | int | None] = {}
    for name, value in current.model_dump().items():
        old = getattr(previous, name)
        change[name] = None if value is None or old is None else round(value - old, 4)
    return Kpis(
        **current.model_dump(),
        period=PeriodOut.of(period),
        previous_period=PeriodOut.of(before),
        previous=previous,
        change=change,
    )


# ---- trend ----------------------------------------------------------------------------------------------------

Bucket = Literal["day", "week", "month"]


class TrendPoint(BaseModel):
    day: date  # the bucket's first business day
    records_received: int
    records_accepted: int
    verified: int
    sold: int
    rewards_fen: int


def bucket_for(period: Period) -> Bucket:
    return "day" if period.days <= 62 else ("week" if period.days <= 200 else "month")


async def trend(
    session: AsyncSession,
    period: Period,
    filters: Filters,
    scope: Scope,
    *,
    now: datetime,
    bucket: Bucket | None = None,
) -> list[TrendPoint]:
    """The overview's chart: the period's figures per day, week or month (Asia/Shanghai), every bucket present."""
    bucket = bucket or bucket_for(period)
    params: dict[str, object] = {"tz": str(zone()), "bucket": bucket}
    series = []
    for name, column, value in (
        ("records_received", "l.received_at", "count(*)"),
        ("records_accepted", "l.accepted_at", "count(*)"),
        ("verified", "l.verified_at", "count(*)"),
        ("sold", "s.sold_at", "count(*)"),
        ("rewards", "e.posted_at", "sum(e.amount_fen)"),
    ):
        measure = MEASURES[name]
        where = measure_where(name, period, filters, scope, now=now)
        params.update(where.params)
        series.append(
            f"SELECT '{name}' AS figure, date_trunc(:bucket, {column} AT TIME ZONE :tz)::date AS day, {value} AS n "
            f"FROM {measure.table} {measure.alias} WHERE {where.sql()} GROUP BY 2"
        )
    rows = (await session.execute(text(" UNION ALL ".join(series)), params)).all()
    points: dict[date, dict[str, int]] = {}
    for figure, day, n in rows:
        points.setdefault(day, {})[figure] = int(n or 0)
    out = []
    for day in _buckets(period, bucket):
        got = points.get(day, {})
        out.append(
            TrendPoint(
                day=day,
                records_received=got.get("records_received", 0),
                records_accepted=got.get("records_accepted", 0),
                verified=got.get("verified", 0),
                sold=got.get("sold", 0),
                rewards_fen=got.get("rewards", 0),
            )
        )
    return out


def _buckets(period: Period, bucket: Bucket) -> list[date]:
    from datetime import timedelta

    from hq_console.periods import containing

    days, day = [], containing(bucket, period.first).first
    while day <= period.last:
        days.append(day)
        day = containing(bucket, day).last + timedelta(days=1)
    return days


# ---- funnel ---------------------------------------------------------------------------------------------------

FunnelBy = Literal["none", "source", "network", "tier", "product_line", "region", "dealer"]
_FUNNEL_COLUMN = {
    "none": "NULL",
    "source": "l.source",
    "network": "l.network_code",
    "tier": "l.tier",
    "product_line": "l.product_line",
    "region": "substr(l.region_code, 1, 2)",
    "dealer": "l.entered_by",
}


class FunnelRow(BaseModel):
    """One group's records received in the period and how far they have come since (a cohort)."""

    key: str | None  # the group's value (None: unknown, or the whole funnel for by=none)
    received: int
    accepted: int
    verified: int
    promoted: int
    sold: int


async def funnel(
    session: AsyncSession, period: Period, filters: Filters, scope: Scope, *, now: datetime, by: FunnelBy = "none"
) -> list[FunnelRow]:
    """received → accepted → verified → promoted → sold of the records received in the period, per group: each
    stage counts the records that reached it by now (records refused at intake count as received, never further)."""
    column = _FUNNEL_COLUMN[by]
    where = measure_where("records_received", period, filters, scope, now=now)
    refused = measure_where("refused_at_intake", period, filters, scope, now=now)
    refusal_column = column.replace("l.entered_by", "r.dealer").replace("l.", "r.")
    sql = f"""
        SELECT key, sum(received) AS received, sum(accepted) AS accepted, sum(verified) AS verified,
               sum(promoted) AS promoted, sum(sold) AS sold FROM (
            SELECT {column} AS key, count(*) AS received, count(l.accepted_at) AS accepted,
                   count(l.verified_at) AS verified, count(l.promoted_at) AS promoted, count(l.sold_at) AS sold
            FROM leads l WHERE {where.sql()} GROUP BY 1
            UNION ALL
            SELECT {refusal_column} AS key, count(*), 0, 0, 0, 0 FROM refusals r WHERE {refused.sql()} GROUP BY 1
        ) AS stages GROUP BY key ORDER BY sum(received) DESC, key NULLS LAST
    """
    rows = (await session.execute(text(sql), {**where.params, **refused.params})).all()
    return [
        FunnelRow(
            key=None if key is None else str(key),
            received=int(received),
            accepted=int(accepted),
            verified=int(verified),
            promoted=int(promoted),
            sold=int(sold),
        )
        for key, received, accepted, verified, promoted, sold in rows
    ]
