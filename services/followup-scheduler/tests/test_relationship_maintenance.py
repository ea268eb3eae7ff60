"""Relationship maintenance and repurchase reminders (domain.md §6), from the maintenance policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from followup_scheduler.relationship_maintenance import (
    first_maintenance_contact,
    maintenance_policy,
    next_maintenance_contact,
    repurchase_reminder,
)
from leadnet_shared.clock import SHANGHAI

from .conftest import NO_SHIFT

AS_OF = datetime(2025, 10, 13, 10, 0, tzinfo=SHANGHAI)


class TestMaintenance:
    def test_first_contact_a_week_after_purchase(self) -> None:
        task = first_maintenance_contact(purchased_at=AS_OF, calendar=NO_SHIFT)
        assert task.kind == "maintenance"
        assert task.due_at == AS_OF + timedelta(days=7)
        assert task.policy_version == maintenance_policy().version

    def test_periodic_contact(self) -> None:
        task = next_maintenance_contact(last_contact_at=AS_OF, calendar=NO_SHIFT)
        assert task.due_at == AS_OF + timedelta(days=90)


class TestRepurchase:
    def test_small_fleet_reviewed_yearly(self) -> None:
        task = repurchase_reminder(vehicles_in_use=2, oldest_vehicle_acquired_at=None, as_of=AS_OF, calendar=NO_SHIFT)
        assert task.kind == "repurchase"
        assert task.due_at == AS_OF + timedelta(days=365)

    def test_large_fleet_reviewed_twice_a_year(self) -> None:
        task = repurchase_reminder(vehicles_in_use=10, oldest_vehicle_acquired_at=None, as_of=AS_OF, calendar=NO_SHIFT)
        assert task.due_at == AS_OF + timedelta(days=180)
        assert "large fleet of 10" in task.reason

    def test_ageing_fleet_reminder_comes_first_when_earlier(self) -> None:
        acquired = AS_OF - timedelta(days=1825 - 90 - 30)  # reminder point 30 days from now
        task = repurchase_reminder(
            vehicles_in_use=2, oldest_vehicle_acquired_at=acquired, as_of=AS_OF, calendar=NO_SHIFT
        )
        assert task.due_at == AS_OF + timedelta(days=30)
        assert "replacement age" in task.reason

    def test_fleet_past_its_reminder_point_is_reminded_now(self) -> None:
        acquired = AS_OF - timedelta(days=3000)
        task = repurchase_reminder(
            vehicles_in_use=2, oldest_vehicle_acquired_at=acquired, as_of=AS_OF, calendar=NO_SHIFT
        )
        assert task.due_at == AS_OF.astimezone(UTC)
        assert "due now" in task.reason

    def test_negative_fleet_is_refused(self) -> None:
        with pytest.raises(ValueError):
            repurchase_reminder(vehicles_in_use=-1, oldest_vehicle_acquired_at=None, as_of=AS_OF, calendar=NO_SHIFT)
