"""Days, months and reminders in Asia/Shanghai, where every deadline of the network and collection procedures
falls (domain.md "Deadlines in one place"); instants are returned in UTC."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from leadnet_shared.clock import SHANGHAI

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")  # 2026-10


def local_midnight(day: date) -> datetime:
    """The start of `day` in Asia/Shanghai."""
    return datetime.combine(day, time(), tzinfo=SHANGHAI).astimezone(UTC)


def month_days(year: int, month: int) -> tuple[date, date]:
    """The month's first day and the next month's first day."""
    return date(year, month, 1), date(year + (month == 12), month % 12 + 1, 1)


def closest_reminder(due_day: date, days_before: Iterable[int], at: time, now: datetime) -> tuple[int, datetime] | None:
    """The reminder of a deadline on `due_day` whose time has come, the closest to the due day only (a service that
    was down does not send the 3-days reminder beside the 1-day one): its days before and its instant; None before
    the first. `days_before` ascending: the closest first."""
    for days in days_before:
        remind_at = datetime.combine(due_day - timedelta(days=days), at, tzinfo=SHANGHAI).astimezone(UTC)
        if remind_at <= now:
            return days, remind_at
    return None
