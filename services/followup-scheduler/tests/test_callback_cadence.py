"""After a callback outcome (domain.md §4): the next callback follows the customer's stated purchase horizon."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from followup_scheduler.callback_cadence import (
    cadence_policy,
    next_callback_by_horizon,
    parse_cadence_policy,
    window_near_at,
)
from followup_scheduler.outcomes import next_step_after_outcome
from followup_scheduler.timing import callback_days, timing_policy
from followup_scheduler.vocabulary import TIERS, Tier
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.policy import PolicyError, load_policy

from .conftest import CALENDAR, NO_SHIFT

DONE = datetime(2025, 10, 13, 10, 0, tzinfo=SHANGHAI)  # a Monday
# The longest run of non-working days a due date can be moved back over (the Spring Festival / National Day
# weeks with their weekends): a shifted due date is at most this much earlier than the table's.
LONGEST_SHIFT = timedelta(days=10)

# domain.md §4 defaults: (window in days, interval while the window is more than two months away).
CADENCE = {"within_6_months": (182, 30), "within_1_year": (365, 60)}
times = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(SHANGHAI))


class TestDefaults:
    @pytest.mark.parametrize("tier", TIERS)
    @pytest.mark.parametrize(("horizon", "every"), [("within_6_months", 30), ("within_1_year", 60)])
    def test_stated_today_the_next_call_is_the_interval_away(self, horizon: str, every: int, tier: Tier) -> None:
        task = next_callback_by_horizon(horizon=horizon, tier=tier, stated_at=DONE, now=DONE, calendar=NO_SHIFT)
        assert task is not None
        assert (task.kind, task.days, task.due_at) == ("callback", every, DONE + timedelta(days=every))
        assert f"every {every} days" in task.reason

    def test_the_call_lands_on_the_day_the_window_becomes_near(self) -> None:
        # Within a year, said 280 days ago: the window is near 305 days after it was said, 25 days from now.
        now = DONE + timedelta(days=280)
        task = next_callback_by_horizon(
            horizon="within_1_year", tier="retail", stated_at=DONE, now=now, calendar=NO_SHIFT
        )
        assert task is not None
        assert task.due_at == DONE + timedelta(days=305)

    @pytest.mark.parametrize("tier", TIERS)
    def test_once_the_window_is_near_the_more_than_a_month_row(self, tier: Tier) -> None:
        now = DONE + timedelta(days=130)  # within half a year, said 130 days ago: 52 days left
        task = next_callback_by_horizon(
            horizon="within_6_months", tier=tier, stated_at=DONE, now=now, calendar=NO_SHIFT
        )
        assert task is not None
        short = callback_days(situation="demand_over_one_month_reached", tier=tier)
        assert task.due_at == now + timedelta(days=short)

    def test_other_horizons_have_no_cadence_row(self) -> None:
        assert (
            next_callback_by_horizon(
                horizon="within_2_months", tier="retail", stated_at=DONE, now=DONE, calendar=NO_SHIFT
            )
            is None
        )

    @pytest.mark.parametrize("tier", TIERS)
    def test_the_outcome_table_uses_it(self, tier: Tier) -> None:
        step = next_step_after_outcome(
            outcome="within_1_year", tier=tier, completed_at=DONE, unreachable_count=0, calendar=NO_SHIFT
        )
        assert step.task is not None and step.task.due_at == DONE + timedelta(days=60)
        step = next_step_after_outcome(
            outcome="within_2_months", tier=tier, completed_at=DONE, unreachable_count=0, calendar=NO_SHIFT
        )
        assert step.task is not None
        assert step.task.days == callback_days(situation="demand_over_one_month_reached", tier=tier)


class TestProperties:
    @given(
        horizon=st.sampled_from(sorted(CADENCE)),
        tier=st.sampled_from(TIERS),
        stated_at=times,
        elapsed=st.integers(min_value=0, max_value=400),
    )
    def test_never_inside_the_short_interval_before_the_window_and_never_past_its_opening(
        self, horizon: str, tier: Tier, stated_at: datetime, elapsed: int
    ) -> None:
        window, every = CADENCE[horizon]
        now = stated_at + timedelta(days=elapsed)
        near = stated_at + timedelta(days=window - 60)
        task = next_callback_by_horizon(horizon=horizon, tier=tier, stated_at=stated_at, now=now, calendar=CALENDAR)
        assert task is not None and task.kind == "callback"
        assert task.due_at >= now  # never in the past
        short = callback_days(situation="demand_over_one_month_reached", tier=tier)
        if now >= near:
            assert task.due_at <= now + timedelta(days=short)  # near: the "more than a month" row
            return
        assert task.due_at <= near  # lands before the purchase window opens (calendar shifts only earlier)
        assert task.due_at <= now + timedelta(days=every)  # no less often than policy says ...
        if near - now >= timedelta(days=every):
            # ... and no more often: a full interval, less only what the calendar moves off holidays.
            assert task.due_at >= now + timedelta(days=every) - LONGEST_SHIFT
            assert task.due_at > now + timedelta(days=short)

    @given(tier=st.sampled_from(TIERS), completed_at=times)
    def test_a_customer_buying_next_year_is_never_called_every_few_days(
        self, tier: Tier, completed_at: datetime
    ) -> None:
        """Outcome after outcome of "within a year", the calls stay the interval apart."""
        at = completed_at
        for _ in range(4):
            step = next_step_after_outcome(
                outcome="within_1_year", tier=tier, completed_at=at, unreachable_count=0, calendar=CALENDAR
            )
            assert step.task is not None
            assert step.task.due_at - at >= timedelta(days=60) - LONGEST_SHIFT
            at = step.task.due_at

    @given(
        every=st.integers(min_value=1, max_value=400),
        window=st.integers(min_value=1, max_value=800),
        near=st.integers(min_value=0, max_value=120),
        elapsed=st.integers(min_value=0, max_value=900),
    )
    def test_any_table_keeps_the_call_between_now_and_the_window(
        self, every: int, window: int, near: int, elapsed: int
    ) -> None:
        data: dict[str, Any] = load_policy("followup_scheduler", "callback_cadence")
        data["near_within_days"] = near
        data["horizon"] = {"within_1_year": {"window_days": window, "every_days": every}}
        policy = parse_cadence_policy(data, timing=timing_policy())
        now = DONE + timedelta(days=elapsed)
        task = next_callback_by_horizon(
            horizon="within_1_year", tier="retail", stated_at=DONE, now=now, calendar=NO_SHIFT, policy=policy
        )
        near_at = window_near_at(horizon="within_1_year", stated_at=DONE, policy=policy)
        assert task is not None and near_at is not None
        assert task.due_at >= now
        if now < near_at:
            assert task.due_at <= min(near_at, now + timedelta(days=every))


class TestPolicyChecks:
    def test_the_file_in_force_parses(self) -> None:
        policy = cadence_policy()
        assert {h: (r.window_days, r.every_days) for h, r in policy.by_horizon.items()} == CADENCE
        assert (policy.near_row, policy.near_within_days) == ("demand_over_one_month_reached", 60)

    @pytest.mark.parametrize(
        "change",
        [
            {"near_row": "nowhere"},
            {"near_within_days": -1},
            {"horizon": {"next_decade": {"window_days": 1, "every_days": 1}}},
            {"horizon": {"within_1_year": {"window_days": 365, "every_days": 0}}},
        ],
    )
    def test_a_bad_file_is_refused(self, change: dict[str, Any]) -> None:
        data: dict[str, Any] = {**load_policy("followup_scheduler", "callback_cadence"), **change}
        with pytest.raises(PolicyError):
            parse_cadence_policy(data, timing=timing_policy())
