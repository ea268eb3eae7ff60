"""The outcome table of domain.md §4: what follows each callback outcome, and when."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from followup_scheduler.outcomes import next_step_after_outcome, outcomes_policy, parse_outcomes_policy
from followup_scheduler.timing import timing_policy
from followup_scheduler.vocabulary import TIERS, Outcome, Tier
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.policy import PolicyError, load_policy

from .conftest import CALENDAR, NO_SHIFT

# Monday 2025-10-13 10:00 Shanghai.
DONE = datetime(2025, 10, 13, 10, 0, tzinfo=SHANGHAI)


def _after(outcome: str, tier: str = "retail", *, unreachable: int = 0, at: datetime = DONE, **options: Any) -> Any:
    """The step after a callback completed with `outcome` at `at`, after `unreachable` failures in a row (no shift
    off non-working days unless `options` give a calendar)."""
    options = {"calendar": NO_SHIFT, **options}
    return next_step_after_outcome(
        outcome=outcome, tier=tier, completed_at=at, unreachable_count=unreachable, **options
    )


# outcome -> (next kind, days by tier) from domain.md §4 (callbacks) / §5 (promotion, "within 4 weeks"
# row) and the maintenance policy (first contact 7 days after a purchase).
EXPECTED: dict[Outcome, tuple[str, dict[Tier, int]]] = {
    "bought": ("maintenance", {"gold_silver": 7, "general_big": 7, "retail": 7}),
    "within_1_month": ("promotion", {"gold_silver": 3, "general_big": 5, "retail": 7}),
    "within_2_months": ("callback", {"gold_silver": 3, "general_big": 5, "retail": 7}),
    # domain.md §4 "After a callback outcome": every 30 / 60 days while the window is more than two months away.
    "within_6_months": ("callback", {"gold_silver": 30, "general_big": 30, "retail": 30}),
    "within_1_year": ("callback", {"gold_silver": 60, "general_big": 60, "retail": 60}),
    "no_demand": ("callback", {"gold_silver": 30, "general_big": 40, "retail": 20}),
    "unreachable": ("callback", {"gold_silver": 15, "general_big": 20, "retail": 30}),
}


class TestOutcomeTable:
    @pytest.mark.parametrize("tier", TIERS)
    @pytest.mark.parametrize("outcome", list(EXPECTED))
    def test_row(self, outcome: Outcome, tier: Tier) -> None:
        step = _after(outcome, tier)
        kind, days = EXPECTED[outcome]
        assert step.task is not None
        assert not step.close_lead_as_invalid
        assert step.task.kind == kind
        assert step.task.days == days[tier]
        assert step.task.due_at == DONE + timedelta(days=days[tier])
        assert step.policy_version == outcomes_policy().version

    def test_no_demand_uses_the_no_current_demand_interval(self) -> None:
        step = _after("no_demand", "general_big")
        assert step.task is not None
        assert "no current demand" in step.task.reason

    def test_shifted_off_holidays_like_first_tasks(self) -> None:
        # within_1_month, retail: 7 days after Friday 2025-09-26 = 2025-10-03 (holiday) -> Tuesday 2025-09-30.
        done = datetime(2025, 9, 26, 15, 0, tzinfo=SHANGHAI)
        step = _after("within_1_month", at=done, calendar=CALENDAR)
        assert step.task is not None
        assert step.task.due_at == datetime(2025, 9, 30, 15, 0, tzinfo=SHANGHAI)


class TestUnreachable:
    @pytest.mark.parametrize(("before", "after"), [(0, 1), (1, 2)])
    def test_another_callback_until_the_limit(self, before: int, after: int) -> None:
        step = _after("unreachable", unreachable=before)
        assert step.unreachable_streak == after
        assert not step.close_lead_as_invalid
        assert step.task is not None
        assert (step.task.kind, step.task.days) == ("callback", 30)
        assert f"unreachable {after} of 3" in step.reason

    @pytest.mark.parametrize("before", [2, 5])
    def test_third_consecutive_failure_closes_the_lead_as_invalid(self, before: int) -> None:
        step = _after("unreachable", "gold_silver", unreachable=before)
        assert step.close_lead_as_invalid
        assert step.task is None
        assert step.unreachable_streak == before + 1

    def test_any_answer_resets_the_streak(self) -> None:
        step = _after("within_1_year", unreachable=2)
        assert step.unreachable_streak == 0
        assert not step.close_lead_as_invalid

    def test_limit_is_policy(self) -> None:
        data: dict[str, Any] = load_policy("followup_scheduler", "outcomes")
        data["unreachable_close_after"] = 1
        policy = parse_outcomes_policy(data, timing=timing_policy())
        step = _after("unreachable", policy=policy)
        assert step.close_lead_as_invalid

    def test_negative_count_is_refused(self) -> None:
        with pytest.raises(ValueError):
            _after("unreachable", unreachable=-1)


class TestOutcomesPolicyChecks:
    def test_missing_outcome_is_refused(self) -> None:
        data: dict[str, Any] = load_policy("followup_scheduler", "outcomes")
        del data["outcome"]["no_demand"]
        with pytest.raises(PolicyError):
            parse_outcomes_policy(data, timing=timing_policy())

    def test_unknown_row_is_refused(self) -> None:
        data: dict[str, Any] = load_policy("followup_scheduler", "outcomes")
        data["outcome"]["within_1_month"]["row"] = "within_5_weeks"
        with pytest.raises(PolicyError):
            parse_outcomes_policy(data, timing=timing_policy())

    def test_limit_must_be_positive(self) -> None:
        data: dict[str, Any] = load_policy("followup_scheduler", "outcomes")
        data["unreachable_close_after"] = 0
        with pytest.raises(PolicyError):
            parse_outcomes_policy(data, timing=timing_policy())
