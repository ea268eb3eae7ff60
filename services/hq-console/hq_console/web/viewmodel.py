"""What a console page shows, independent of HTML: KPI tiles, charts, tables. The same table renders on the page and
goes out as CSV or XLSX, so an export always holds the numbers the reader saw."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Direction = Literal["up", "down", "flat", "none"]


@dataclass(frozen=True, slots=True)
class Tile:
    key: str  # catalogue key under `kpi.`
    value: int | float | None
    previous: int | float | None
    href: str | None = None
    money: bool = False  # an amount in fen, shown in yuan
    percent: bool = False  # a share (0..1); its change is in percentage points

    @property
    def change(self) -> float | None:
        """Change against the previous period: relative for a count or amount, in points for a share; None when
        there is nothing to compare with."""
        if self.value is None or self.previous is None:
            return None
        if self.percent:
            return self.value - self.previous
        if self.previous == 0:
            return None
        return (self.value - self.previous) / abs(self.previous)

    @property
    def direction(self) -> Direction:
        if self.value is None or self.previous is None:
            return "none"
        if self.value == self.previous:
            return "flat"
        if self.previous == 0 and not self.percent:
            return "none"
        return "up" if self.value > self.previous else "down"


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str  # catalogue key
    numeric: bool = False
    money: bool = False
    percent: bool = False
    # The masked list behind a number in this column: the list's measure (None: the cell is not a count).
    measure: str | None = None


Row = dict[str, Any]


@dataclass
class Table:
    id: str
    title: str  # catalogue key
    columns: list[Column]
    rows: list[Row]
    # (row, column) → the drill-down link of that cell, or None
    linker: Callable[[Row, Column], str | None] | None = None

    def link(self, row: Row, column: Column) -> str | None:
        if self.linker is None or column.measure is None or not row.get(column.key):
            return None
        return self.linker(row, column)


@dataclass(frozen=True, slots=True)
class Chart:
    id: str
    title: str  # catalogue key
    option: dict[str, Any]  # an ECharts option, drawn by console.js


@dataclass(frozen=True, slots=True)
class Crumb:
    text: str
    href: str | None


@dataclass
class PageView:
    name: str
    title: str  # catalogue key
    tiles: list[Tile] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    crumbs: list[Crumb] = field(default_factory=list)
    note: str | None = None  # a catalogue key shown under the tables

    def table(self, table_id: str) -> Table | None:
        return next((t for t in self.tables if t.id == table_id), None)
