"""Overdue escalation and promotion result reports (domain.md "Deadlines in one place")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from followup_scheduler.business_calendar import BusinessCalendar
from followup_scheduler.deadlines import overdue_escalation_at, promotion_result_due_at
from leadnet_shared.clock import SHANGHAI

CALENDAR = BusinessCalendar(shift_off_non_working_days=True)


class TestOverdueEscalation:
    def test_escalated_24_hours_after_due(self) -> None:
        due = datetime(2025, 10, 13, 2, 0, tzinfo=UTC)
        assert overdue_escalation_at(due_at=due) == due + timedelta(hours=24)

    def test_naive_due_is_refused(self) -> None:
        with pytest.raises(ValueError):
            overdue_escalation_at(due_at=datetime(2025, 10, 13, 2, 0))


class TestPromotionResultReport:
    def test_within_two_days(self) -> None:
        done = datetime(2025, 10, 13, 16, 0, tzinfo=SHANGHAI)
        assert promotion_result_due_at(carried_out_at=done, calendar=CALENDAR) == done + timedelta(days=2)

    def test_not_moved_earlier_off_a_holiday(self) -> None:
        # 2025-09-30 + 2 days = 2025-10-02 (National Day): the report deadline stays there.
        done = datetime(2025, 9, 30, 16, 0, tzinfo=SHANGHAI)
        assert promotion_result_due_at(carried_out_at=done, calendar=CALENDAR) == done + timedelta(days=2)
