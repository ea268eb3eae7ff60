"""The same customer is the same normalized phone number: every usual spelling gives one E.164, in intake and in
the router alike (both call this one function)."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadnet_shared.phone import InvalidPhone, _full_parse, normalize_phone

# Mobile numbers as libphonenumber knows them: 11 digits, first 1, second 3-9.
mobile_numbers = st.builds(
    lambda second, rest: "1" + second + rest,
    st.sampled_from("3456789"),
    st.text(alphabet="0123456789", min_size=9, max_size=9),
).filter(lambda n: phonenumbers.is_valid_number(phonenumbers.parse(n, "CN")))

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def spellings(national: str) -> list[str]:
    """How dealers write one mobile number."""
    grouped = f"{national[:3]} {national[3:7]} {national[7:]}"
    return [
        national,
        grouped,
        grouped.replace(" ", "-"),
        f"+86 {grouped}",
        f"+86-{national}",
        f"+86{national}",
        f"0086 {national}",
        f"86{national}",
        f"  {national} ",
        national.translate(FULL_WIDTH),
        f"({national[:3]}) {national[3:7]}-{national[7:]}",
        f"tel:+86-{national}",
    ]


class TestMobileSpellings:
    @given(national=mobile_numbers)
    def test_every_spelling_gives_the_same_e164(self, national: str) -> None:
        assert {normalize_phone(s) for s in spellings(national)} == {"+86" + national}

    @given(digits=st.text(alphabet="0123456789", min_size=11, max_size=11).map(lambda d: "1" + d[1:]))
    def test_fast_path_agrees_with_libphonenumber(self, digits: str) -> None:
        for spelling in (digits, f"+86 {digits}", f"0086{digits}", f"86{digits}"):
            try:
                expected: str | None = _full_parse(spelling)
            except InvalidPhone:
                expected = None
            try:
                got: str | None = normalize_phone(spelling)
            except InvalidPhone:
                got = None
            assert got == expected, spelling


class TestFixedLines:
    @pytest.mark.parametrize(
        "spelling",
        [
            "0536-6012345",
            "(0536) 6012345",
            "05366012345",
            "+86 536 6012345",
            "0086 536 6012345",
            "+86 (0)536 6012345",
        ],
    )
    def test_weifang_number(self, spelling: str) -> None:
        assert normalize_phone(spelling) == "+865366012345"

    def test_beijing_number(self) -> None:
        assert normalize_phone("010-12345678") == normalize_phone("+86 10 1234 5678") == "+861012345678"


class TestInvalid:
    @pytest.mark.parametrize(
        "raw",
        [
            "12345",
            "13800",
            "138001380001",
            "abc",
            "",
            "6012345",
            "+1 650 253 0000",
            "400-810-8888",
            "800-810-8888",
            "138 0013 8000 转 123",
            "10086",
        ],
    )
    def test_invalid_phone(self, raw: str) -> None:
        with pytest.raises(InvalidPhone) as caught:
            normalize_phone(raw)
        assert caught.value.code == "invalid_phone"

    @given(national=mobile_numbers, junk=st.sampled_from(["1", "12", "0"]))
    def test_extra_digits_are_never_the_same_number(self, national: str, junk: str) -> None:
        try:
            result = normalize_phone(national + junk)
        except InvalidPhone:
            return
        assert result != "+86" + national
