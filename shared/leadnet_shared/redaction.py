"""The logs' backstop against personal data (PIPL): whatever a log line carries — its message, its fields, an
exception's text — phone numbers and street-level addresses are masked before it is written.

Code logs ids, never personal data; this catches what slips through anyway: a driver error that echoes a key value
(`Key (phone)=(+8613800138000) already exists`), a record in an exception message, a careless f-string. Errors are
described by type and SQLSTATE (`describe_error`), never by the driver's `repr`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

# Not inside a longer token of ASCII letters, digits or dashes (ids, UUIDs, hashes), but right after Chinese text.
_EDGE_BEFORE, _EDGE_AFTER = r"(?<![0-9A-Za-z-])", r"(?![0-9A-Za-z-])"
# A mainland mobile (optionally +86, spaces or dashes between the groups).
_MOBILE = re.compile(_EDGE_BEFORE + r"(?:\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})" + _EDGE_AFTER)
# A fixed line with its area code (0 + 2-3 digits), the common written form: 0536-6012345, (0536)6012345.
_LANDLINE = re.compile(_EDGE_BEFORE + r"(?:\+?86[- ]?)?\(?(0\d{2,3})\)?[- ]?(\d{3,4})[- ]?(\d{4})" + _EDGE_AFTER)
# A street-level address: Chinese text that names a road, street, lane, number, village, estate or building.
_ADDRESS = re.compile(
    r"[\u4e00-\u9fff]{1,24}?(?:路|街|巷|胡同|弄|村|小区|花园|大厦|公寓|社区)"
    r"[\u4e00-\u9fff\d\-－#号栋幢单元室楼层]{0,24}"
)
_STREET_NUMBER = re.compile(r"\d+\s*(?:号|栋|幢|单元|室|楼)")

REDACTED_ADDRESS = "[address]"


def redact_text(text: str) -> str:
    """`text` with phone numbers masked (`138****8000`) and street-level addresses replaced."""
    if not text:
        return text
    # Until nothing changes: replacing an address can join the digits around it into a new phone-shaped run
    # ("…18号000130000000000…" leaves "0130000000000"), which one pass would let through.
    for _ in range(4):
        before = text
        text = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
        text = _LANDLINE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
        text = _ADDRESS.sub(REDACTED_ADDRESS, text)
        text = _STREET_NUMBER.sub(REDACTED_ADDRESS, text)
        if text == before:
            break
    return text


def find_personal_data(text: str) -> list[str]:
    """The phone numbers and street-level addresses in `text`, as found (for scans of topics and logs in tests and
    audits; the same patterns as `redact_text`, so what this finds is exactly what redaction would mask)."""
    if not text:
        return []
    found = [m.group(0) for pattern in (_MOBILE, _LANDLINE, _ADDRESS) for m in pattern.finditer(text)]
    return found + [m.group(0) for m in _STREET_NUMBER.finditer(_ADDRESS.sub(REDACTED_ADDRESS, text))]


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact(v) for v in value)
    return value


def redact_personal_data(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask personal data in every string of the event (run after exceptions are formatted)."""
    for key, value in event_dict.items():
        if key not in ("timestamp", "level", "logger", "service"):
            event_dict[key] = _redact(value)
    return event_dict


def describe_error(exc: BaseException) -> str:
    """An exception for a log line or a stored `last_error`: its type and, for database errors, its SQLSTATE — not
    its text, which for driver errors echoes the offending values (phones, names)."""
    seen: BaseException | None = exc
    sqlstate = None
    while seen is not None and sqlstate is None:
        sqlstate = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
        seen = getattr(seen, "orig", None) or seen.__cause__
    name = type(exc).__name__
    return f"{name} (SQLSTATE {sqlstate})" if sqlstate else name
