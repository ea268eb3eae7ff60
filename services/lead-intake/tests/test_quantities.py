"""Numbers written as text -> numbers, only where unambiguous (`invalid_number` otherwise)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lead_intake.normalize import NormalizationError
from lead_intake.normalize.quantities import normalize_number, parse_chinese_numeral

DIGITS = "零一二三四五六七八九"


def chinese(n: int) -> str:
    """The standard written form of 1..99999 (一万零五, 四十九, 一百零五, 十五)."""
    if n >= 10_000:
        high, low = divmod(n, 10_000)
        # After 零 the tens keep their 一 in the standard form: 30010 is 三万零一十, not 三万零十.
        rest = "" if low == 0 else ("零" if low < 1000 else "") + ("一" if 10 <= low < 20 else "") + chinese(low)
        return chinese(high) + "万" + rest
    out, zero = "", False
    for unit, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = n // unit % 10
        if digit == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += ("" if (unit == 10 and digit == 1 and not out) else DIGITS[digit]) + name
    return out


class TestChineseNumerals:
    @given(n=st.integers(min_value=1, max_value=99_999))
    def test_standard_form_reads_back(self, n: int) -> None:
        assert parse_chinese_numeral(chinese(n)) == n

    @pytest.mark.parametrize(
        ("text", "value"),
        [
            ("四十九", 49),
            ("两", 2),
            ("十", 10),
            ("十五", 15),
            ("一百零五", 105),
            ("两百", 200),
            ("一万二千", 12000),
            ("四十九点五", 49.5),
            ("零", 0),
        ],
    )
    def test_examples(self, text: str, value: float) -> None:
        assert parse_chinese_numeral(text) == value

    @pytest.mark.parametrize("text", ["三五", "一百五", "三千五", "三万五", "几十", "十几", "百", "", "五六十"])
    def test_ambiguous_or_vague(self, text: str) -> None:
        assert parse_chinese_numeral(text) is None


class TestFieldNumbers:
    @pytest.mark.parametrize(
        ("field", "raw", "value"),
        [
            ("load_tons", "49吨", 49),
            ("load_tons", "49.5", 49.5),
            ("load_tons", " 49 T ", 49),
            ("load_tons", "约49吨", 49),
            ("load_tons", "４９噸".replace("噸", "吨"), 49),
            ("load_tons", 49.5, 49.5),
            ("haul_distance_km", "300公里", 300),
            ("haul_distance_km", "1,200km", 1200),
            ("haul_distance_km", "三百公里左右", 300),
            ("quantity", "2台", 2),
            ("quantity", "两辆", 2),
            ("quantity", 3, 3),
            ("quantity", 3.0, 3),
            ("horsepower", "560马力", 560),
            ("horsepower", "460HP", 460),
            ("load_tons", "四十九", 49),
        ],
    )
    def test_reads(self, field: str, raw: object, value: float) -> None:
        result = normalize_number(raw, field=field)
        assert result == value
        assert isinstance(result, int) == float(value).is_integer()

    @pytest.mark.parametrize(
        ("field", "raw"),
        [
            ("load_tons", "40-50吨"),
            ("load_tons", "40~50"),
            ("load_tons", "几十吨"),
            ("load_tons", "300公里"),  # a unit of another field
            ("quantity", "三五台"),
            ("quantity", "2.5台"),  # vehicles are whole
            ("quantity", "一百五"),
            ("horsepower", "many"),
            ("haul_distance_km", "1.2.3"),
            ("load_tons", float("nan")),
        ],
    )
    def test_invalid_number(self, field: str, raw: object) -> None:
        with pytest.raises(NormalizationError) as caught:
            normalize_number(raw, field=field)
        assert caught.value.code == "invalid_number"

    @pytest.mark.parametrize(
        ("field", "raw"),
        [
            ("quantity", 0),
            ("quantity", "0台"),
            ("load_tons", 500),
            ("horsepower", 10),
            ("haul_distance_km", -5),
            ("quantity", 10**400),
        ],
    )
    def test_out_of_range(self, field: str, raw: object) -> None:
        with pytest.raises(NormalizationError) as caught:
            normalize_number(raw, field=field)
        assert caught.value.code == "out_of_range"

    @pytest.mark.parametrize("raw", [True, None, [49], {"v": 49}])
    def test_invalid_type(self, raw: object) -> None:
        with pytest.raises(NormalizationError) as caught:
            normalize_number(raw, field="load_tons")
        assert caught.value.code == "invalid_type"
