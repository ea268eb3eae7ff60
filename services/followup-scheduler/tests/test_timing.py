"""Timing tables (domain.md §4 callbacks, §5 promotions) and the flow after processing (§3), cell by cell."""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from followup_scheduler.timing import (
    callback_days,
    first_task_for_lead,
    parse_timing_policy,
    promotion_days,
    timing_policy,
)
from followup_scheduler.vocabulary import HORIZONS, TIERS, CallbackSituation, PromotionHorizon, Tier
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.policy import PolicyError, load_policy

from .conftest import CALENDAR, NO_SHIFT

# domain.md §4, as printed (including the flagged retail "no current demand" = 20).
CALLBACK_TABLE: dict[CallbackSituation, dict[Tier, int]] = {
    "demand_over_one_month_reached": {"gold_silver": 3, "general_big": 5, "retail": 7},
    "uncertain": {"gold_silver": 7, "general_big": 15, "retail": 20},
    "not_yet_reached": {"gold_silver": 15, "general_big": 20, "retail": 30},
    "no_current_demand": {"gold_silver": 30, "general_big": 40, "retail": 20},
}
# domain.md §5.
PROMOTION_TABLE: dict[PromotionHorizon, dict[Tier, int]] = {
    "within_1_week": {"gold_silver": 2, "general_big": 3, "retail": 3},
    "within_2_weeks": {"gold_silver": 2, "general_big": 4, "retail": 5},
    "within_3_weeks": {"gold_silver": 3, "general_big": 5, "retail": 7},
    "within_4_weeks": {"gold_silver": 3, "general_big": 5, "retail": 7},
}
# domain.md §3 "flow after processing" as the brief reads it.
FLOW: dict[str | None, tuple[str, str]] = {
    "within_1_week": ("promotion", "within_1_week"),
    "within_2_weeks": ("promotion", "within_2_weeks"),
    "within_3_weeks": ("promotion", "within_3_weeks"),
    "within_4_weeks": ("promotion", "within_4_weeks"),
    "within_2_months": ("callback", "demand_over_one_month_reached"),
    "within_6_months": ("callback", "demand_over_one_month_reached"),
    "within_1_year": ("callback", "demand_over_one_month_reached"),
    "uncertain": ("callback", "uncertain"),
    "none": ("callback", "no_current_demand"),
    None: ("callback", "not_yet_reached"),
}

CALLBACK_CELLS = [(row, tier, days) for row, cells in CALLBACK_TABLE.items() for tier, days in cells.items()]
PROMOTION_CELLS = [(row, tier, days) for row, cells in PROMOTION_TABLE.items() for tier, days in cells.items()]


