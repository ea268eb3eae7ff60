"""The logs' backstop (issue 16 §3 "Logs"): phones and street addresses never reach a log line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import asyncpg
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from leadnet_shared.logging import configure_logging
from leadnet_shared.redaction import describe_error, find_personal_data, redact_text


class TestRedactText:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Key (phone)=(+8613800138000) already exists.", "Key (phone)=(138****8000) already exists."),
            ("客户电话13800138000请回访", "客户电话138****8000请回访"),
            ("call 138 0013 8000 or 138-0013-8000", "call 138****8000 or 138****8000"),
            ("fixed line 0536-6012345", "fixed line 0536****2345"),
        ],
    )
    def test_phones_are_masked(self, text: str, expected: str) -> None:
        assert redact_text(text) == expected

    @pytest.mark.parametrize(
        "text",
        [
            "山东省潍坊市诸城市密州街道东坡北街18号金都花园小区",
            "地址：山东潍坊诸城东坡北街18号",
            "河南省郑州市中原区建设路99号",
        ],
    )
    def test_street_addresses_are_replaced(self, text: str) -> None:
        out = redact_text(text)
        for street in ("东坡北街", "18号", "金都花园", "建设路", "99号"):
            assert street not in out

    @pytest.mark.parametrize(
        "text",
        [
            "lead 3f1c0a23-0123-4567-8901-aabbccddeeff routed to D003",
            "batch of 500 events failed at 2026-12-05T03:04:05Z; sqlstate 40001",
            "region 370782 product line tractor, 13 tasks",
        ],
    )
    def test_ids_times_and_counts_are_left_alone(self, text: str) -> None:
        assert redact_text(text) == text

    @given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.text(alphabet="客户电话请回访，。 ", max_size=8))
    def test_any_mobile_keeps_only_its_first_three_and_last_four_digits(self, phone: str, around: str) -> None:
        out = redact_text(f"{around}{phone}{around}")
        assert phone not in out and f"{phone[:3]}****{phone[-4:]}" in out


class TestFindPersonalData:
    """The scan the end-to-end tests run over topics and logs: it finds exactly what redaction would mask."""

    # found by hypothesis: replacing the address joined the digits around it into a new fixed-line shape
    @example(parts=["东坡北街18号", "东坡北街18号", "000", "13000000000", "13000000000"])
    @given(
        st.lists(
            st.one_of(
                st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
                st.sampled_from(["东坡北街18号", "建设路99号", "金都花园小区", "0536-6012345", "18号楼"]),
                st.text(alphabet="客户电话请回访，。 D0123abc-", max_size=8),
            ),
            max_size=6,
        )
    )
    def test_finds_nothing_after_redaction_and_something_whenever_redaction_changes_the_text(
        self, parts: list[str]
    ) -> None:
        text = "".join(parts)
        assert find_personal_data(redact_text(text)) == []
        assert bool(find_personal_data(text)) == (redact_text(text) != text)

    def test_masked_forms_are_not_findings(self) -> None:
        assert find_personal_data("138****8000 山东省潍坊市诸城市*** 张*") == []


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


class TestLogLines:
    @pytest.mark.usefixtures("restore_root_logger")
    def test_message_fields_and_exception_text_are_redacted(self) -> None:
        stream = io.StringIO()
        configure_logging(level="INFO", json_lines=True, service="test")
        logging.getLogger().handlers[0].stream = stream  # type: ignore[attr-defined]
        log = logging.getLogger("leadnet.test")
        try:
            raise ValueError("bad record: 张三 13800138000 山东潍坊诸城东坡北街18号")
        except ValueError:
            log.exception("failed for %s", "+8613900139000", extra={"address": "河南省郑州市中原区建设路99号"})
        line = json.loads(stream.getvalue().strip().splitlines()[-1])
        text = json.dumps(line, ensure_ascii=False)
        for leaked in ("13800138000", "13900139000", "东坡北街", "建设路"):
            assert leaked not in text
        assert "Traceback" in line["exception"] and "ValueError" in line["exception"]


class TestDescribeError:
    def test_driver_errors_by_type_and_sqlstate_not_by_their_text(self) -> None:
        exc = asyncpg.UniqueViolationError("duplicate key: Key (phone)=(+8613800138000) already exists.")
        described = describe_error(exc)
        assert described == "UniqueViolationError (SQLSTATE 23505)"
        assert "138" not in described

    def test_other_errors_by_type(self) -> None:
        assert describe_error(KeyError("13800138000")) == "KeyError"
