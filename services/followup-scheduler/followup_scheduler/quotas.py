"""Plan quotas and plan deadlines (domain.md §4 回訪計劃, §5 行銷推進計劃, "Deadlines in one place").

A dealer's monthly callback plan must reach a multiple of its monthly sales plan; its promotion plan
a multiple too, and no fewer than the customers who had demand within one month at the end of last
month. Next month's callback plan is due by the 30th, next week's promotion plan by Friday; dealers
are reminded before both.
"""

from __future__ import annotations

import calendar as gregorian
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from leadnet_shared.clock import SHANGHAI, business_date
from leadnet_shared.policy import PolicyError, cached_policy

from .policy_values import policy_int, policy_number, policy_section
from .vocabulary import PACKAGE

PlanKind = Literal["callback", "promotion"]


@dataclass(frozen=True)
class QuotaRange:
    """The planned count a plan must reach (`minimum`) and the top of the recommended range (`maximum`)."""

    minimum: int
    maximum: int


@dataclass(frozen=True)
class Quotas:
    """A month's callback and promotion quotas for one dealer."""

    callbacks: QuotaRange
    promotions: QuotaRange
    policy_version: str


@dataclass(frozen=True)
class QuotaCheck:
    """Whether a plan meets its quotas, and by how much it falls short."""

    callbacks_ok: bool
    promotions_ok: bool
    callbacks_short_by: int
    promotions_short_by: int

    @property
    def ok(self) -> bool:
        return self.callbacks_ok and self.promotions_ok


@dataclass(frozen=True)
class DeadlineRule:
    """When a plan is due and when to remind the dealer."""

    day: int
    reminder_days_before: tuple[int, ...]
    reminder_local_time: time


@dataclass(frozen=True)
class QuotasPolicy:
    """Quota multiples and plan deadlines."""

    version: str
    callback_min: float
    callback_max: float
    promotion_min: float
    promotion_max: float
    callback_deadline: DeadlineRule
    promotion_deadline: DeadlineRule


@dataclass(frozen=True)
class PlanDeadline:
    """A plan's deadline: `due_by` is the Shanghai midnight that ends the deadline day (exclusive)."""

    plan: PlanKind
    period: str
    deadline_day: date
    due_by: datetime


@dataclass(frozen=True)
class PlanReminder:
    """A reminder to send at `at` about `deadline`, `days_before` its deadline day."""

    at: datetime
    deadline: PlanDeadline
    days_before: int = 0

    def timetable(self) -> dict[str, Any]:
        """The plan, period and timetable fields of its `leadnet.plan.reminder` event."""
        return {**asdict(self.deadline), "days_before": self.days_before, "remind_at": self.at}


def _deadline_rule(section: Mapping[str, Any], *, key: str, day_key: str, day_max: int) -> DeadlineRule:
    day = policy_int(section, day_key, policy="quotas", minimum=1)
    if day > day_max:
        raise PolicyError(f"quotas policy [{key}] {day_key} must be at most {day_max}")
    before = section.get("reminder_days_before", [])
    if not isinstance(before, list) or any(not isinstance(d, int) or isinstance(d, bool) or d < 0 for d in before):
        raise PolicyError(f"quotas policy [{key}] reminder_days_before must list whole numbers >= 0")
    try:
        at = time.fromisoformat(str(section.get("reminder_local_time", "09:00")))
    except ValueError as exc:
        raise PolicyError(f"quotas policy [{key}] reminder_local_time: {exc}") from exc
    return DeadlineRule(day=day, reminder_days_before=tuple(sorted(set(before), reverse=True)), reminder_local_time=at)


def parse_quotas_policy(data: Mapping[str, Any]) -> QuotasPolicy:
    """Check and type a quotas policy document."""
    callback = policy_section(data, "callback", policy="quotas")
    promotion = policy_section(data, "promotion", policy="quotas")
    parsed = QuotasPolicy(
        version=str(data["version"]),
        callback_min=policy_number(callback, "min_multiple", policy="quotas"),
        callback_max=policy_number(callback, "max_multiple", policy="quotas"),
        promotion_min=policy_number(promotion, "min_multiple", policy="quotas"),
        promotion_max=policy_number(promotion, "max_multiple", policy="quotas"),
        callback_deadline=_deadline_rule(
            policy_section(data, "callback_plan_deadline", policy="quotas"),
            key="callback_plan_deadline",
            day_key="day_of_month",
            day_max=31,
        ),
        promotion_deadline=_deadline_rule(
            policy_section(data, "promotion_plan_deadline", policy="quotas"),
            key="promotion_plan_deadline",
            day_key="iso_weekday",
            day_max=7,
        ),
    )
    if parsed.callback_max < parsed.callback_min or parsed.promotion_max < parsed.promotion_min:
        raise PolicyError("quotas policy max_multiple must not be below min_multiple")
    return parsed


def quotas_policy() -> QuotasPolicy:
    """The quotas and plan deadlines in force."""
    return parse_quotas_policy(cached_policy(PACKAGE, "quotas"))


def _times(multiple: float, count: int) -> int:
    # A quota is a count of actions: round up, so "3 x 1.5" asks for 5, never 4.
    product = multiple * count
    whole = int(product)
    return whole if whole == product else whole + 1


