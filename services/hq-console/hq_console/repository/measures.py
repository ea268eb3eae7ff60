"""What each figure counts, as SQL (see the package docstring for the style): one condition over one fact table per
figure, written once here and reused by its total (`figures`), its breakdowns and the list behind it (`records`),
so a number and its list always agree (definitions in docs/console-kpis.md). `dims` is the one place a page's
filters and the caller's scope become SQL conditions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hq_console.filters import Filters, Scope
from hq_console.periods import Period
from hq_console.tiers import measures_policy

_ALL_DIMS = frozenset({"region", "product_line", "tier", "source", "network"})


@dataclass
class Where:
    """SQL conditions with their bind parameters, built up per query."""

    clauses: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def add(self, clause: str, **params: Any) -> Where:
        self.clauses.append(clause)
        self.params.update(params)
        return self

    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "TRUE"

    def used_params(self) -> dict[str, Any]:
        """The parameters the conditions name (a `text()` construct refuses others)."""
        sql = self.sql()
        return {name: value for name, value in self.params.items() if re.search(rf":{name}\b", sql)}


# A filter's dimension: (its column, the filter's parameter); a table without the column keeps nothing of it.
_FILTERED = (
    ("product_line", "product_line", "f_product_line"),
    ("tier", "tier", "f_tier"),
    ("source", "source", "f_source"),
    ("network", "network_code", "f_network"),
)


def dims(
    where: Where, alias: str, filters: Filters, scope: Scope, *, dealer: str | None, has: frozenset[str] = _ALL_DIMS
) -> Where:
    """Add the filters and the caller's scope for a fact table `alias` whose dealer column is `dealer` (None: the
    table has no dealer, and a dealer filter keeps nothing of it) and which carries the dimensions `has`."""
    if filters.region:
        where.add(f"{alias}.region_code LIKE :f_region", f_region=filters.region + "%")
    for name, column, param in _FILTERED:
        value = getattr(filters, name)
        if value:
            where.add(f"{alias}.{column} = :{param}" if name in has else "FALSE", **{param: value})
    if filters.dealer:
        where.add(f"{dealer} = :f_dealer" if dealer else "FALSE", f_dealer=filters.dealer)
    if scope.regions:
        where.add(
            f"{alias}.region_code LIKE ANY(CAST(:scope_regions AS text[]))",
            scope_regions=[r + "%" for r in scope.regions],
        )
    return where


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
    has: frozenset[str] = _ALL_DIMS
    # Disjoint conditions whose counts add up to the figure: a snapshot counted as two index-only scans (never
    # closed; closed after the instant) instead of one scan that must visit the table for its OR.
    parts: tuple[str, ...] = ()

    def select(self, columns: str, where: Where) -> str:
        """`columns` over the rows `where` keeps."""
        return f"SELECT {columns} FROM {self.table} {self.alias} WHERE {where.sql()}"


# Each fact table: its alias in the conditions and its id column.
_TABLES = {
    "leads": ("l", "lead_id"),
    "refusals": ("r", "event_id"),
    "sales": ("s", "sale_id"),
    "ledger_entries": ("e", "entry_id"),
    "tasks": ("t", "task_id"),
    "tier_changes": ("c", "event_id"),
    "pending_sales": ("p", "sale_id"),
}


def _measure(
    table: str, time: str, dealer: str, also: str = "", *, condition: str = "", parts: tuple[str, ...] = ()
) -> Measure:
    """A figure of `table` counted by its `time` column in the period (and `also`), or by a `condition` of its own
    (a snapshot at :as_of); the dealer filter applies to its column `dealer`."""
    alias, key = _TABLES[table]
    condition = condition or f"{alias}.{time} >= :start AND {alias}.{time} < :end" + (f" AND {also}" if also else "")
    return Measure(table, alias, key, time, f"{alias}.{dealer}", condition, parts=parts)


_OPEN_AT = "t.scheduled_at < :as_of AND (t.closed_at IS NULL OR t.closed_at >= :as_of)"
MEASURES: dict[str, Measure] = {
    "records_received": _measure("leads", "received_at", "entered_by"),
    "records_accepted": _measure("leads", "accepted_at", "entered_by"),
    "duplicates_refused": _measure(
        "leads", "rejected_at", "entered_by", "l.reject_reason = ANY(CAST(:duplicate_reasons AS text[]))"
    ),
    "refused_at_intake": _measure("refusals", "refused_at", "dealer"),
    "cross_region": _measure("leads", "accepted_at", "entered_by", "l.cross_region"),
    "verified": _measure("leads", "verified_at", "entered_by"),
    # the records accepted in the period that have been verified since: the authenticity share's numerator
    "accepted_verified": _measure("leads", "accepted_at", "entered_by", "l.verified_at IS NOT NULL"),
    "promoted": _measure("leads", "promoted_at", "assigned_dealer"),
    "sold": _measure("sales", "sold_at", "credited_dealer", "s.cancelled_at IS NULL"),
    "rewards": _measure("ledger_entries", "posted_at", "dealer"),
    "tasks_open": _measure(
        "tasks",
        "updated_at",
        "dealer",
        condition=_OPEN_AT,
        parts=(
            "t.closed_at IS NULL AND t.scheduled_at < :as_of",
            "t.closed_at >= :as_of AND t.scheduled_at < :as_of",
        ),
    ),
    "tasks_overdue": _measure(
        "tasks",
        "updated_at",
        "dealer",
        condition=f"{_OPEN_AT} AND t.overdue_at < :as_of",
        parts=(
            "t.closed_at IS NULL AND t.overdue_at < :as_of AND t.scheduled_at < :as_of",
            "t.closed_at >= :as_of AND t.overdue_at < :as_of AND t.scheduled_at < :as_of",
        ),
    ),
    # customers (hq_console.customers): the figure counts distinct customers, its list shows the facts
    "new_customers": _measure("leads", "accepted_at", "entered_by", "l.customer_existed IS FALSE"),
    "lost_customers": _measure(
        "leads",
        "closed_at",
        "assigned_dealer",
        "l.close_reason = ANY(CAST(:lost_reasons AS text[])) AND l.customer_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM sales x WHERE x.customer_id = l.customer_id AND x.cancelled_at IS NULL) "
        "AND NOT EXISTS (SELECT 1 FROM leads o WHERE o.customer_id = l.customer_id AND o.lead_id <> l.lead_id "
        "AND o.status IN ('accepted', 'returned'))",
    ),
    "upgraded_customers": _measure("tier_changes", "changed_at", "entered_by", "c.upgraded"),
    "repeat_purchases": _measure(
        "sales",
        "sold_at",
        "credited_dealer",
        "s.cancelled_at IS NULL AND EXISTS (SELECT 1 FROM sales p WHERE p.customer_id = s.customer_id "
        "AND p.cancelled_at IS NULL AND p.sale_id <> s.sale_id "
        "AND (p.sold_at < s.sold_at OR (p.sold_at = s.sold_at AND p.sale_id < s.sale_id)))",
    ),
    # the funnel's stages: a cohort (the records received in the period) and how far it has come since
    **{
        f"funnel_{stage}": _measure("leads", "received_at", "entered_by", f"l.{stage}_at IS NOT NULL")
        for stage in ("accepted", "verified", "promoted", "sold")
    },
}

# ---- the dealers page: timeliness of the tasks due in the period (not cancelled by the life cycle), tasks that
# became overdue or were escalated in it, callbacks completed in it (the plan's done), sales across regions -------
_NOT_CANCELLED = "(t.close_reason IS NULL OR t.close_reason = 'completed' OR t.completed_at IS NOT NULL)"
_TIMELINESS = {
    "due": "",
    "on_time": " AND t.completed_at <= t.due_at",
    "late": " AND t.completed_at > t.due_at",
    "open": " AND t.completed_at IS NULL",
}
for _plural, _kinds in (("callbacks", ":callback_kinds"), ("promotions", ":promotion_kinds")):
    for _part, _extra in _TIMELINESS.items():
        MEASURES[f"{_plural}_{_part}"] = _measure(
            "tasks", "due_at", "dealer", f"{_NOT_CANCELLED} AND t.kind = ANY(CAST({_kinds} AS text[])){_extra}"
        )
MEASURES["tasks_became_overdue"] = _measure("tasks", "overdue_at", "dealer")
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
MEASURES["tasks_escalated"] = _measure("tasks", "escalate_at", "dealer", condition=TASK_ESCALATED)
MEASURES["callbacks_completed"] = _measure(
    "tasks", "completed_at", "dealer", "t.kind = ANY(CAST(:callback_kinds AS text[]))"
)
MEASURES["cross_region_sales"] = _measure(
    "sales", "sold_at", "credited_dealer", "s.cancelled_at IS NULL AND s.cross_region"
)
# ---- sales waiting for a confirmation (a snapshot at the period's end, or now) and sales their confirmer rejected
# in the period: kept in pending_sales, by the reporting dealer (the seller); nothing is paid on either -----------
MEASURES["sales_pending"] = _measure(
    "pending_sales",
    "reported_at",
    "seller",
    condition="p.reported_at < :as_of AND (p.settled_at IS NULL OR p.settled_at >= :as_of)",
)
MEASURES["sales_rejected"] = _measure("pending_sales", "rejected_at", "seller")


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


def scoped(measure: Measure, condition: str, period: Period, filters: Filters, scope: Scope, *, now: datetime) -> Where:
    """`condition` on `measure`'s table for a period, filters and caller."""
    where = Where(params=period_params(period, now=now)).add(condition)
    return dims(where, measure.alias, filters, scope, dealer=measure.dealer, has=measure.has)


def measure_where(name: str, period: Period, filters: Filters, scope: Scope, *, now: datetime) -> Where:
    """The condition (with its parameters) of figure `name` for a period, filters and caller."""
    measure = MEASURES[name]
    return scoped(measure, measure.condition, period, filters, scope, now=now)
