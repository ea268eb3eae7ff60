"""Masking (contract.md "Masking"; review H1): addresses masked from the resolved region, never from free text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadnet_shared.masking import _region_names, mask_address, mask_name, mask_phone, region_label

# Short forms and spellings the old free-text cut passed out whole or cut inside the street.
LEAKED_BEFORE = [
    ("山东潍坊诸城密州街道东坡北街18号金都花园小区", "370782"),
    ("潍坊诸城市东坡北街18号", "370782"),
    ("北京东城区东华门大街5号", "110101"),
    ("广东东莞市南城区鸿福路88号", "441900"),
    ("河南济源市沁园路2号", "419001"),
]


class TestRegionLabel:
    @pytest.mark.parametrize(
        ("code", "label"),
        [
            ("370782", "山东省潍坊市诸城市"),
            ("110101", "北京市东城区"),  # municipality: its 市辖区 placeholder is no place
            ("500233", "重庆市忠县"),
            ("441900", "广东省东莞市"),  # a city without counties: named once
            ("419001", "河南省济源市"),  # 省直辖县级行政区划 placeholder skipped
        ],
    )
    def test_names_of_province_city_and_county(self, code: str, label: str) -> None:
        assert region_label(code) == label

    @pytest.mark.parametrize("code", [None, "", "37078", "3707820", "ABCDEF", "999999"])
    def test_unknown_or_malformed_codes_have_no_label(self, code: str | None) -> None:
        assert region_label(code) is None


class TestMaskAddress:
    @pytest.mark.parametrize(("address", "code"), LEAKED_BEFORE)
    def test_no_street_of_a_short_form_address_survives(self, address: str, code: str) -> None:
        masked = mask_address(address, code)
        assert masked == f"{region_label(code)}***"
        for street in ("东坡北街", "金都花园", "东华门", "鸿福路", "沁园路", "18号", "5号"):
            assert street not in (masked or "")

    def test_without_a_region_only_stars_remain(self) -> None:
        assert mask_address("山东省潍坊市诸城市密州街道", None) == "***"
        assert mask_address("", "370782") == ""
        assert mask_address(None, "370782") is None

    @given(address=st.text(min_size=1, max_size=60), code=st.sampled_from(sorted(_region_names())))
    def test_the_mask_depends_on_the_region_alone(self, address: str, code: str) -> None:
        # Whatever the free text says, the mask is the region's official names: nothing of the text can leak.
        assert mask_address(address, code) == (region_label(code) or "") + "***"


class TestNameAndPhone:
    def test_name_keeps_the_family_name(self) -> None:
        assert (mask_name("张三"), mask_name("欧阳修"), mask_name(None)) == ("张*", "欧阳*", None)

    def test_phone_keeps_first_three_and_last_four(self) -> None:
        assert mask_phone("+8613800138000") == "138****8000"
