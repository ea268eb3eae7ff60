"""The plan drafts (domain.md §4-5: the seed's order, at least the quota) and the approval chain read from policy
(policy/work_plans.toml), cell by cell; pure rules, no database."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from followup_scheduler.ordering import ordering_policy
from followup_scheduler.plan_approval import (
    Stage,
    chain_for,
    dealer_channel,
    dealer_region,
    may_act,
    may_make,
    parse_work_plans_policy,
    work_plans_policy,
)
from followup_scheduler.plan_drafts import (
    Candidate,
    callback_plan_due_by,
    callback_quota,
    draft_callback_plan,
    draft_promotion_plan,
    intent_order_key,
    promotion_plan_due_by,
    promotion_week_quota,
    week_days,
)
from followup_scheduler.plan_rollup import weeks_of_month
from leadnet_shared.auth import Principal
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.policy import PolicyError, load_policy

TIERS = ("gold_silver", "general_big", "retail")
HORIZONS = ("within_1_week", "within_4_weeks", "within_2_months", "within_1_year", "uncertain", "none", None)


def candidate_strategy(
    month_days: tuple[date, date] = (date(2026, 12, 1), date(2026, 12, 31)),
) -> st.SearchStrategy[Candidate]:
    return st.builds(
        Candidate,
        customer_id=st.text("abcdef0123456789", min_size=1, max_size=6),
        lead_id=st.just("lead"),
        tier=st.sampled_from(TIERS),
        nature=st.sampled_from(("new", "own_brand", "competitor")),
        horizon=st.sampled_from(HORIZONS),
        reachable=st.booleans(),
        due=st.dates(min_value=date(2026, 11, 1), max_value=date(2027, 3, 31)),
    )


def rank(candidate: Candidate) -> tuple[int, int, int]:
    rules = ordering_policy()
    demand = candidate.horizon is not None and candidate.horizon in rules.demand_horizons
    return (0 if demand else 1, 0 if candidate.reachable else 1, rules.tier_rank[candidate.tier])


class TestCallbackDraft:
    @given(st.lists(candidate_strategy(), max_size=60), st.integers(min_value=0, max_value=80))
    def test_order_and_size(self, candidates: list[Candidate], quota: int) -> None:
        as_of = date(2026, 11, 25)
        lines = draft_callback_plan(candidates, month="2026-12", quota=quota, as_of=as_of)
        # customers due between the drawing day and the month are this month's work, in neither
        customers = {c.customer_id for c in candidates if not as_of <= c.due < date(2026, 12, 1)}
        # one line per customer; never under quota when enough customers exist
        assert len({line.customer_id for line in lines}) == len(lines)
        assert len(lines) >= min(quota, len(customers))
        # every customer due in the month (or overdue) is in it
        due = {c.customer_id for c in candidates if date(2026, 12, 1) <= c.due <= date(2026, 12, 31) or c.due < as_of}
        assert due <= {line.customer_id for line in lines}
        assert {line.customer_id for line in lines} <= customers
        # demand before reachable before big customer: the chosen candidate's rank never decreases
        chosen = {}

        def in_month(c: Candidate) -> bool:
            return date(2026, 12, 1) <= c.due <= date(2026, 12, 31) or c.due < as_of

        eligible = [c for c in candidates if in_month(c) or c.due > date(2026, 12, 31)]
        for c in sorted(eligible, key=lambda c: (not in_month(c), rank(c), c.due, c.customer_id)):
            chosen.setdefault(c.customer_id, c)
        ranks = [rank(chosen[line.customer_id]) for line in lines]
        assert ranks == sorted(ranks)
        # every target date inside the month
        assert all(date(2026, 12, 1) <= line.target_date <= date(2026, 12, 31) for line in lines)

    def test_periodic_lines_fill_up_to_the_quota_on_the_policy_day(self) -> None:
        later = [
            Candidate(f"c{i}", f"l{i}", "retail", "new", "within_1_year", True, date(2027, 2, 1)) for i in range(10)
        ]
        lines = draft_callback_plan(later, month="2026-12", quota=4, as_of=date(2026, 11, 25))
        assert len(lines) == 4
        assert {line.reason for line in lines} == {"periodic"}
        assert {line.target_date for line in lines} == {date(2026, 12, 15)}

    def test_demand_then_reachable_then_big(self) -> None:
        day = date(2026, 12, 10)
        cands = [
            Candidate("retail-demand", "l", "retail", "new", "within_2_months", True, day),
            Candidate("gold-nodemand", "l", "gold_silver", "new", "none", True, day),
            Candidate("gold-demand-unreached", "l", "gold_silver", "new", "within_2_months", False, day),
            Candidate("gold-demand", "l", "gold_silver", "new", "within_2_months", True, day),
        ]
        lines = draft_callback_plan(cands, month="2026-12", quota=0, as_of=date(2026, 11, 25))
        assert [line.customer_id for line in lines] == [
            "gold-demand",
            "retail-demand",
            "gold-demand-unreached",
            "gold-nodemand",
        ]


class TestPromotionDraft:
    @given(
        st.lists(candidate_strategy(), max_size=30),
        st.lists(candidate_strategy(), max_size=30),
        st.integers(min_value=0, max_value=50),
    )
    def test_every_one_month_demand_customer_and_the_quota(
        self, demand: list[Candidate], others: list[Candidate], quota: int
    ) -> None:
        lines = draft_promotion_plan(demand, others, week="2026-W50", quota=quota)
        planned = {line.customer_id for line in lines}
        assert {c.customer_id for c in demand} <= planned
        with_demand = {c.customer_id for c in others if rank(c)[0] == 0} | {c.customer_id for c in demand}
        assert len(lines) >= min(quota, len(with_demand))
        monday, sunday = week_days("2026-W50")
        assert all(monday <= line.target_date <= sunday for line in lines)
        # strongest intent first, then the bigger customer (by the candidate each line was drawn from)
        rules = ordering_policy()
        keys = [intent_order_key(_chosen(line.customer_id, demand, others), ordering=rules)[:2] for line in lines]
        assert keys == sorted(keys)


def _chosen(customer: str, demand: list[Candidate], others: list[Candidate]) -> Candidate:
    """The candidate the draft took for `customer`: its strongest demand-within-one-month one, else its strongest."""
    pool = [c for c in demand if c.customer_id == customer] or [c for c in others if c.customer_id == customer]
    return min(pool, key=lambda c: intent_order_key(c))


class TestQuotasAndDeadlines:
    def test_callback_quota_is_three_times_the_sales_plan(self) -> None:
        assert callback_quota(sales_plan=40) == 120

    def test_week_share_of_the_sales_plan_and_the_demand_floor(self) -> None:
        # December 2026 has 31 days: 2 x 31 x 7 / 31 = 14
        assert promotion_week_quota(sales_plan=31, week="2026-W50", demand_customers=3) == 14
        assert promotion_week_quota(sales_plan=31, week="2026-W50", demand_customers=20) == 20

    def test_callback_plan_due_by_the_end_of_the_30th_before(self) -> None:
        assert callback_plan_due_by("2026-12") == datetime(2026, 12, 1, tzinfo=SHANGHAI)
        assert callback_plan_due_by("2027-01") == datetime(2026, 12, 31, tzinfo=SHANGHAI)
        assert callback_plan_due_by("2027-03") == datetime(2027, 3, 1, tzinfo=SHANGHAI)  # February: its last day

    def test_promotion_plan_due_by_the_friday_before(self) -> None:
        # 2026-W50 starts Monday 7 December; the Friday before is 4 December
        assert promotion_plan_due_by("2026-W50") == datetime(2026, 12, 5, tzinfo=SHANGHAI)

    def test_weeks_of_a_month_are_those_of_its_thursdays(self) -> None:
        assert weeks_of_month("2026-12") == ["2026-W49", "2026-W50", "2026-W51", "2026-W52", "2026-W53"]
        assert weeks_of_month("2027-01")[0] == "2027-W01"


def p(role: str, position: str | None = None, dealer: str | None = None, regions: tuple[str, ...] = ()) -> Principal:
    return Principal(sub="someone", role=role, dealer=dealer, position=position, regions=regions)  # type: ignore[arg-type]


class TestApprovalChain:
    def test_the_chain_per_tier_from_policy(self) -> None:
        names = {tier: [stage.name for stage in chain_for([tier])] for tier in TIERS}
        assert names["retail"] == ["dealer_review", "dealer_approval"]
        assert names["general_big"] == ["dealer_review", "dealer_approval", "market_approval"]
        assert names["gold_silver"] == [
            "dealer_review",
            "dealer_approval",
            "market_approval",
            "regional_review",
            "department_approval",
        ]
        # a mixed plan takes the longest chain its lines need
        assert chain_for(["retail", "gold_silver"]) == chain_for(["gold_silver"])

    @pytest.mark.parametrize(
        ("stage", "allowed"),
        [
            ("dealer_review", {"customer_manager"}),
            ("dealer_approval", {"general_manager"}),
            ("market_approval", {"market_manager"}),
            ("regional_review", {"regional_manager"}),
            ("department_approval", {"department_head"}),
        ],
    )
    def test_who_acts_at_each_stage(self, stage: str, allowed: set[str]) -> None:
        found: Stage = next(s for s in work_plans_policy().stages if s.name == stage)
        side_role = "dealer" if found.side == "dealer" else "hq_analyst"
        positions = (
            ("general_manager", "brand_manager", "customer_manager", "marketing_consultant", "plan_clerk")
            if found.side == "dealer"
            else ("info_processor", "market_manager", "regional_manager", "department_head", "salesman")
        )
        for position in positions:
            assert may_act(p(side_role, position, "D1" if side_role == "dealer" else None), found) == (
                position in allowed
            ), position
        # without a position: a dealer token acts at dealer stages, hq_admin at HQ stages, hq_analyst nowhere
        assert may_act(p("dealer", None, "D1"), found) == (found.side == "dealer")
        assert may_act(p("hq_admin"), found) == (found.side == "hq")
        assert not may_act(p("hq_analyst"), found)

    def test_makers(self) -> None:
        assert may_make(p("dealer", "plan_clerk", "D1"))
        assert may_make(p("dealer", None, "D1"))
        assert not may_make(p("dealer", "marketing_consultant", "D1"))
        assert not may_make(p("hq_admin"))

    def test_a_chain_must_end_with_an_approval(self) -> None:
        data = load_policy("followup_scheduler", "work_plans")
        data["stage"] = [stage for stage in data["stage"] if stage["name"] != "department_approval"]
        with pytest.raises(PolicyError):
            parse_work_plans_policy(data)

    def test_region_and_channel(self) -> None:
        assert dealer_region(["370102", "13"]) == "37"
        assert dealer_region([]) is None
        assert dealer_channel(["tractor"]) == "heavy_truck"
        assert dealer_channel(["unknown"]) == "general"
