"""Business calendar: official holidays and make-up days, the weekends fallback, and the due-date rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from followup_scheduler.business_calendar import BusinessCalendar, default_calendar, is_working_day
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.policy import PolicyError

from .conftest import CALENDAR, NO_SHIFT


def sh(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


class TestOfficialCalendar:
    @pytest.mark.parametrize("day", [date(2025, 10, 1), date(2025, 10, 3), date(2025, 10, 8), date(2026, 2, 17)])
    def test_statutory_holidays_are_not_working_days(self, day: date) -> None:
        assert not CALENDAR.is_working_day(day)
        assert CALENDAR.basis(day) == "official"

    @pytest.mark.parametrize(
        "day",
        [date(2025, 9, 28), date(2025, 10, 11), date(2026, 2, 14), date(2026, 2, 28)],
        ids=["sunday-2025-09-28", "saturday-2025-10-11", "saturday-2026-02-14", "saturday-2026-02-28"],
    )
    def test_make_up_weekend_days_are_working_days(self, day: date) -> None:
        assert day.weekday() >= 5
        assert CALENDAR.is_working_day(day)

    def test_ordinary_weekdays_and_weekends(self) -> None:
        assert CALENDAR.is_working_day(date(2025, 10, 9))
        assert not CALENDAR.is_working_day(date(2025, 10, 18))
        assert not CALENDAR.is_working_day(date(2025, 10, 19))

    def test_module_function_uses_the_policy_calendar(self) -> None:
        assert default_calendar().shift_off_non_working_days is True
        assert not is_working_day(date(2025, 10, 1))
        assert is_working_day(date(2025, 10, 11))


class TestBeyondThePackageYears:
    def test_falls_back_to_weekends_only_and_says_so(self) -> None:
        assert CALENDAR.basis(date(2040, 1, 1)) == "weekends_only"
        # 2040-01-01 is a Sunday, 2040-01-02 a Monday: New Year's Day is not known there.
        assert not CALENDAR.is_working_day(date(2040, 1, 1))
        assert CALENDAR.is_working_day(date(2040, 1, 2))

    def test_policy_dates_win_over_the_fallback(self) -> None:
        calendar = BusinessCalendar(extra_holidays=[date(2040, 1, 2)], extra_working_days=[date(2040, 1, 7)])
        assert not calendar.is_working_day(date(2040, 1, 2))
        assert calendar.is_working_day(date(2040, 1, 7))
        assert calendar.basis(date(2040, 1, 2)) == "policy"

    def test_due_date_reports_its_basis(self) -> None:
        due = CALENDAR.due_in_days(start=sh(2040, 3, 5), days=3)
        assert due.basis == "weekends_only"


class TestCalendarPolicy:
    def test_policy_file_loads(self) -> None:
        calendar = BusinessCalendar.from_policy()
        assert calendar.shift_off_non_working_days is True
        assert calendar.version.startswith("calendar-")

    def test_switch_must_be_a_boolean(self) -> None:
        with pytest.raises(PolicyError):
            BusinessCalendar.from_policy({"version": "t", "shift_off_non_working_days": "yes"})

    def test_bad_dates_are_refused(self) -> None:
        with pytest.raises(PolicyError):
            BusinessCalendar.from_policy({"version": "t", "extra_holidays": ["2027-13-01"]})

    def test_a_date_cannot_be_both(self) -> None:
        with pytest.raises(PolicyError):
            BusinessCalendar(extra_holidays=[date(2027, 1, 1)], extra_working_days=[date(2027, 1, 1)])


class TestDueInDays:
    def test_same_shanghai_time_n_days_later_on_a_working_day(self) -> None:
        due = CALENDAR.due_in_days(start=sh(2025, 10, 13, 14, 30), days=3)
        assert due.at == sh(2025, 10, 16, 14, 30)
        assert due.at.tzinfo is UTC
        assert not due.shifted

    def test_moves_earlier_off_a_weekend(self) -> None:
        # Thursday + 2 days = Saturday 2025-10-18 -> Friday 2025-10-17, same time.
        due = CALENDAR.due_in_days(start=sh(2025, 10, 16, 9), days=2)
        assert due.at == sh(2025, 10, 17, 9)
        assert due.table_at == sh(2025, 10, 18, 9)
        assert due.shifted

    def test_moves_earlier_across_a_long_holiday(self) -> None:
        # 2025-09-26 + 7 days = 2025-10-03 (National Day) -> the make-up working Tuesday 2025-09-30.
        due = CALENDAR.due_in_days(start=sh(2025, 9, 26, 11), days=7)
        assert due.at == sh(2025, 9, 30, 11)

    def test_never_before_the_start(self) -> None:
        # Friday 2025-10-17 + 2 days = Sunday; the previous working day is the start itself.
        start = sh(2025, 10, 17, 16)
        assert CALENDAR.due_in_days(start=start, days=2).at == start

    def test_no_working_day_in_the_window_keeps_the_table_date(self) -> None:
        start = sh(2025, 10, 2, 10)  # inside the National Day holiday
        due = CALENDAR.due_in_days(start=start, days=3)
        assert due.at == sh(2025, 10, 5, 10)
        assert not due.shifted

    def test_switch_off_keeps_the_table_date(self) -> None:
        due = NO_SHIFT.due_in_days(start=sh(2025, 10, 16, 9), days=2)
        assert due.at == sh(2025, 10, 18, 9)

    def test_per_call_override(self) -> None:
        assert CALENDAR.due_in_days(start=sh(2025, 10, 16, 9), days=2, shift=False).at == sh(2025, 10, 18, 9)

    def test_naive_start_is_refused(self) -> None:
        with pytest.raises(ValueError):
            CALENDAR.due_in_days(start=datetime(2025, 10, 16, 9), days=2)

    def test_negative_days_are_refused(self) -> None:
        with pytest.raises(ValueError):
            CALENDAR.due_in_days(start=sh(2025, 10, 16), days=-1)


starts = st.datetimes(min_value=datetime(2004, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(SHANGHAI))


class TestDueDateInvariants:
    @given(start=starts, days=st.integers(min_value=0, max_value=60))
    def test_never_later_than_the_table_and_never_before_the_start(self, start: datetime, days: int) -> None:
        due = CALENDAR.due_in_days(start=start, days=days)
        assert start <= due.at <= start + timedelta(days=days)
        assert due.table_at == start + timedelta(days=days)

    @given(start=starts, days=st.integers(min_value=0, max_value=60))
    def test_on_a_working_day_whenever_one_is_in_reach(self, start: datetime, days: int) -> None:
        due = CALENDAR.due_in_days(start=start, days=days)
        local_start = start.date()
        window = [local_start + timedelta(days=i) for i in range(days + 1)]
        if any(CALENDAR.is_working_day(day) for day in window):
            assert CALENDAR.is_working_day(due.at.astimezone(SHANGHAI).date())
            # And it is the LATEST such working day: moved no earlier than needed.
            later = [day for day in window if day > due.at.astimezone(SHANGHAI).date()]
            assert not any(CALENDAR.is_working_day(day) for day in later)
        else:
            assert due.at == due.table_at

    @given(start=starts, days=st.integers(min_value=0, max_value=60))
    def test_keeps_the_time_of_day(self, start: datetime, days: int) -> None:
        due = CALENDAR.due_in_days(start=start, days=days).at.astimezone(SHANGHAI)
        assert due.time() == start.time()
