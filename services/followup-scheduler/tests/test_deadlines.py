"""Overdue escalation and its daily digest, promotion result reports (domain.md "Deadlines in one place", §5)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from followup_scheduler.deadlines import (
    overdue_digest_day,
    overdue_escalation_at,
    parse_deadlines_policy,
    promotion_result_due_at,
    promotion_result_is_late,
)
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.policy import PolicyError, load_policy


class TestOverdueEscalation:
    def test_escalated_24_hours_after_due(self) -> None:
        due = datetime(2025, 10, 13, 2, 0, tzinfo=UTC)
        assert overdue_escalation_at(due_at=due) == due + timedelta(hours=24)

    def test_naive_due_is_refused(self) -> None:
        with pytest.raises(ValueError):
            overdue_escalation_at(due_at=datetime(2025, 10, 13, 2, 0))


class TestPromotionResultReport:
    """domain.md §5: "reports each action's result within 2 days of carrying it out"."""

    def test_due_two_days_later_at_the_same_shanghai_time_even_over_a_holiday(self) -> None:
        acted = datetime(2025, 9, 30, 15, 0, tzinfo=SHANGHAI)  # the day before National Day
        assert promotion_result_due_at(action_at=acted) == datetime(2025, 10, 2, 15, 0, tzinfo=SHANGHAI)

    @given(
        acted=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
        after=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=5)),
    )
    def test_late_exactly_when_reported_after_two_days(self, acted: datetime, after: timedelta) -> None:
        late = promotion_result_is_late(action_at=acted, reported_at=acted + after)
        assert late == (after > timedelta(days=2))

    def test_a_bad_digest_time_is_refused(self) -> None:
        data = copy.deepcopy(load_policy("followup_scheduler", "deadlines"))
        data["overdue_digest"]["at_local_time"] = "25:00"
        with pytest.raises(PolicyError):
            parse_deadlines_policy(data)


class TestOverdueDigestDay:
    def test_the_shanghai_day_from_the_policy_time(self) -> None:
        policy = parse_deadlines_policy(
            {**load_policy("followup_scheduler", "deadlines"), "overdue_digest": {"at_local_time": "08:00"}}
        )
        morning = datetime(2026, 3, 2, 8, 0, tzinfo=SHANGHAI)
        assert overdue_digest_day(now=morning - timedelta(seconds=1), policy=policy) is None
        assert overdue_digest_day(now=morning, policy=policy) == morning.date()
        # The default, 00:00: every moment belongs to its Shanghai day (16:00 UTC is the next day there).
        assert overdue_digest_day(now=datetime(2026, 3, 2, 16, 0, tzinfo=UTC)) == morning.date() + timedelta(days=1)
