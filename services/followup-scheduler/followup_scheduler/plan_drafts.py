"""The plan drafts: a month's callback plan and a week's promotion plan as the rules draw them (domain.md §4, §5).

Callback plan of a month: every customer whose callback falls due in the month by the timing tables (or is already
past due when the plan is drawn), then periodic callbacks (按定期開展) of customers due after the month until the plan
reaches its quota (quotas.toml: 3-5 x the monthly sales plan), all in the seed's order: customers with demand
first, reachable customers first, big customers first (ordering.toml); a customer due between the drawing day and
the month is this month's work, in neither. Promotion plan of an ISO week: every customer with demand
within one month (an open promotion task: the quota floor), then the other customers with demand, strongest intent
first, until 2-4 x the week's share of the sales plan. One line per customer.

Pure functions; the candidates come from work_plans.py (one query) and who calls and how from staffing.py.
"""

from __future__ import annotations

import calendar as gregorian
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from leadnet_shared.clock import SHANGHAI

from .ordering import OrderingPolicy, has_demand, ordering_policy
from .plan_approval import WorkPlansPolicy, periodic_target, work_plans_policy
from .quotas import QuotasPolicy, callback_plan_deadline_day, plan_quotas, quotas_policy
from .staffing import Assignment, assignment_for, staffing_policy
from .vocabulary import HORIZONS

WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True)
class Candidate:
    """A customer the dealer may plan: its open task's lead, tier, nature, horizon, reachability and due date."""

    customer_id: str
    lead_id: str
    tier: str
    nature: str
    horizon: str | None
    reachable: bool
    due: date  # the task's due date (Asia/Shanghai) by the timing tables


@dataclass(frozen=True)
class DraftLine:
    customer_id: str
    lead_id: str
    tier: str
    reason: str  # due_in_month | periodic | demand_within_one_month | demand
    target_date: date
    position: str
    method: str


def seed_order_key(candidate: Candidate, *, ordering: OrderingPolicy | None = None) -> tuple[int, int, int, date, str]:
    """Demand first, reachable first, big customer first; then the earlier target, then a stable tie-break."""
    rules = ordering or ordering_policy()
    return (
        0 if has_demand(horizon=candidate.horizon, policy=rules) else 1,
        0 if candidate.reachable else 1,
        rules.tier_rank.get(candidate.tier, len(rules.tier_rank)),
        candidate.due,
        candidate.customer_id,
    )


def intent_order_key(candidate: Candidate, *, ordering: OrderingPolicy | None = None) -> tuple[int, int, date, str]:
    """Promotion order (domain.md §5): strongest intent first (the nearer horizon), big customers first."""
    rules = ordering or ordering_policy()
    horizon = HORIZONS.index(candidate.horizon) if candidate.horizon in HORIZONS else len(HORIZONS)
    return (horizon, rules.tier_rank.get(candidate.tier, len(rules.tier_rank)), candidate.due, candidate.customer_id)


def staff_lookup(kind: str) -> Callable[[str, str, str | None], Assignment]:
    """`assignment_for` of one kind, the matrices read once and each (nature, tier, horizon) cell looked up once: a
    plan has thousands of lines and a few dozen distinct cells."""
    rules = staffing_policy()
    memo: dict[tuple[str, str, str | None], Assignment] = {}

    def lookup(nature: str, tier: str, horizon: str | None) -> Assignment:
        key = (nature, tier, horizon)
        if key not in memo:
            memo[key] = assignment_for(kind=kind, nature=nature, tier=tier, horizon=horizon, policy=rules)
        return memo[key]

    return lookup


def _line(
    candidate: Candidate,
    *,
    kind: str,
    reason: str,
    target: date,
    staff: Callable[[str, str, str | None], Assignment] | None = None,
) -> DraftLine:
    who = (staff or staff_lookup(kind))(candidate.nature, candidate.tier, candidate.horizon)
    return DraftLine(
        customer_id=candidate.customer_id,
        lead_id=candidate.lead_id,
        tier=candidate.tier,
        reason=reason,
        target_date=target,
        position=who.position,
        method=who.method,
    )


def month_days(month: str) -> tuple[date, date]:
    """The first and last day of a month `yyyy-mm`."""
    year, number = (int(part) for part in month.split("-"))
    return date(year, number, 1), date(year, number, gregorian.monthrange(year, number)[1])


def week_days(week: str) -> tuple[date, date]:
    """The Monday and Sunday of an ISO week `yyyy-Www` (ValueError for a week the year does not have)."""
    match = WEEK.fullmatch(week)
    if not match:
        raise ValueError(f"not an ISO week yyyy-Www: {week!r}")
    monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    return monday, monday + timedelta(days=6)


