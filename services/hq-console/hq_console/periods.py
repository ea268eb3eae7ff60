"""The periods the console's filters speak of: a day, a week (Monday first), a month or a quarter of Asia/Shanghai
business time, or a range of days, each with its previous period for the change shown next to a figure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from hq_console.tiers import measures_policy
from leadnet_shared.problems import FieldProblem, ValidationFailed

Granularity = Literal["day", "week", "month", "quarter", "range"]
GRANULARITIES: tuple[str, ...] = ("day", "week", "month", "quarter")
MAX_RANGE_DAYS = 3700  # ten years: enough for any comparison HQ makes, bounded so a typo is not a full scan


def zone() -> ZoneInfo:
    return measures_policy().time_zone


@dataclass(frozen=True)
class Period:
    """Business days `first` to `last` inclusive; `granularity` says how its previous period is drawn."""

    first: date
    last: date
    granularity: Granularity = "range"

    @property
    def start(self) -> datetime:
        """The first instant (UTC) of the period."""
        return datetime.combine(self.first, time(0), tzinfo=zone()).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The first instant (UTC) after the period."""
        return datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=zone()).astimezone(UTC)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        """The period before: the previous calendar day, week, month or quarter; for a range of days, as many days
        immediately before it."""
        if self.granularity in ("month", "quarter"):
            return containing(self.granularity, self.first - timedelta(days=1))
        return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1), self.granularity)

    def label(self) -> str:
        if self.granularity == "day":
            return self.first.isoformat()
        if self.granularity == "week":
            year, week, _ = self.first.isocalendar()
            return f"{year}-W{week:02d}"
        if self.granularity == "month":
            return f"{self.first.year}-{self.first.month:02d}"
        if self.granularity == "quarter":
            return f"{self.first.year}Q{(self.first.month - 1) // 3 + 1}"
        return f"{self.first.isoformat()}/{self.last.isoformat()}"


def containing(granularity: str, day: date) -> Period:
    """The day, week, month or quarter that contains `day`."""
    if granularity == "day":
        return Period(day, day, "day")
    if granularity == "week":
        monday = day - timedelta(days=day.weekday())
        return Period(monday, monday + timedelta(days=6), "week")
    if granularity == "month":
        first = day.replace(day=1)
    elif granularity == "quarter":
        first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    else:
        raise ValueError(f"unknown granularity {granularity!r}")
    months = 1 if granularity == "month" else 3
    year, month = divmod(first.month - 1 + months, 12)
    following = date(first.year + year, month + 1, 1)
    return Period(first, following - timedelta(days=1), granularity)  # type: ignore[arg-type]


def today(now: datetime) -> date:
    return now.astimezone(zone()).date()


def resolve(
    *,
    now: datetime,
    from_: str | None = None,
    to: str | None = None,
    period: str | None = None,
    at: str | None = None,
) -> Period:
    """The period a query names: `from`/`to` (business dates, both included), or `period` (day, week, month,
    quarter) containing `at` (default today); neither: this month. Every bad value is reported at once (422)."""
    problems: list[FieldProblem] = []

    def day_of(name: str, value: str | None) -> date | None:
        if value is None or value == "":
            return None
        try:
            if len(value) == 10:
                return date.fromisoformat(value)
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                raise ValueError("no offset")
            return parsed.astimezone(zone()).date()
        except ValueError:
            problems.append(FieldProblem(f"/{name}", "invalid_date", f"{name} must be a date, YYYY-MM-DD"))
            return None

    first, last, anchor = day_of("from", from_), day_of("to", to), day_of("at", at)
    if period is not None and period not in GRANULARITIES:
        problems.append(FieldProblem("/period", "invalid_enum", f"period must be one of {', '.join(GRANULARITIES)}"))
    if period is not None and (first is not None or last is not None):
        problems.append(FieldProblem("/period", "conflicting_parameters", "give either period or from/to"))
    if first is not None and last is not None:
        if last < first:
            problems.append(FieldProblem("/to", "out_of_range", "to must not be before from"))
        elif (last - first).days >= MAX_RANGE_DAYS:
            problems.append(FieldProblem("/to", "out_of_range", f"a range spans at most {MAX_RANGE_DAYS} days"))
    if problems:
        raise ValidationFailed("The period has problems; see errors.", errors=problems)
    current = today(now)
    if first is not None or last is not None:
        first = first or (last or current).replace(day=1)
        last = last or current
        if last < first:
            raise ValidationFailed(
                "The period has problems; see errors.",
                errors=[FieldProblem("/from", "out_of_range", "from must not be after to (default: today)")],
            )
        return Period(first, last, "range")
    return containing(period or "month", anchor or current)
