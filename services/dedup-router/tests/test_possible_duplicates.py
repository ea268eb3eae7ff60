"""Possible duplicates: pinyin name + county, fleet + city, policy weights, warnings without personal data."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from dedup_router.possible_duplicates import (
    FLEET_CITY,
    NAME_COUNTY,
    DuplicateKeys,
    duplicate_keys,
    fleet_signature,
    name_pinyin,
    score_match,
    strongest_match,
)
from dedup_router.possible_duplicates import possible_duplicates_policy as policy


@dataclass(frozen=True)
class Vehicle:
    brand: str
    model: str
    quantity: int


FLEET = [Vehicle("欧曼", "EST 6", 2), Vehicle("欧曼", "GTL", 3)]


class TestNameKey:
    def test_tone_less_pinyin(self) -> None:
        assert name_pinyin("张三") == "zhangsan"
        assert name_pinyin(" 張 三 ") == "zhangsan"

    def test_simplified_traditional_and_homophones_meet_in_the_same_county(self) -> None:
        keys = {duplicate_keys(name=n, region_code="370782").name_county for n in ("张三", "張三", "章三")}
        assert len(keys) == 1

    def test_other_county_other_key(self) -> None:
        a = duplicate_keys(name="张三", region_code="370782")
        b = duplicate_keys(name="张三", region_code="370781")
        assert a.name_county != b.name_county

    def test_key_holds_no_readable_name(self) -> None:
        key = duplicate_keys(name="张三", region_code="370782").name_county
        assert key is not None and key.startswith("name_county:")
        assert "zhang" not in key and "张" not in key

    def test_no_name_no_key(self) -> None:
        assert duplicate_keys(name=None, region_code="370782").name_county is None
        assert duplicate_keys(name=" ·", region_code="370782").name_county is None


class TestFleetKey:
    def test_order_spacing_and_case_do_not_matter(self) -> None:
        a = duplicate_keys(name=None, region_code="370782", vehicles=FLEET)
        b = duplicate_keys(
            name=None,
            region_code="370782",
            vehicles=[Vehicle("欧曼", "gtl", 3), Vehicle("歐曼 ", "ＥＳＴ-6", 2)],
        )
        assert a.fleet_city is not None
        assert a.fleet_city == b.fleet_city

    def test_lines_of_the_same_model_are_added_up(self) -> None:
        split = [Vehicle("欧曼", "EST 6", 1), Vehicle("欧曼", "GTL", 3), Vehicle("欧曼", "EST6", 1)]
        assert fleet_signature(split) == fleet_signature(FLEET) == (("ouman", "est6", 2), ("ouman", "gtl", 3))

    def test_same_city_other_county_matches(self) -> None:
        a = duplicate_keys(name=None, region_code="370782", vehicles=FLEET)
        b = duplicate_keys(name=None, region_code="370702", vehicles=FLEET)
        assert a.fleet_city == b.fleet_city

    def test_brand_counts(self) -> None:
        other = [Vehicle("解放", "EST 6", 2), Vehicle("欧曼", "GTL", 3)]
        assert fleet_signature(other) != fleet_signature(FLEET)

    def test_other_city_or_other_quantity_does_not(self) -> None:
        a = duplicate_keys(name=None, region_code="370782", vehicles=FLEET)
        assert a.fleet_city != duplicate_keys(name=None, region_code="371002", vehicles=FLEET).fleet_city
        more = [Vehicle("欧曼", "EST 6", 3), Vehicle("欧曼", "GTL", 3)]
        assert a.fleet_city != duplicate_keys(name=None, region_code="370782", vehicles=more).fleet_city

    def test_a_single_truck_is_too_common_to_key(self) -> None:
        assert policy()["fleet"]["min_total_quantity"] == 2
        one = duplicate_keys(name=None, region_code="370782", vehicles=[Vehicle("欧曼", "EST 6", 1)])
        assert one.fleet_city is None
        assert duplicate_keys(name=None, region_code="370782", vehicles=[]).fleet_city is None

    def test_threshold_comes_from_policy(self) -> None:
        loose = {**policy(), "fleet": {"min_total_quantity": 1, "city_prefix_length": 4}}
        one = duplicate_keys(name=None, region_code="370782", vehicles=[Vehicle("欧曼", "EST 6", 1)], policy=loose)
        assert one.fleet_city is not None


NEW = duplicate_keys(name="张三", region_code="370782", vehicles=FLEET)


class TestScore:
    def test_both_keys_sum_and_cap_at_one(self) -> None:
        m = score_match(new=NEW, existing=duplicate_keys(name="張三", region_code="370782", vehicles=FLEET))
        assert m.matched == (NAME_COUNTY, FLEET_CITY)
        assert m.strength == 1.0  # 0.6 + 0.5, capped
        assert m.warn

    def test_name_only_is_0_6(self) -> None:
        m = score_match(new=NEW, existing=duplicate_keys(name="张三", region_code="370782"))
        assert (m.matched, m.strength, m.warn) == ((NAME_COUNTY,), 0.6, True)

    def test_fleet_only_is_0_5_and_reaches_the_threshold(self) -> None:
        m = score_match(new=NEW, existing=duplicate_keys(name="李四", region_code="370702", vehicles=FLEET))
        assert (m.matched, m.strength, m.warn) == ((FLEET_CITY,), 0.5, True)
        assert m.warning is not None
        assert m.warning["code"] == "possible_duplicate"
        assert "same fleet" in m.warning["message"]
        assert "0.50" in m.warning["message"]

    def test_nothing_in_common_no_warning(self) -> None:
        m = score_match(new=NEW, existing=duplicate_keys(name="李四", region_code="370782"))
        assert (m.matched, m.strength, m.warn, m.warning) == ((), 0.0, False, None)

    def test_missing_keys_never_match_each_other(self) -> None:
        empty = DuplicateKeys(name_county=None, fleet_city=None)
        assert score_match(new=empty, existing=empty).matched == ()

    def test_strongest_candidate_wins_ties_to_lowest_id(self) -> None:
        candidates = {
            "c3": duplicate_keys(name="张三", region_code="370782"),
            "c2": duplicate_keys(name="张三", region_code="370782", vehicles=FLEET),
            "c1": duplicate_keys(name="张三", region_code="370782", vehicles=FLEET),
            "c0": duplicate_keys(name="王五", region_code="370782"),
        }
        best = strongest_match(new=NEW, candidates=candidates)
        assert best is not None and best[0] == "c1" and best[1].strength == 1.0
        assert strongest_match(new=NEW, candidates={"c0": candidates["c0"]}) is None


_key = st.sampled_from([None, "a", "b"])
_keys = st.builds(DuplicateKeys, name_county=_key, fleet_city=_key)


class TestStrongestMatchIsTheBestScore:
    """strongest_match scores candidates without writing their warnings; it must pick what scoring each would."""

    @given(
        new=_keys,
        candidates=st.dictionaries(st.text("c0123", min_size=1, max_size=3), _keys, max_size=8),
        name_weight=st.sampled_from([0.3, 0.5, 0.6]),
        fleet_weight=st.sampled_from([0.3, 0.5, 0.7]),
        warn=st.sampled_from([0.3, 0.5, 0.9]),
    )
    def test_highest_strength_then_lowest_id(
        self,
        new: DuplicateKeys,
        candidates: dict[str, DuplicateKeys],
        name_weight: float,
        fleet_weight: float,
        warn: float,
    ) -> None:
        rules = {
            **policy(),
            "weights": {NAME_COUNTY: name_weight, FLEET_CITY: fleet_weight},
            "thresholds": {"warn": warn},
        }
        scored = [(cid, score_match(new=new, existing=k, policy=rules)) for cid, k in candidates.items()]
        warned = [(cid, m) for cid, m in scored if m.warn]
        best = strongest_match(new=new, candidates=candidates, policy=rules)
        if not warned:
            assert best is None
            return
        top = max(m.strength for _, m in warned)
        assert best == min((cid, m) for cid, m in warned if m.strength == top)


class TestWarningHasNoPersonalData:
    @given(
        name=st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=2, max_size=4),
        phone=st.from_regex(r"1[3-9]\d{9}", fullmatch=True),
    )
    def test_neither_name_pinyin_nor_phone_appear(self, name: str, phone: str) -> None:
        keys = duplicate_keys(name=name, region_code="370782", vehicles=FLEET)
        m = score_match(new=keys, existing=keys)
        assert m.warning is not None
        message = m.warning["message"]
        for secret in (name, name_pinyin(name), phone, phone[-4:], "370782"):
            assert secret not in message
        for key in (keys.name_county, keys.fleet_city):
            assert key is not None and name not in key and name_pinyin(name) not in key
