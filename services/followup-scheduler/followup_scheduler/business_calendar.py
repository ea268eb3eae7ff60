"""Business calendar: which Shanghai dates are working days, and when a "due in N days" task falls due.

Working days follow the official calendar (statutory holidays and make-up working days, 调休) from the
`chinese_calendar` package, plus any dates HQ adds in policy before the package knows them. For
years the package does not cover and policy does not list, only Saturdays and Sundays are non-
working; every answer says which basis it used (`CalendarBasis`) so a caller can surface that guess.

"Due in N days" means the same Shanghai wall-clock time N calendar days after the start: exactly the
table's N days, never later. With `shift_off_non_working_days` on, a due date on a non-working day
moves EARLIER, to the previous working day at the same time of day, because the tables are the
latest a customer may be contacted. The move never goes before the start (the task cannot be due
before it was planned); when no working day lies between the start's date and the table's date (a
task planned inside a long holiday), the table's instant is kept unshifted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any, Literal

import chinese_calendar

from leadnet_shared.clock import SHANGHAI
from leadnet_shared.policy import PolicyError, cached_policy

from .vocabulary import PACKAGE

CalendarBasis = Literal["official", "policy", "weekends_only"]

_SATURDAY = 5


@dataclass(frozen=True)
class DueDate:
    """A computed due instant, with the table's own instant kept so a shift can be explained and audited."""

    at: datetime
    table_at: datetime
    basis: CalendarBasis

    @property
    def shifted(self) -> bool:
        return self.at != self.table_at

    @property
    def shift_note(self) -> str:
        """Appended to a task's reason, so a dealer sees why a task is due before the table's date."""
        return " (moved earlier off a non-working day)" if self.shifted else ""


@cache
def _official_years() -> tuple[int, int]:
    # The package refuses dates outside the years it has data for; learn the range once instead of catching
    # NotImplementedError on every call.
    days = [*chinese_calendar.holidays, *chinese_calendar.workdays]
    return min(days).year, max(days).year


def _parse_dates(values: Iterable[Any], *, key: str) -> frozenset[date]:
    try:
        return frozenset(date.fromisoformat(str(value)) for value in values)
    except ValueError as exc:
        raise PolicyError(f"calendar policy {key}: {exc}") from exc


class BusinessCalendar:
    """Shanghai working days and the due-date rule; immutable, so one instance serves every request."""

    def __init__(
        self,
        *,
        shift_off_non_working_days: bool = True,
        extra_holidays: Iterable[date] = (),
        extra_working_days: Iterable[date] = (),
        version: str = "builtin",
    ) -> None:
        self.shift_off_non_working_days = shift_off_non_working_days
        self.extra_holidays = frozenset(extra_holidays)
        self.extra_working_days = frozenset(extra_working_days)
        both = self.extra_holidays & self.extra_working_days
        if both:
            raise PolicyError(f"calendar policy lists dates as both holiday and working day: {sorted(both)}")
        self.version = version

    @classmethod
    def from_policy(cls, policy: Mapping[str, Any] | None = None) -> BusinessCalendar:
        """Build the calendar HQ configured (`policy/calendar.toml` or its override)."""
        data = policy if policy is not None else cached_policy(PACKAGE, "calendar")
        shift = data.get("shift_off_non_working_days", True)
        if not isinstance(shift, bool):
            raise PolicyError("calendar policy shift_off_non_working_days must be true or false")
        return cls(
            shift_off_non_working_days=shift,
            extra_holidays=_parse_dates(data.get("extra_holidays", []), key="extra_holidays"),
            extra_working_days=_parse_dates(data.get("extra_working_days", []), key="extra_working_days"),
            version=str(data["version"]),
        )

    def basis(self, day: date) -> CalendarBasis:
        """Where the answer for `day` comes from: HQ's list, the official calendar, or the weekends guess."""
        if day in self.extra_holidays or day in self.extra_working_days:
            return "policy"
        first, last = _official_years()
        return "official" if first <= day.year <= last else "weekends_only"

    def is_working_day(self, day: date) -> bool:
        """True when dealer staff are at work on `day` (a Shanghai calendar date)."""
        basis = self.basis(day)
        if basis == "policy":
            return day in self.extra_working_days
        if basis == "official":
            return bool(chinese_calendar.is_workday(day))
        return day.weekday() < _SATURDAY

    def previous_working_day(self, day: date, *, not_before: date) -> date | None:
        """The latest working day on or before `day` and not before `not_before`, if there is one."""
        current = day
        while current >= not_before:
            if self.is_working_day(current):
                return current
            current -= timedelta(days=1)
        return None

    def due_in_days(self, *, start: datetime, days: int, shift: bool | None = None) -> DueDate:
        """When a task planned at `start` and due "in `days` days" falls due (see the module docstring)."""
        if start.tzinfo is None:
            raise ValueError("start must be an aware datetime")
        if days < 0:
            raise ValueError("days must not be negative")
        local_start = start.astimezone(SHANGHAI)
        # Aware arithmetic within one tzinfo is wall-clock arithmetic: the same local time N days on.
        local_table = local_start + timedelta(days=days)
        table_at = local_table.astimezone(UTC)
        apply_shift = self.shift_off_non_working_days if shift is None else shift
        table_day = local_table.date()
        if not apply_shift or self.is_working_day(table_day):
            return DueDate(at=table_at, table_at=table_at, basis=self.basis(table_day))
        earlier = self.previous_working_day(table_day, not_before=local_start.date())
        if earlier is None:
            return DueDate(at=table_at, table_at=table_at, basis=self.basis(table_day))
        local_due = datetime.combine(earlier, local_table.time(), tzinfo=SHANGHAI)
        due_at = max(local_due.astimezone(UTC), start.astimezone(UTC))
        return DueDate(at=due_at, table_at=table_at, basis=self.basis(earlier))


@cache
def default_calendar() -> BusinessCalendar:
    """The calendar from policy, built once per process (`default_calendar.cache_clear()` to reload)."""
    return BusinessCalendar.from_policy()


def is_working_day(day: date, *, calendar: BusinessCalendar | None = None) -> bool:
    """True when `day` is a working day in Shanghai under the configured calendar."""
    return (calendar or default_calendar()).is_working_day(day)