def sh(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def expected_days(horizon: str | None, tier: Tier) -> int:
    kind, row = FLOW[horizon]
    if kind == "promotion":
        return PROMOTION_TABLE[row][tier]  # type: ignore[index]
    return CALLBACK_TABLE[row][tier]  # type: ignore[index]


class TestCallbackTable:
    @pytest.mark.parametrize(("situation", "tier", "days"), CALLBACK_CELLS)
    def test_cell(self, situation: CallbackSituation, tier: Tier, days: int) -> None:
        assert callback_days(situation=situation, tier=tier) == days

    def test_flagged_retail_no_demand_value_is_kept_as_printed_and_flagged(self) -> None:
        assert callback_days(situation="no_current_demand", tier="retail") == 20
        text = resources.files("followup_scheduler").joinpath("policy", "timing.toml").read_text("utf-8")
        section = text[text.index("[callback.no_current_demand]") : text.index("[promotion.within_1_week]")]
        assert "FLAGGED" in section
        assert "retail = 20" in section


class TestPromotionTable:
    @pytest.mark.parametrize(("horizon", "tier", "days"), PROMOTION_CELLS)
    def test_cell(self, horizon: PromotionHorizon, tier: Tier, days: int) -> None:
        assert promotion_days(horizon=horizon, tier=tier) == days


class TestFlowAfterProcessing:
    @pytest.mark.parametrize("tier", TIERS)
    @pytest.mark.parametrize("horizon", [*HORIZONS, None])
    def test_first_task_kind_and_due(self, horizon: str | None, tier: Tier) -> None:
        routed_at = sh(2025, 10, 13, 10, 15)
        task = first_task_for_lead(tier=tier, horizon=horizon, routed_at=routed_at, calendar=NO_SHIFT)
        kind, _row = FLOW[horizon]
        days = expected_days(horizon, tier)
        assert task.kind == kind
        assert task.days == days
        assert task.due_at == routed_at + timedelta(days=days)
        assert task.policy_version == timing_policy().version

    def test_every_horizon_has_a_flow(self) -> None:
        assert set(FLOW) == {*HORIZONS, None}

    def test_reason_names_the_rule(self) -> None:
        task = first_task_for_lead(
            tier="gold_silver", horizon="uncertain", routed_at=sh(2025, 10, 13), calendar=CALENDAR
        )
        assert task.reason == "horizon uncertain -> callback 'uncertain' for gold_silver: due in 7 days"

    def test_missing_intent_is_not_yet_reached(self) -> None:
        task = first_task_for_lead(tier="retail", horizon=None, routed_at=sh(2025, 10, 13), calendar=CALENDAR)
        assert (task.kind, task.days) == ("callback", 30)
        assert "not yet reached" in task.reason

    def test_unknown_horizon_is_refused(self) -> None:
        with pytest.raises(ValueError):
            first_task_for_lead(tier="retail", horizon="someday", routed_at=sh(2025, 10, 13), calendar=CALENDAR)


class TestDueTimeOfDay:
    def test_same_shanghai_wall_clock_time(self) -> None:
        # Monday 2025-10-13 23:30 Shanghai (15:30 UTC) + 3 days = Thursday 23:30 Shanghai.
        task = first_task_for_lead(
            tier="gold_silver",
            horizon="within_4_weeks",
            routed_at=sh(2025, 10, 13, 23, 30),
            calendar=CALENDAR,
        )
        assert task.due_at == sh(2025, 10, 16, 23, 30)

    def test_due_on_a_holiday_moves_to_the_previous_working_day(self) -> None:
        # Retail within 1 week: 3 days. 2025-09-29 + 3 = 2025-10-02 (holiday) -> 2025-09-30.
        task = first_task_for_lead(
            tier="retail", horizon="within_1_week", routed_at=sh(2025, 9, 29, 9), calendar=CALENDAR
        )
        assert task.due_at == sh(2025, 9, 30, 9)
        assert task.table_due_at == sh(2025, 10, 2, 9)
        assert "moved earlier" in task.reason


class TestTimingPolicyChecks:
    def _data(self) -> dict[str, Any]:
        data: dict[str, Any] = load_policy("followup_scheduler", "timing")
        return data

    def test_missing_tier_is_refused(self) -> None:
        data = self._data()
        del data["callback"]["uncertain"]["retail"]
        with pytest.raises(PolicyError):
            parse_timing_policy(data)

    def test_flow_to_unknown_row_is_refused(self) -> None:
        data = self._data()
        data["flow"]["by_horizon"]["none"] = {"kind": "callback", "row": "never"}
        with pytest.raises(PolicyError):
            parse_timing_policy(data)

    def test_missing_horizon_is_refused(self) -> None:
        data = self._data()
        del data["flow"]["by_horizon"]["uncertain"]
        with pytest.raises(PolicyError):
            parse_timing_policy(data)

    def test_override_dir_wins(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        text = resources.files("followup_scheduler").joinpath("policy", "timing.toml").read_text("utf-8")
        changed = text.replace('version = "timing-', 'version = "hq-override-', 1).replace(
            "general_big = 40", "general_big = 35", 1
        )
        (tmp_path / "timing.toml").write_text(changed, encoding="utf-8")
        monkeypatch.setenv("LEADNET_POLICY_DIR", str(tmp_path))
        policy = parse_timing_policy(load_policy("followup_scheduler", "timing"))
        assert policy.version.startswith("hq-override-")
        assert policy.days(kind="callback", row="no_current_demand", tier="general_big") == 35


horizons = st.sampled_from([*HORIZONS, None])
tiers = st.sampled_from(TIERS)
routed = st.datetimes(min_value=datetime(2004, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(SHANGHAI))


class TestFirstTaskInvariants:
    @given(horizon=horizons, tier=tiers, routed_at=routed)
    def test_never_after_the_tables_days(self, horizon: str | None, tier: Tier, routed_at: datetime) -> None:
        task = first_task_for_lead(tier=tier, horizon=horizon, routed_at=routed_at, calendar=CALENDAR)
        days = expected_days(horizon, tier)
        assert routed_at <= task.due_at <= routed_at + timedelta(days=days)

    @given(horizon=horizons, tier=tiers, routed_at=routed)
    def test_on_a_working_day_when_the_switch_is_on(self, horizon: str | None, tier: Tier, routed_at: datetime) -> None:
        task = first_task_for_lead(tier=tier, horizon=horizon, routed_at=routed_at, calendar=CALENDAR)
        window = [routed_at.date() + timedelta(days=i) for i in range(task.days + 1)]
        due_day = task.due_at.astimezone(SHANGHAI).date()
        if any(CALENDAR.is_working_day(day) for day in window):
            assert CALENDAR.is_working_day(due_day)
        else:  # a task planned inside a holiday longer than its interval keeps the table's date
            assert task.due_at == task.table_due_at

    @given(horizon=horizons, tier=tiers, routed_at=routed)
    def test_exactly_the_table_when_the_switch_is_off(
        self, horizon: str | None, tier: Tier, routed_at: datetime
    ) -> None:
        task = first_task_for_lead(tier=tier, horizon=horizon, routed_at=routed_at, calendar=NO_SHIFT)
        assert task.due_at == routed_at + timedelta(days=expected_days(horizon, tier))