def end_of_day(day: date) -> datetime:
    """The Shanghai midnight that ends `day` (a deadline day's `due_by`, exclusive), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=SHANGHAI).astimezone(UTC)


def callback_plan_due_by(month: str, *, policy: QuotasPolicy | None = None) -> datetime:
    """A month's callback plan is due by the end of the 30th of the month before (quotas.toml)."""
    first, _ = month_days(month)
    before = first - timedelta(days=1)
    return end_of_day(callback_plan_deadline_day(year=before.year, month=before.month, policy=policy))


def promotion_plan_due_by(week: str, *, policy: QuotasPolicy | None = None) -> datetime:
    """A week's promotion plan is due by the end of the Friday (quotas.toml weekday) before the week."""
    monday, _ = week_days(week)
    weekday = (policy or quotas_policy()).promotion_deadline.day
    day = monday - timedelta(days=1)
    while day.isoweekday() != weekday:
        day -= timedelta(days=1)
    return end_of_day(day)


def callback_quota(*, sales_plan: int, policy: QuotasPolicy | None = None) -> int:
    """The month's callback quota: at least min_multiple x the sales plan (quotas.toml)."""
    return plan_quotas(sales_plan=sales_plan, one_month_demand_at_last_month_end=0, policy=policy).callbacks.minimum


def promotion_week_quota(
    *, sales_plan: int, week: str, demand_customers: int, policy: QuotasPolicy | None = None
) -> int:
    """The week's promotion quota: min_multiple x the week's share of the month's sales plan (the month of the
    week's Thursday), and never fewer than the customers with demand within one month."""
    rules = policy or quotas_policy()
    monday, _ = week_days(week)
    thursday = monday + timedelta(days=3)
    days = gregorian.monthrange(thursday.year, thursday.month)[1]
    share = rules.promotion_min * sales_plan * 7 / days
    whole = int(share)
    return max(whole if whole == share else whole + 1, demand_customers)


def _distinct(candidates: Iterable[Candidate], key: Callable[[Candidate], tuple[Any, ...]]) -> list[Candidate]:
    seen: set[str] = set()
    kept: list[Candidate] = []
    for candidate in sorted(candidates, key=key):
        if candidate.customer_id not in seen:
            seen.add(candidate.customer_id)
            kept.append(candidate)
    return kept


def draft_callback_plan(
    candidates: Sequence[Candidate],
    *,
    month: str,
    quota: int,
    as_of: date,
    ordering: OrderingPolicy | None = None,
    policy: WorkPlansPolicy | None = None,
) -> list[DraftLine]:
    """The month's callback plan, drawn on `as_of` (a Shanghai date): customers due in the month or already past due,
    topped up with periodic callbacks of customers due after the month, to the quota, in the seed's order. A
    customer due between `as_of` and the month is this month's work, in neither."""
    rules = ordering or ordering_policy()
    first, last = month_days(month)
    staff = staff_lookup("callback")

    def key(candidate: Candidate) -> tuple[int, int, int, date, str]:
        return seed_order_key(candidate, ordering=rules)

    due = _distinct((c for c in candidates if first <= c.due <= last or c.due < as_of), key)
    taken = {c.customer_id for c in due}
    chosen = [(c, _line(c, kind="callback", reason="due_in_month", target=max(c.due, first), staff=staff)) for c in due]
    if len(chosen) < quota:
        target = periodic_target(first=first, last=last, policy=policy or work_plans_policy())
        later = (c for c in candidates if c.due > last and c.customer_id not in taken)
        for candidate in _distinct(later, key):
            if len(chosen) >= quota:
                break
            chosen.append((candidate, _line(candidate, kind="callback", reason="periodic", target=target, staff=staff)))
    chosen.sort(key=lambda pair: (*key(pair[0])[:3], pair[1].target_date, pair[1].customer_id))
    return [line for _, line in chosen]


def draft_promotion_plan(
    demand: Sequence[Candidate],
    others: Sequence[Candidate],
    *,
    week: str,
    quota: int,
    ordering: OrderingPolicy | None = None,
) -> list[DraftLine]:
    """The week's promotion plan: every customer with demand within one month (`demand`), then `others` with demand
    until the quota, strongest intent first, big customers first."""
    rules = ordering or ordering_policy()
    monday, sunday = week_days(week)
    staff = staff_lookup("promotion")

    def key(candidate: Candidate) -> tuple[int, int, date, str]:
        return intent_order_key(candidate, ordering=rules)

    def target(candidate: Candidate) -> date:
        return min(max(candidate.due, monday), sunday)

    floor = _distinct(demand, key)
    taken = {c.customer_id for c in floor}
    chosen = [
        (c, _line(c, kind="promotion", reason="demand_within_one_month", target=target(c), staff=staff)) for c in floor
    ]
    for candidate in _distinct((c for c in others if c.customer_id not in taken), key):
        if len(chosen) >= quota:
            break
        if has_demand(horizon=candidate.horizon, policy=rules):
            chosen.append(
                (candidate, _line(candidate, kind="promotion", reason="demand", target=target(candidate), staff=staff))
            )
    chosen.sort(key=lambda pair: key(pair[0]))
    return [line for _, line in chosen]
