"""Overdue escalation (domain.md "Deadlines in one place")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from followup_scheduler.deadlines import overdue_escalation_at


class TestOverdueEscalation:
    def test_escalated_24_hours_after_due(self) -> None:
        due = datetime(2025, 10, 13, 2, 0, tzinfo=UTC)
        assert overdue_escalation_at(due_at=due) == due + timedelta(hours=24)

    def test_naive_due_is_refused(self) -> None:
        with pytest.raises(ValueError):
            overdue_escalation_at(due_at=datetime(2025, 10, 13, 2, 0))
