"""Plan quotas (domain.md §4, §5) and plan deadlines (the 30th; every Friday) with their reminders."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from followup_scheduler.quotas import (
    QuotaRange,
    callback_plan_deadline_day,
    check_plan,
    next_plan_deadline,
    next_plan_reminders,
    parse_quotas_policy,
    plan_quotas,
)
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.policy import PolicyError, load_policy


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


class TestQuotas:
    def test_contract_example_sales_plan_40(self) -> None:
        quotas = plan_quotas(sales_plan=40, one_month_demand_at_last_month_end=0)
        assert quotas.callbacks == QuotaRange(minimum=120, maximum=200)
        assert quotas.promotions == QuotaRange(minimum=80, maximum=160)

    def test_one_month_demand_floor_raises_the_promotion_minimum(self) -> None:
        quotas = plan_quotas(sales_plan=40, one_month_demand_at_last_month_end=95)
        assert quotas.promotions == QuotaRange(minimum=95, maximum=160)

    def test_floor_above_the_range_lifts_its_top(self) -> None:
        quotas = plan_quotas(sales_plan=10, one_month_demand_at_last_month_end=60)
        assert quotas.promotions == QuotaRange(minimum=60, maximum=60)

    def test_fractional_multiples_round_up(self) -> None:
        data: dict[str, Any] = load_policy("followup_scheduler", "quotas")
        data["callback"]["min_multiple"] = 3.5
        quotas = plan_quotas(sales_plan=3, one_month_demand_at_last_month_end=0, policy=parse_quotas_policy(data))
        assert quotas.callbacks.minimum == 11

    def test_negative_counts_are_refused(self) -> None:
        with pytest.raises(ValueError):
            plan_quotas(sales_plan=-1, one_month_demand_at_last_month_end=0)


class TestCheckPlan:
    def test_meets_at_the_minimum(self) -> None:
        quotas = plan_quotas(sales_plan=40, one_month_demand_at_last_month_end=90)
        result = check_plan(quotas=quotas, callbacks_planned=120, promotions_planned=90)
        assert result.ok

    def test_short_plans_say_by_how_much(self) -> None:
        quotas = plan_quotas(sales_plan=40, one_month_demand_at_last_month_end=90)
        result = check_plan(quotas=quotas, callbacks_planned=100, promotions_planned=85)
        assert not result.ok
        assert (result.callbacks_short_by, result.promotions_short_by) == (20, 5)

    def test_more_than_the_range_is_allowed(self) -> None:
        quotas = plan_quotas(sales_plan=40, one_month_demand_at_last_month_end=0)
        assert check_plan(quotas=quotas, callbacks_planned=500, promotions_planned=500).ok

    @given(sales=st.integers(0, 10_000), demand=st.integers(0, 10_000))
    def test_minimum_never_exceeds_maximum(self, sales: int, demand: int) -> None:
        quotas = plan_quotas(sales_plan=sales, one_month_demand_at_last_month_end=demand)
        assert 3 * sales == quotas.callbacks.minimum <= quotas.callbacks.maximum == 5 * sales
        assert quotas.promotions.minimum == max(2 * sales, demand) <= quotas.promotions.maximum


class TestCallbackPlanDeadline:
    @pytest.mark.parametrize(
        ("year", "month", "expected"),
        [
            (2025, 10, date(2025, 10, 30)),
            (2025, 11, date(2025, 11, 30)),
            (2026, 2, date(2026, 2, 28)),
            (2028, 2, date(2028, 2, 29)),
        ],
        ids=["31-day month keeps the 30th", "30-day month", "february", "leap february"],
    )
    def test_the_30th_or_the_last_day(self, year: int, month: int, expected: date) -> None:
        assert callback_plan_deadline_day(year=year, month=month) == expected

    def test_next_deadline_is_for_next_month(self) -> None:
        deadline = next_plan_deadline(plan="callback", after=sh(2025, 10, 30, 23, 59))
        assert deadline.deadline_day == date(2025, 10, 30)
        assert deadline.period == "2025-11"
        assert deadline.due_by == sh(2025, 10, 31)

    def test_after_the_30th_ends_the_next_month_counts(self) -> None:
        deadline = next_plan_deadline(plan="callback", after=sh(2025, 10, 31))
        assert (deadline.deadline_day, deadline.period) == (date(2025, 11, 30), "2025-12")

    def test_december_plans_january(self) -> None:
        deadline = next_plan_deadline(plan="callback", after=sh(2025, 12, 1))
        assert deadline.period == "2026-01"

    def test_reminders(self) -> None:
        reminders = next_plan_reminders(plan="callback", after=sh(2025, 10, 1))
        assert [r.at for r in reminders] == [sh(2025, 10, 27, 9), sh(2025, 10, 30, 9)]
        assert {r.deadline.period for r in reminders} == {"2025-11"}

    def test_reminders_roll_to_the_next_deadline_once_all_are_sent(self) -> None:
        reminders = next_plan_reminders(plan="callback", after=sh(2025, 10, 30, 9))
        assert [r.at for r in reminders] == [sh(2025, 11, 27, 9), sh(2025, 11, 30, 9)]

    def test_only_reminders_still_ahead(self) -> None:
        reminders = next_plan_reminders(plan="callback", after=sh(2025, 10, 28))
        assert [r.at for r in reminders] == [sh(2025, 10, 30, 9)]


class TestPromotionPlanDeadline:
    def test_every_friday_for_next_week(self) -> None:
        deadline = next_plan_deadline(plan="promotion", after=sh(2025, 10, 15, 8))  # a Wednesday
        assert deadline.deadline_day == date(2025, 10, 17)
        assert deadline.period == "2025-W43"  # the week of Monday 2025-10-20
        assert deadline.due_by == sh(2025, 10, 18)

    def test_friday_itself_until_midnight(self) -> None:
        assert next_plan_deadline(plan="promotion", after=sh(2025, 10, 17, 23)).deadline_day == date(2025, 10, 17)
        assert next_plan_deadline(plan="promotion", after=sh(2025, 10, 18)).deadline_day == date(2025, 10, 24)

    def test_reminders_thursday_and_friday_morning(self) -> None:
        reminders = next_plan_reminders(plan="promotion", after=sh(2025, 10, 15, 8))
        assert [r.at for r in reminders] == [sh(2025, 10, 16, 9), sh(2025, 10, 17, 9)]

    @given(
        after=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(SHANGHAI))
    )
    def test_always_the_coming_friday(self, after: datetime) -> None:
        deadline = next_plan_deadline(plan="promotion", after=after)
        assert deadline.deadline_day.isoweekday() == 5
        assert 0 <= (deadline.deadline_day - after.date()).days < 7
        reminders = next_plan_reminders(plan="promotion", after=after)
        assert reminders
        assert all(r.at > after for r in reminders)


class TestQuotasPolicyChecks:
    def test_max_below_min_is_refused(self) -> None:
        data: dict[str, Any] = load_policy("followup_scheduler", "quotas")
        data["promotion"]["max_multiple"] = 1
        with pytest.raises(PolicyError):
            parse_quotas_policy(data)

    def test_weekday_out_of_range_is_refused(self) -> None:
        data: dict[str, Any] = load_policy("followup_scheduler", "quotas")
        data["promotion_plan_deadline"]["iso_weekday"] = 8
        with pytest.raises(PolicyError):
            parse_quotas_policy(data)
