"""The staff matrix and the method matrix (domain.md §4 "Who calls", "How"; §5 staff table), cell by cell."""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from followup_scheduler.staffing import assignment_for, is_staffed, parse_staffing_policy, staffing_policy
from followup_scheduler.vocabulary import HORIZONS, NATURES, TIERS
from leadnet_shared.auth import DEALER_POSITIONS, HQ_POSITIONS
from leadnet_shared.policy import PolicyError, load_policy

# The staff matrix as policy/staffing.toml states it (a flagged reconstruction of the seed's star table):
# (kind, nature, tier) -> (dealer positions that call, first works the task; HQ positions that accompany).
STAFF: dict[tuple[str, str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("callback", "own_brand", "gold_silver"): (("general_manager", "brand_manager"), ("regional_manager",)),
    ("callback", "own_brand", "general_big"): (("customer_manager",), ("market_manager",)),
    ("callback", "own_brand", "retail"): (("marketing_consultant", "precall_agent"), ()),
    ("callback", "competitor", "gold_silver"): (
        ("general_manager", "brand_manager"),
        ("regional_manager", "market_manager"),
    ),
    ("callback", "competitor", "general_big"): (("customer_manager",), ("market_manager",)),
    ("callback", "competitor", "retail"): (("marketing_consultant", "precall_agent"), ()),
    ("callback", "new", "gold_silver"): (("general_manager", "brand_manager"), ()),
    ("callback", "new", "general_big"): (("customer_manager",), ()),
    ("callback", "new", "retail"): (("marketing_consultant", "precall_agent"), ()),
    **{
        ("promotion", nature, "gold_silver"): (
            ("general_manager", "brand_manager", "customer_manager"),
            ("regional_manager", "market_manager"),
        )
        for nature in NATURES
    },
    **{
        ("promotion", nature, "general_big"): (
            ("customer_manager", "marketing_consultant"),
            ("market_manager", "salesman"),
        )
        for nature in NATURES
    },
    **{("promotion", nature, "retail"): (("marketing_consultant",), ()) for nature in NATURES},
}

OD, PE = "on_demand", "periodic"
_BIG_OTHER = {  # competitor and new customers' gold/silver and general big rows
    "demand": (("visit", "product_event", "store_invitation", "phone"), OD),
    "uncertain": (("phone", "product_event", "sms"), PE),
    "no_current_demand": (("letter_email", "sms"), PE),
}
_RETAIL_OTHER = {
    "demand": (("phone", "store_invitation", "product_event"), OD),
    "uncertain": (("phone", "sms"), PE),
    "no_current_demand": (("sms",), PE),
}
# The method matrix: (kind, nature, tier, demand) -> (methods, first preferred; periodic or on demand).
METHODS: dict[tuple[str, str, str, str], tuple[tuple[str, ...], str]] = {
    ("callback", "own_brand", "gold_silver", "demand"): (("visit", "thank_you_event", "store_invitation", "phone"), OD),
    ("callback", "own_brand", "gold_silver", "uncertain"): (("phone", "product_event", "sms"), PE),
    ("callback", "own_brand", "gold_silver", "no_current_demand"): (("letter_email", "sms"), PE),
    ("callback", "own_brand", "general_big", "demand"): (("visit", "store_invitation", "thank_you_event", "phone"), OD),
    ("callback", "own_brand", "general_big", "uncertain"): (("phone", "sms"), PE),
    ("callback", "own_brand", "general_big", "no_current_demand"): (("letter_email", "sms"), PE),
    ("callback", "own_brand", "retail", "demand"): (("phone", "store_invitation"), OD),
    ("callback", "own_brand", "retail", "uncertain"): (("phone", "sms"), PE),
    ("callback", "own_brand", "retail", "no_current_demand"): (("sms",), PE),
    **{
        ("callback", nature, tier, demand): cell
        for nature in ("competitor", "new")
        for tier in ("gold_silver", "general_big")
        for demand, cell in _BIG_OTHER.items()
    },
    **{
        ("callback", nature, "retail", demand): cell
        for nature in ("competitor", "new")
        for demand, cell in _RETAIL_OTHER.items()
    },
    **{
        ("promotion", nature, tier, "demand"): (("visit", "store_invitation", "product_event"), OD)
        for nature in NATURES
        for tier in ("gold_silver", "general_big")
    },
    **{("promotion", nature, "retail", "demand"): (("store_invitation", "phone"), OD) for nature in NATURES},
}

# The method matrix's column for each purchase horizon (None: the record has no purchase intent).
DEMAND_OF_HORIZON: dict[str | None, str] = {
    "within_1_week": "demand",
    "within_2_weeks": "demand",
    "within_3_weeks": "demand",
    "within_4_weeks": "demand",
    "within_2_months": "demand",
    "within_6_months": "demand",
    "within_1_year": "demand",
    "uncertain": "uncertain",
    "none": "no_current_demand",
    None: "uncertain",
}


def _policy_dict() -> dict[str, Any]:
    return load_policy("followup_scheduler", "staffing")


class TestStaffMatrix:
    def test_the_policy_has_exactly_these_cells(self) -> None:
        assert set(staffing_policy().staff) == set(STAFF)

    @pytest.mark.parametrize(("kind", "nature", "tier"), sorted(STAFF))
    def test_cell(self, kind: str, nature: str, tier: str) -> None:
        call, accompany = STAFF[(kind, nature, tier)]
        cell = staffing_policy().staff[(kind, nature, tier)]  # type: ignore[index]
        assert (cell.call, cell.accompany) == (call, accompany)
        for horizon in (*HORIZONS, None):
            got = assignment_for(kind=kind, nature=nature, tier=tier, horizon=horizon)
            assert (got.position, got.positions, got.accompany) == (call[0], call, accompany)

    def test_new_customers_have_no_hq_participant_on_callbacks(self) -> None:
        assert all(not assignment_for(kind="callback", nature="new", tier=t, horizon=None).accompany for t in TIERS)

    def test_competitors_gold_silver_get_one_more_hq_participant(self) -> None:
        own = assignment_for(kind="callback", nature="own_brand", tier="gold_silver", horizon=None)
        rival = assignment_for(kind="callback", nature="competitor", tier="gold_silver", horizon=None)
        assert len(rival.accompany) == len(own.accompany) + 1


class TestMethodMatrix:
    def test_the_policy_has_exactly_these_cells(self) -> None:
        assert set(staffing_policy().methods) == set(METHODS)

    @pytest.mark.parametrize(("kind", "nature", "tier", "demand"), sorted(METHODS))
    def test_cell(self, kind: str, nature: str, tier: str, demand: str) -> None:
        methods, mode = METHODS[(kind, nature, tier, demand)]
        cell = staffing_policy().methods[(kind, nature, tier, demand)]  # type: ignore[index]
        assert (cell.methods, cell.mode) == (methods, mode)

    @pytest.mark.parametrize("horizon", list(DEMAND_OF_HORIZON))
    def test_callback_demand_column_follows_the_horizon(self, horizon: str | None) -> None:
        for nature in NATURES:
            for tier in TIERS:
                got = assignment_for(kind="callback", nature=nature, tier=tier, horizon=horizon)
                methods, mode = METHODS[("callback", nature, tier, DEMAND_OF_HORIZON[horizon])]
                assert (got.demand, got.method, got.methods, got.mode) == (
                    DEMAND_OF_HORIZON[horizon],
                    methods[0],
                    methods,
                    mode,
                )

    def test_a_promotion_is_demand_whatever_the_record_says(self) -> None:
        for horizon in (*HORIZONS, None):
            got = assignment_for(kind="promotion", nature="new", tier="retail", horizon=horizon)
            assert (got.demand, got.method) == ("demand", "store_invitation")

    def test_only_own_customers_are_thanked(self) -> None:
        thanked = {key for key, (methods, _) in METHODS.items() if "thank_you_event" in methods}
        assert thanked and all(nature == "own_brand" for _, nature, _, _ in thanked)


@given(
    kind=st.sampled_from(["callback", "promotion"]),
    nature=st.sampled_from(NATURES),
    tier=st.sampled_from(TIERS),
    horizon=st.sampled_from([*HORIZONS, None]),
)
def test_every_assignment_names_a_caller_and_a_method_of_its_cells(
    kind: str, nature: str, tier: str, horizon: str | None
) -> None:
    got = assignment_for(kind=kind, nature=nature, tier=tier, horizon=horizon)
    assert got.position in DEALER_POSITIONS and set(got.accompany) <= set(HQ_POSITIONS)
    assert got.position == got.positions[0] and got.method == got.methods[0]
    assert got.policy_version == staffing_policy().version


class TestRefusals:
    @pytest.mark.parametrize("kind", ["maintenance", "repurchase", "sale_report", "recheck"])
    def test_kinds_the_seed_does_not_staff(self, kind: str) -> None:
        assert not is_staffed(kind)
        with pytest.raises(ValueError):
            assignment_for(kind=kind, nature="new", tier="retail", horizon=None)

    def test_unknown_nature_tier_horizon(self) -> None:
        with pytest.raises(ValueError):
            assignment_for(kind="callback", nature="alien", tier="retail", horizon=None)
        with pytest.raises(ValueError):
            assignment_for(kind="callback", nature="new", tier="platinum", horizon=None)
        with pytest.raises(ValueError):
            assignment_for(kind="callback", nature="new", tier="retail", horizon="someday")

    def test_the_file_quotes_domain_md(self) -> None:
        text = resources.files("followup_scheduler").joinpath("policy", "staffing.toml").read_text("utf-8")
        assert "按照職務等級" in text and "參陪人" in text and "FLAGGED RECONSTRUCTION" in text

    @pytest.mark.parametrize(
        "breakage",
        [
            lambda d: d["staff"]["callback"]["new"]["retail"].update(call=["janitor"]),
            lambda d: d["staff"]["callback"]["new"]["retail"].update(call=[]),
            lambda d: d["staff"]["callback"]["own_brand"]["gold_silver"].update(accompany=["general_manager"]),
            lambda d: d["staff"]["callback"].pop("competitor"),
            lambda d: d["staff"]["callback"]["new"].pop("retail"),
            lambda d: d["methods"]["callback"]["new"]["retail"].pop("uncertain"),
            lambda d: d["methods"]["callback"]["new"]["retail"]["demand"].update(methods=["fax"]),
            lambda d: d["methods"]["callback"]["new"]["retail"]["demand"].update(mode="sometimes"),
            lambda d: d["methods"].pop("promotion"),
            lambda d: d["demand_of_horizon"].pop("unknown"),
            lambda d: d["demand_of_horizon"].update(none="maybe"),
        ],
    )
    def test_a_bad_file_is_refused(self, breakage: Any) -> None:
        data = copy.deepcopy(_policy_dict())
        breakage(data)
        with pytest.raises(PolicyError):
            parse_staffing_policy(data)
