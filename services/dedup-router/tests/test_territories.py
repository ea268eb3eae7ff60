"""Territory matching: longest prefix, product line, withdrawn dealers, order independence, scale."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dedup_router.territories import (
    DealerProfile,
    TerritoryIndex,
    authorized_candidates,
    is_authorized,
    normalize_territory,
    territory_problems,
)


def dealer(
    code: str,
    territories: tuple[str, ...],
    lines: tuple[str, ...] = ("tractor",),
    capability: int = 50,
    *,
    withdrawn: bool = False,
) -> DealerProfile:
    return DealerProfile.build(
        code=code, territories=territories, product_lines=lines, capability=capability, withdrawn=withdrawn
    )


# Zhucheng (诸城市) is 370782 in Weifang (3707), Shandong (37).
COUNTY = dealer("D001", ("370782",))
CITY = dealer("D002", ("3707",))
PROVINCE = dealer("D003", ("37",))
NETWORK = [PROVINCE, CITY, COUNTY]


class TestLongestPrefixWins:
    def test_county_dealer_beats_city_and_province(self) -> None:
        match = authorized_candidates(region_code="370782", product_line="tractor", dealers=NETWORK)
        assert match.codes == ("D001",)
        assert match.prefix == "370782"
        assert match.pool == ("370782", "tractor")

    def test_other_county_of_the_city_goes_to_the_city_dealer(self) -> None:
        match = authorized_candidates(region_code="370781", product_line="tractor", dealers=NETWORK)
        assert match.codes == ("D002",)
        assert match.prefix == "3707"

    def test_other_city_of_the_province_goes_to_the_province_dealer(self) -> None:
        match = authorized_candidates(region_code="371002", product_line="tractor", dealers=NETWORK)
        assert match.codes == ("D003",)
        assert match.prefix == "37"

    def test_no_territory_no_candidate(self) -> None:
        match = authorized_candidates(region_code="110101", product_line="tractor", dealers=NETWORK)
        assert match.codes == ()
        assert match.prefix is None
        assert match.pool is None

    def test_dealers_sharing_the_longest_prefix_are_all_candidates_sorted_by_code(self) -> None:
        dealers = [dealer("D009", ("3707",)), CITY, PROVINCE]
        match = authorized_candidates(region_code="370781", product_line="tractor", dealers=dealers)
        assert match.codes == ("D002", "D009")


class TestProductLine:
    def test_county_dealer_without_the_line_falls_back_to_the_city_dealer(self) -> None:
        dump_only = dealer("D001", ("370782",), ("dump",))
        match = authorized_candidates(region_code="370782", product_line="tractor", dealers=[dump_only, CITY])
        assert match.codes == ("D002",)
        match = authorized_candidates(region_code="370782", product_line="dump", dealers=[dump_only, CITY])
        assert match.codes == ("D001",)

    def test_nobody_sells_the_line(self) -> None:
        match = authorized_candidates(region_code="370782", product_line="mixer", dealers=NETWORK)
        assert match.codes == ()


class TestWithdrawnDealer:
    def test_withdrawn_dealer_is_never_a_candidate(self) -> None:
        gone = dealer("D001", ("370782",), withdrawn=True)
        match = authorized_candidates(region_code="370782", product_line="tractor", dealers=[gone, CITY])
        assert match.codes == ("D002",)

    def test_excluded_code_is_left_out_of_the_index(self) -> None:
        index = TerritoryIndex.build(NETWORK, exclude=("D001",))
        assert index.candidates(region_code="370782", product_line="tractor").codes == ("D002",)

    def test_same_code_twice_is_refused(self) -> None:
        with pytest.raises(ValueError, match="listed twice"):
            TerritoryIndex.build([CITY, CITY])


class TestIsAuthorized:
    def test_any_matching_territory_with_the_line(self) -> None:
        assert is_authorized(PROVINCE, "370782", "tractor")
        assert is_authorized(CITY, "370782", "tractor")
        assert not is_authorized(CITY, "371002", "tractor")
        assert not is_authorized(CITY, "370782", "dump")

    def test_withdrawn_dealer_is_not_authorized(self) -> None:
        assert not is_authorized(dealer("D005", ("37",), withdrawn=True), "370782", "tractor")

    def test_region_code_must_be_six_digits(self) -> None:
        with pytest.raises(ValueError):
            is_authorized(CITY, "3707", "tractor")
        with pytest.raises(ValueError):
            authorized_candidates(region_code="37078x", product_line="tractor", dealers=NETWORK)


class TestTerritoryForms:
    @pytest.mark.parametrize(
        ("raw", "normalized"),
        [("370000", "37"), ("370700", "3707"), ("370782", "370782"), ("469000", "4690"), ("3707", "3707")],
    )
    def test_full_adcode_of_a_province_or_city_becomes_its_prefix(self, raw: str, normalized: str) -> None:
        assert normalize_territory(raw) == normalized

    def test_city_written_as_full_adcode_matches_as_city(self) -> None:
        d = dealer("D002", ("370700",))
        assert d.territories == frozenset({"3707"})
        assert is_authorized(d, "370782", "tractor")

    def test_a_profile_with_a_bad_territory_cannot_be_built(self) -> None:
        with pytest.raises(ValueError, match="invalid territories"):
            dealer("D007", ("37", "3"))

    def test_every_bad_territory_is_reported_with_its_pointer(self) -> None:
        problems = territory_problems(["37", "3", "37070", "abcd", "370782"])
        assert [(p.field, p.code) for p in problems] == [
            ("/territories/1", "invalid_territory"),
            ("/territories/2", "invalid_territory"),
            ("/territories/3", "invalid_territory"),
        ]


def _reference(region: str, line: str, dealers: list[DealerProfile]) -> tuple[str | None, tuple[str, ...]]:
    """Brute force: every active dealer selling the line, keep those at the longest matching territory."""
    best: dict[str, int] = {}
    for d in dealers:
        if d.withdrawn or line not in d.product_lines:
            continue
        lengths = [len(t) for t in d.territories if region.startswith(t)]
        if lengths:
            best[d.code] = max(lengths)
    if not best:
        return None, ()
    top = max(best.values())
    return region[:top], tuple(sorted(c for c, n in best.items() if n == top))


territory = st.sampled_from(["37", "3707", "370782", "370781", "3710", "371002", "11", "1101", "110101"])
dealer_strategy = st.builds(
    lambda code, ts, ls, cap, w: dealer(code, tuple(ts), tuple(ls), cap, withdrawn=w),
    st.just(""),
    st.lists(territory, min_size=1, max_size=3),
    st.lists(st.sampled_from(["tractor", "dump", "mixer"]), min_size=1, max_size=3),
    st.integers(0, 100),
    st.booleans(),
)


@st.composite
def networks(draw: st.DrawFn) -> list[DealerProfile]:
    raw = draw(st.lists(dealer_strategy, max_size=12))
    return [
        DealerProfile(f"D{i:03d}", d.territories, d.product_lines, d.capability, d.withdrawn) for i, d in enumerate(raw)
    ]


class TestOrderIndependence:
    @given(
        dealers=networks(),
        data=st.data(),
        region=st.sampled_from(["370782", "370781", "371002", "110101", "440305"]),
        line=st.sampled_from(["tractor", "dump", "mixer"]),
    )
    def test_verdict_matches_brute_force_whatever_the_listing_order(
        self, dealers: list[DealerProfile], data: st.DataObject, region: str, line: str
    ) -> None:
        shuffled = data.draw(st.permutations(dealers))
        first = authorized_candidates(region_code=region, product_line=line, dealers=dealers)
        second = authorized_candidates(region_code=region, product_line=line, dealers=shuffled)
        assert first == second
        assert (first.prefix, first.codes) == _reference(region, line, dealers)


class TestScale:
    def test_thousands_of_dealers_stay_fast(self) -> None:
        counties = [f"{p:02d}{c:02d}{k:02d}" for p in range(11, 66) for c in range(1, 10) for k in range(1, 11)]
        dealers = [
            dealer(f"D{i:05d}", (code if i % 3 else code[:4],), ("tractor", "dump"), 10 + i % 90)
            for i, code in enumerate(counties)
        ]
        assert len(dealers) > 4000
        index = TerritoryIndex.build(dealers)
        start = time.perf_counter()
        for code in counties * 5:
            index.candidates(region_code=code, product_line="tractor")
        elapsed = time.perf_counter() - start
        # ~25k lookups; a linear scan of 5k dealers each would take minutes.
        assert elapsed < 1.0
