"""Cross-region verdicts and the big customer's one-calendar-month protection."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dedup_router.cross_region import (
    CROSS_REGION_BIG_PROTECTED,
    CROSS_REGION_RETAIL,
    HQ_ENTRY,
    HQ_QUEUE,
    IN_REGION,
    Assignment,
    add_calendar_months,
    decide_assignment,
    is_cross_region,
    is_protected,
    needs_authorized_dealer,
    protection_until,
)
from dedup_router.territories import DealerProfile
from leadnet_shared.clock import SHANGHAI


def dealer(code: str, territories: tuple[str, ...], lines: tuple[str, ...] = ("tractor",)) -> DealerProfile:
    return DealerProfile.build(code=code, territories=territories, product_lines=lines, capability=50)


# D001 holds Weifang (3707); D002 holds Jinan (3701). The customer is in Zhucheng, 370782.
WEIFANG = dealer("D001", ("3707",))
JINAN = dealer("D002", ("3701",))
ENTERED = datetime(2026, 3, 10, 9, 30, tzinfo=SHANGHAI)


def shanghai(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


def assign(
    *,
    entering: DealerProfile | None,
    authorized: DealerProfile | None,
    region: str = "370782",
    tier: str = "retail",
    entered_at: datetime = ENTERED,
) -> Assignment:
    """The verdict for a tractor lead of the Zhucheng customer (or `region`), entered by `entering`."""
    return decide_assignment(
        entering_dealer=entering,
        region_code=region,
        product_line="tractor",
        tier=tier,
        entered_at=entered_at,
        authorized_dealer=authorized,
    )


class TestProtectionMonth:
    @pytest.mark.parametrize(
        ("entered", "until"),
        [
            (shanghai(2026, 3, 10), shanghai(2026, 4, 10)),
            (shanghai(2026, 1, 31), shanghai(2026, 2, 28)),  # clamped to February's last day
            (shanghai(2028, 1, 31), shanghai(2028, 2, 29)),  # leap year
            (shanghai(2026, 3, 31), shanghai(2026, 4, 30)),
            (shanghai(2026, 8, 31), shanghai(2026, 9, 30)),
            (shanghai(2026, 12, 15), shanghai(2027, 1, 15)),  # across the year
            (shanghai(2026, 12, 31), shanghai(2027, 1, 31)),
            (shanghai(2028, 2, 29), shanghai(2028, 3, 29)),
            (shanghai(2026, 2, 28, 23, 59), shanghai(2026, 3, 28, 23, 59)),
        ],
    )
    def test_same_local_time_one_calendar_month_later(self, entered: datetime, until: datetime) -> None:
        assert protection_until(entered) == until

    def test_counted_in_shanghai_not_utc(self) -> None:
        # 2026-01-31 16:30 UTC is already 1 February 00:30 in Shanghai: the month ends on 1 March, not 28 Feb.
        result = protection_until(datetime(2026, 1, 31, 16, 30, tzinfo=UTC))
        assert result == shanghai(2026, 3, 1, 0, 30)
        assert result.astimezone(UTC) == datetime(2026, 2, 28, 16, 30, tzinfo=UTC)
        assert result.utcoffset() == timedelta(hours=8)

    def test_naive_time_is_refused(self) -> None:
        with pytest.raises(ValueError):
            protection_until(datetime(2026, 3, 10, 9, 30))

    def test_period_is_half_open(self) -> None:
        until = protection_until(ENTERED)
        assert is_protected(protection_until=until, at=ENTERED)
        assert is_protected(protection_until=until, at=until - timedelta(microseconds=1))
        assert not is_protected(protection_until=until, at=until)
        assert not is_protected(protection_until=None, at=ENTERED)

    @given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC)))
    def test_between_28_and_31_days_same_wall_clock(self, entered: datetime) -> None:
        until = protection_until(entered)
        local = entered.astimezone(SHANGHAI)
        assert timedelta(days=28) <= until - entered <= timedelta(days=31)
        assert until.time() == local.time()
        assert until.day == min(local.day, calendar.monthrange(until.year, until.month)[1])
        assert (until.year * 12 + until.month) - (local.year * 12 + local.month) == 1

    def test_add_calendar_months_by_twelve_keeps_the_date(self) -> None:
        assert add_calendar_months(shanghai(2026, 5, 31), 12) == shanghai(2027, 5, 31)
        assert add_calendar_months(shanghai(2026, 5, 31), 1) == shanghai(2026, 6, 30)


class TestInRegion:
    def test_authorized_entrant_keeps_its_record(self) -> None:
        a = assign(entering=WEIFANG, tier="gold_silver", authorized=None)
        assert (a.assigned_dealer, a.authorized_dealer, a.cross_region, a.rule) == ("D001", "D001", False, IN_REGION)
        assert a.protection_until is None
        assert not a.reward_eligible
        assert not needs_authorized_dealer(entering_dealer=WEIFANG, region_code="370782", product_line="tractor")


class TestCrossRegionRetail:
    def test_goes_to_the_authorized_dealer_at_once_and_may_earn_the_fee(self) -> None:
        assert is_cross_region(entering_dealer=JINAN, region_code="370782", product_line="tractor")
        a = assign(entering=JINAN, authorized=WEIFANG)
        assert (a.assigned_dealer, a.authorized_dealer, a.cross_region) == ("D001", "D001", True)
        assert a.rule == CROSS_REGION_RETAIL
        assert a.protection_until is None
        assert a.reward_eligible

    def test_product_line_not_authorized_is_cross_region_in_its_own_territory(self) -> None:
        dump_only = dealer("D003", ("3707",), ("dump",))
        assert is_cross_region(entering_dealer=dump_only, region_code="370782", product_line="tractor")
        a = assign(entering=dump_only, authorized=WEIFANG)
        assert (a.assigned_dealer, a.cross_region) == ("D001", True)

    def test_no_authorized_dealer_means_the_hq_queue(self) -> None:
        a = assign(entering=JINAN, region="110101", authorized=None)
        assert a.assigned_dealer is None
        assert a.in_hq_queue
        assert a.rule == HQ_QUEUE
        assert a.cross_region


class TestCrossRegionBigCustomer:
    @pytest.mark.parametrize("tier", ["general_big", "gold_silver"])
    def test_first_entrant_keeps_it_for_one_calendar_month(self, tier: str) -> None:
        a = assign(entering=JINAN, tier=tier, authorized=WEIFANG)
        assert (a.assigned_dealer, a.authorized_dealer, a.cross_region) == ("D002", "D001", True)
        assert a.rule == CROSS_REGION_BIG_PROTECTED
        assert a.protection_until == shanghai(2026, 4, 10, 9, 30)
        assert not a.reward_eligible
        assert a.dealer_at(shanghai(2026, 4, 10, 9, 29)) == "D002"
        assert a.dealer_at(shanghai(2026, 4, 10, 9, 30)) == "D001"

    def test_without_an_authorized_dealer_it_goes_to_the_hq_queue_after_protection(self) -> None:
        a = assign(entering=JINAN, region="110101", tier="general_big", authorized=None)
        assert a.assigned_dealer == "D002"
        assert a.dealer_at(shanghai(2026, 4, 11)) is None


class TestHqEntry:
    @given(tier=st.sampled_from(["retail", "general_big", "gold_silver"]))
    def test_routed_like_the_rest_never_cross_region_never_rewarded(self, tier: str) -> None:
        a = assign(entering=None, tier=tier, authorized=WEIFANG)
        assert (a.assigned_dealer, a.authorized_dealer, a.rule) == ("D001", "D001", HQ_ENTRY)
        assert not a.cross_region
        assert not a.reward_eligible
        assert a.protection_until is None

    def test_hq_entry_without_authorized_dealer_waits_in_the_queue(self) -> None:
        a = assign(entering=None, region="110101", authorized=None)
        assert a.in_hq_queue
        assert a.as_dict() == {
            "assigned_dealer": None,
            "authorized_dealer": None,
            "cross_region": False,
            "protection_until": None,
            "rule": HQ_QUEUE,
            "reward_eligible": False,
        }


class TestGuards:
    def test_authorized_dealer_must_really_be_authorized(self) -> None:
        with pytest.raises(ValueError):
            assign(entering=None, authorized=JINAN)

    def test_entry_time_must_be_aware(self) -> None:
        with pytest.raises(ValueError):
            assign(entering=JINAN, entered_at=datetime(2026, 3, 10), authorized=WEIFANG)
