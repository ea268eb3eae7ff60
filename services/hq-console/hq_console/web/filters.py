"""The console's filters, read from the query string: period (day, week, month, quarter in Asia/Shanghai, the
business time zone of contract.md), the day the period contains, region (an adcode prefix), product line, source,
tier and dealer. Every link on a page carries them, so a drill-down shows the list behind the number it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Literal
from urllib.parse import urlencode

from hq_console import periods
from hq_console.filters import Filters as InsightFilters

Period = Literal["day", "week", "month", "quarter"]
PERIODS: tuple[Period, ...] = ("day", "week", "month", "quarter")
_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_REGION = re.compile(r"^[0-9]{2}(?:[0-9]{2}){0,2}$")


@dataclass(frozen=True, slots=True)
class Filters:
    period: Period = "month"
    at: date | None = None  # a day inside the period; None is today in Shanghai
    region: str | None = None
    product_line: str | None = None
    source: str | None = None
    tier: str | None = None
    dealer: str | None = None
    network: str | None = None  # an information network (the funnel's and networks page's rows narrow to one)

    @classmethod
    def parse(cls, params: dict[str, str], *, today: date) -> Filters:
        """Filters from query parameters; a value that is not well formed is dropped (a page shows the wider
        view rather than an error for a hand-edited link)."""
        period = params.get("period", "month")
        at: date | None = None
        try:
            at = date.fromisoformat(params["at"]) if params.get("at") else None
        except ValueError:
            at = None

        def code(name: str, pattern: re.Pattern[str] = _CODE) -> str | None:
            value = (params.get(name) or "").strip()
            return value if value and pattern.fullmatch(value) else None

        return cls(
            period=period if period in PERIODS else "month",
            at=at or today,
            region=code("region", _REGION),
            product_line=code("product_line"),
            source=code("source"),
            tier=code("tier"),
            dealer=code("dealer"),
            network=code("network"),
        )

    def narrowing(self) -> InsightFilters:
        """What the figures narrow to: these filters but the period (a page's numbers are the API's)."""
        return InsightFilters(**{f.name: getattr(self, f.name) for f in fields(InsightFilters)})

    def label(self) -> str:
        """The period's business days, as the figures count them (`hq_console.periods`, the one calendar)."""
        period = periods.containing(self.period, self.at or periods.today(datetime.now().astimezone()))
        first, last = period.first.isoformat(), period.last.isoformat()
        return first if first == last else f"{first} – {last}"

    def query(self, **overrides: str | None) -> str:
        """The query string of these filters with some changed (None drops one)."""
        values: dict[str, str | None] = {
            "period": self.period,
            "at": self.at.isoformat() if self.at else None,
            "region": self.region,
            "product_line": self.product_line,
            "source": self.source,
            "tier": self.tier,
            "dealer": self.dealer,
            "network": self.network,
        }
        values.update(overrides)
        return urlencode({k: v for k, v in values.items() if v})
