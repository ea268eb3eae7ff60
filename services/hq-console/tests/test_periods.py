"""The filters' periods: Asia/Shanghai calendar days, weeks, months and quarters, each with the period before it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hq_console.periods import Period, containing, resolve
from leadnet_shared.problems import ValidationFailed

days = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))
granularities = st.sampled_from(["day", "week", "month", "quarter"])


@given(day=days, granularity=granularities)
def test_a_period_contains_its_day_and_its_previous_ends_the_day_before(day: date, granularity: str) -> None:
    period = containing(granularity, day)
    assert period.first <= day <= period.last
    before = period.previous()
    assert before.last == period.first - timedelta(days=1)
    assert before.granularity == period.granularity
    assert containing(granularity, before.first) == before  # a whole calendar period, not a shifted window
    assert period.end - period.start == timedelta(days=period.days)  # Shanghai keeps no daylight saving


@given(first=days, length=st.integers(min_value=1, max_value=400))
def test_a_range_compares_with_as_many_days_before(first: date, length: int) -> None:
    period = Period(first, first + timedelta(days=length - 1))
    before = period.previous()
    assert before.days == period.days and before.last == period.first - timedelta(days=1)


def test_business_days_start_at_shanghai_midnight() -> None:
    period = containing("month", date(2026, 12, 16))
    assert period.start == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert period.end == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert period.previous() == Period(date(2026, 11, 1), date(2026, 11, 30), "month")
    assert containing("quarter", date(2026, 12, 16)).label() == "2026Q4"
    assert containing("week", date(2026, 12, 16)).first == date(2026, 12, 14)  # Monday


def test_the_default_is_this_month_of_shanghai_today() -> None:
    late_evening_utc = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 1 December, 01:00 in Shanghai
    assert resolve(now=late_evening_utc) == Period(date(2026, 12, 1), date(2026, 12, 31), "month")
    assert resolve(now=late_evening_utc, from_="2026-11-01", to="2026-11-10").days == 10


def test_every_bad_value_is_reported() -> None:
    with pytest.raises(ValidationFailed) as caught:
        resolve(now=datetime(2026, 12, 1, tzinfo=UTC), from_="2026-02-30", period="year", at="x")
    assert {e.field for e in caught.value.errors} == {"/from", "/period", "/at"}
    with pytest.raises(ValidationFailed):
        resolve(now=datetime(2026, 12, 1, tzinfo=UTC), from_="2026-12-10", to="2026-12-01")
