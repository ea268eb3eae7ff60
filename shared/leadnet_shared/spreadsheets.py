"""Cells for files people open in a spreadsheet (statement CSV, console exports).

A text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is run as a formula by Excel and WPS
(CSV injection, OWASP): a customer name or a model typed as `=HYPERLINK(...)` would act on the reader's machine. Such
text is prefixed with `'`, which spreadsheets show as plain text. Numbers stay numbers (a reversal's -200 fen is a
number, not a formula).
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: object) -> object:
    """`value` as a CSV cell that no spreadsheet runs: None → "", text that could start a formula → `'` + text."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
