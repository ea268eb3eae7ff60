"""The retention policy (policy/retention.toml) is checked when read: a bad file stops the worker, never clears
notes early."""

from __future__ import annotations

from datetime import timedelta

import pytest

from followup_scheduler.retention import notes_retention, parse_retention_policy
from leadnet_shared.policy import PolicyError


class TestRetentionPolicy:
    def test_the_shipped_policy_keeps_notes_400_days(self) -> None:
        policy = notes_retention()
        assert policy.keep == timedelta(days=400)
        assert policy.batch > 0 and policy.interval_seconds > 0

    @pytest.mark.parametrize("keep_days", [0, -1, "400", 1.5, True])
    def test_a_keep_days_that_is_no_positive_whole_number_is_refused(self, keep_days: object) -> None:
        with pytest.raises(PolicyError):
            parse_retention_policy(
                {"version": "x", "notes": {"keep_days": keep_days, "batch": 10, "interval_seconds": 60}}
            )

    def test_a_missing_notes_table_is_refused(self) -> None:
        with pytest.raises(PolicyError):
            parse_retention_policy({"version": "x"})