def plan_quotas(
    *, sales_plan: int, one_month_demand_at_last_month_end: int, policy: QuotasPolicy | None = None
) -> Quotas:
    """The month's quotas for a dealer with `sales_plan` vehicles planned."""
    if sales_plan < 0 or one_month_demand_at_last_month_end < 0:
        raise ValueError("sales_plan and one_month_demand_at_last_month_end must not be negative")
    rules = policy or quotas_policy()
    promotion_min = max(_times(rules.promotion_min, sales_plan), one_month_demand_at_last_month_end)
    return Quotas(
        callbacks=QuotaRange(
            minimum=_times(rules.callback_min, sales_plan), maximum=_times(rules.callback_max, sales_plan)
        ),
        promotions=QuotaRange(
            minimum=promotion_min, maximum=max(_times(rules.promotion_max, sales_plan), promotion_min)
        ),
        policy_version=rules.version,
    )


def check_plan(*, quotas: Quotas, callbacks_planned: int, promotions_planned: int) -> QuotaCheck:
    """Whether planned counts reach the quotas' minimums (more than the range is allowed)."""
    callbacks_short = max(quotas.callbacks.minimum - callbacks_planned, 0)
    promotions_short = max(quotas.promotions.minimum - promotions_planned, 0)
    return QuotaCheck(
        callbacks_ok=callbacks_short == 0,
        promotions_ok=promotions_short == 0,
        callbacks_short_by=callbacks_short,
        promotions_short_by=promotions_short,
    )


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def callback_plan_deadline_day(*, year: int, month: int, policy: QuotasPolicy | None = None) -> date:
    """The day of (`year`, `month`) by which next month's callback plan is due; the last day if shorter."""
    rules = policy or quotas_policy()
    last = gregorian.monthrange(year, month)[1]
    return date(year, month, min(rules.callback_deadline.day, last))


def _due_by(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=SHANGHAI).astimezone(UTC)


def next_plan_deadline(*, plan: PlanKind, after: datetime, policy: QuotasPolicy | None = None) -> PlanDeadline:
    """The first deadline of `plan` whose deadline day has not ended at `after`."""
    if after.tzinfo is None:
        raise ValueError("after must be an aware datetime")
    return _deadlines(plan=plan, after=after, rules=policy or quotas_policy())[0]


def _deadlines(*, plan: PlanKind, after: datetime, rules: QuotasPolicy, count: int = 2) -> list[PlanDeadline]:
    today = business_date(after).date()
    found: list[PlanDeadline] = []
    if plan == "callback":
        year, month = today.year, today.month
        while len(found) < count:
            day = callback_plan_deadline_day(year=year, month=month, policy=rules)
            if _due_by(day) > after:
                ny, nm = _next_month(year, month)
                found.append(
                    PlanDeadline(plan=plan, period=f"{ny:04d}-{nm:02d}", deadline_day=day, due_by=_due_by(day))
                )
            year, month = _next_month(year, month)
    else:
        weekday = rules.promotion_deadline.day
        day = today + timedelta(days=(weekday - today.isoweekday()) % 7)
        while len(found) < count:
            if _due_by(day) > after:
                monday = day + timedelta(days=8 - day.isoweekday())
                iso = monday.isocalendar()
                found.append(
                    PlanDeadline(
                        plan=plan,
                        period=f"{iso.year:04d}-W{iso.week:02d}",
                        deadline_day=day,
                        due_by=_due_by(day),
                    )
                )
            day += timedelta(days=7)
    return found


def next_plan_reminders(
    *, plan: PlanKind, after: datetime, policy: QuotasPolicy | None = None
) -> Sequence[PlanReminder]:
    """The reminders still to send (strictly after `after`) for the next deadline of `plan` with any left."""
    if after.tzinfo is None:
        raise ValueError("after must be an aware datetime")
    rules = policy or quotas_policy()
    rule = rules.callback_deadline if plan == "callback" else rules.promotion_deadline
    for deadline in _deadlines(plan=plan, after=after, rules=rules):
        remaining = [reminder for reminder in _reminders_of(deadline, rule) if reminder.at > after]
        if remaining:
            return sorted(remaining, key=lambda reminder: reminder.at)
    return []


def _reminders_of(deadline: PlanDeadline, rule: DeadlineRule) -> list[PlanReminder]:
    return [
        PlanReminder(
            at=datetime.combine(
                deadline.deadline_day - timedelta(days=before), rule.reminder_local_time, tzinfo=SHANGHAI
            ).astimezone(UTC),
            deadline=deadline,
            days_before=before,
        )
        for before in rule.reminder_days_before
    ]


def due_plan_reminders(*, plan: PlanKind, now: datetime, policy: QuotasPolicy | None = None) -> Sequence[PlanReminder]:
    """The reminders whose time has come at `now` for deadlines not yet passed (the timer sends each once).

    A reminder of a deadline that has already passed is not sent late: it would only ask for the impossible.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    rules = policy or quotas_policy()
    rule = rules.callback_deadline if plan == "callback" else rules.promotion_deadline
    return [
        reminder
        for deadline in _deadlines(plan=plan, after=now, rules=rules)
        for reminder in _reminders_of(deadline, rule)
        if reminder.at <= now
    ]


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The instants (UTC) a Shanghai calendar month `yyyy-mm` starts and ends (end exclusive)."""
    try:
        year, number = (int(part) for part in month.split("-"))
        first = date(year, number, 1)
    except ValueError as exc:
        raise ValueError(f"not a month yyyy-mm: {month!r}") from exc
    if len(month) != 7:
        raise ValueError(f"not a month yyyy-mm: {month!r}")
    ny, nm = _next_month(year, number)
    start = datetime.combine(first, time(0), tzinfo=SHANGHAI).astimezone(UTC)
    end = datetime.combine(date(ny, nm, 1), time(0), tzinfo=SHANGHAI).astimezone(UTC)
    return start, end
