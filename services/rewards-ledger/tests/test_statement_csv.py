"""The statement CSV runs no formula in a spreadsheet (issue 16 §3; review L3), and keeps numbers as numbers."""

from __future__ import annotations

import csv
import io
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from leadnet_shared.spreadsheets import FORMULA_STARTS, spreadsheet_cell
from rewards_ledger.statements import statement_csv


def line(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "entry_id": "e1",
        "posted_at": "2026-12-01T10:00:00+08:00",
        "kind": "info_fee",
        "rule": "r",
        "explanation": "fee",
        "lead_id": "l1",
        "customer_id": "c1",
        "customer": {"name": "张*", "phone": "138****8000"},
        "sale_id": None,
        "vin": None,
        "reverses": None,
        "amount_fen": 200,
        "running_total_fen": 200,
    }
    return {**base, **overrides}


def rows(lines: list[dict[str, Any]]) -> list[dict[str, str]]:
    text = statement_csv({"opening_balance_fen": 0, "closing_balance_fen": 0, "lines": lines})
    return list(csv.DictReader(io.StringIO(text)))


class TestStatementCsv:
    def test_text_that_would_start_a_formula_is_quoted_as_text(self) -> None:
        [_, row, _] = rows(
            [
                line(
                    customer={"name": '=HYPERLINK("http://x","点我")', "phone": "+86138"},
                    vin="@SUM(A1)",
                    explanation="-1+1",
                    rule="\tcmd",
                )
            ]
        )
        assert row["customer_name"] == '\'=HYPERLINK("http://x","点我")'
        assert (row["customer_phone"], row["vin"], row["explanation"], row["rule"]) == (
            "'+86138",
            "'@SUM(A1)",
            "'-1+1",
            "'\tcmd",
        )

    def test_amounts_stay_numbers_even_when_negative(self) -> None:
        [_, row, _] = rows([line(kind="reversal", amount_fen=-200, running_total_fen=0)])
        assert (row["amount_fen"], row["running_total_fen"]) == ("-200", "0")

    @given(st.text(max_size=30))
    def test_no_text_cell_starts_a_formula(self, text: str) -> None:
        cell = spreadsheet_cell(text)
        assert isinstance(cell, str) and not cell.startswith(FORMULA_STARTS)
        assert cell in (text, "'" + text)
