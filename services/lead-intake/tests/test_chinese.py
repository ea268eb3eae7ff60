"""Traditional -> simplified before matching, so one customer typed in either script is one customer."""

from __future__ import annotations

from lead_intake.normalize.chinese import clean_text, to_simplified


class TestToSimplified:
    def test_characters_and_phrases(self) -> None:
        assert to_simplified("歐曼") == "欧曼"
        assert to_simplified("山東省濰坊市諸城市") == "山东省潍坊市诸城市"
        assert to_simplified("張三") == "张三"

    def test_simplified_and_ascii_pass_through(self) -> None:
        assert to_simplified("山东省潍坊市") == "山东省潍坊市"
        assert to_simplified("EST 6") == "EST 6"


class TestCleanText:
    def test_full_width_spaces_and_script(self) -> None:
        assert clean_text("  ＥＳＴ　６  ") == "EST 6"
        assert clean_text("歐曼\t 戴姆勒") == "欧曼 戴姆勒"
