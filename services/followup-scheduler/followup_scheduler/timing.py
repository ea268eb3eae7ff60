"""Callback and promotion timing (domain.md §4 回訪時間, §5 推進時間) and the flow after processing (§3).

The tables are policy data (`policy/timing.toml`); this module only looks them up and turns "due in
N days" into an instant through the business calendar.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from leadnet_shared.policy import PolicyError, cached_policy

from .business_calendar import BusinessCalendar, CalendarBasis, DueDate
from .vocabulary import (
    CALLBACK_SITUATIONS,
    HORIZONS,
    PACKAGE,
    PROMOTION_HORIZONS,
    TIERS,
    CallbackSituation,
    Horizon,
    PromotionHorizon,
    TaskKind,
    Tier,
)

TableKind = Literal["callback", "promotion"]


@dataclass(frozen=True)
class PlannedTask:
    """A task the rules ask for: what, when, and why, with the policy that said so (stored on the task)."""

    kind: TaskKind
    due_at: datetime
    reason: str
    policy_version: str
    days: int
    table_due_at: datetime
    calendar_basis: CalendarBasis

    @classmethod
    def on(cls, due: DueDate, *, kind: TaskKind, days: int, reason: str, policy_version: str) -> PlannedTask:
        """The task due when the business calendar says (`due`), with the table's own date kept for audit."""
        return cls(kind, due.at, reason, policy_version, days, table_due_at=due.table_at, calendar_basis=due.basis)


@dataclass(frozen=True)
class FlowStep:
    """Which table and row a lead's first task comes from."""

    kind: TableKind
    row: str


@dataclass(frozen=True)
class TimingPolicy:
    """The parsed timing tables, checked whole at load: a bad file fails at start, not on some later lead."""

    version: str
    callback: Mapping[str, Mapping[Tier, int]]
    promotion: Mapping[str, Mapping[Tier, int]]
    labels: Mapping[tuple[TableKind, str], str]
    by_horizon: Mapping[str, FlowStep]
    intent_missing: FlowStep

    def days(self, *, kind: TableKind, row: str, tier: Tier) -> int:
        """The table cell: days until due for `row` and `tier`."""
        table = self.callback if kind == "callback" else self.promotion
        if row not in table:
            raise ValueError(f"unknown {kind} row {row!r}")
        if tier not in table[row]:
            raise ValueError(f"unknown tier {tier!r}")
        return table[row][tier]


def _parse_table(
    raw: Any, *, kind: TableKind, rows: tuple[str, ...]
) -> tuple[dict[str, dict[Tier, int]], dict[tuple[TableKind, str], str]]:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"timing policy has no [{kind}] table")
    missing_rows = [row for row in rows if row not in raw]
    if missing_rows:
        raise PolicyError(f"timing policy [{kind}] lacks rows {missing_rows}")
    table: dict[str, dict[Tier, int]] = {}
    labels: dict[tuple[TableKind, str], str] = {}
    for row, cells in raw.items():
        if not isinstance(cells, Mapping):
            raise PolicyError(f"timing policy [{kind}.{row}] must be a table of days by tier")
        table[row] = {}
        for tier in TIERS:
            value = cells.get(tier)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise PolicyError(f"timing policy [{kind}.{row}] {tier} must be a whole number of days >= 0")
            table[row][tier] = value
        labels[(kind, row)] = str(cells.get("label", row))
    return table, labels


def _parse_step(raw: Any, *, where: str, tables: Mapping[TableKind, Mapping[str, Any]]) -> FlowStep:
    if not isinstance(raw, Mapping) or raw.get("kind") not in ("callback", "promotion"):
        raise PolicyError(f"timing policy {where} needs kind = 'callback' or 'promotion'")
    kind: TableKind = raw["kind"]
    row = str(raw.get("row"))
    if row not in tables[kind]:
        raise PolicyError(f"timing policy {where} names unknown {kind} row {row!r}")
    return FlowStep(kind=kind, row=row)


def parse_timing_policy(data: Mapping[str, Any]) -> TimingPolicy:
    """Check and type a timing policy document (the TOML as a dict)."""
    callback, callback_labels = _parse_table(data.get("callback"), kind="callback", rows=CALLBACK_SITUATIONS)
    promotion, promotion_labels = _parse_table(data.get("promotion"), kind="promotion", rows=PROMOTION_HORIZONS)
    tables: dict[TableKind, Mapping[str, Any]] = {"callback": callback, "promotion": promotion}
    flow = data.get("flow", {})
    by_horizon_raw = flow.get("by_horizon", {})
    missing = [horizon for horizon in HORIZONS if horizon not in by_horizon_raw]
    if missing:
        raise PolicyError(f"timing policy [flow.by_horizon] lacks horizons {missing}")
    by_horizon = {
        horizon: _parse_step(step, where=f"[flow.by_horizon] {horizon}", tables=tables)
        for horizon, step in by_horizon_raw.items()
    }
    intent_missing = _parse_step(flow.get("intent_missing"), where="[flow.intent_missing]", tables=tables)
    return TimingPolicy(
        version=str(data["version"]),
        callback=callback,
        promotion=promotion,
        labels={**callback_labels, **promotion_labels},
        by_horizon=by_horizon,
        intent_missing=intent_missing,
    )


def timing_policy() -> TimingPolicy:
    """The timing tables in force (`policy/timing.toml` or HQ's override)."""
    return parse_timing_policy(cached_policy(PACKAGE, "timing"))


def callback_days(*, situation: CallbackSituation, tier: Tier, policy: TimingPolicy | None = None) -> int:
    """Days until a callback is due (domain.md §4)."""
    return (policy or timing_policy()).days(kind="callback", row=situation, tier=tier)


def promotion_days(*, horizon: PromotionHorizon, tier: Tier, policy: TimingPolicy | None = None) -> int:
    """Days until a promotion action is due (domain.md §5)."""
    return (policy or timing_policy()).days(kind="promotion", row=horizon, tier=tier)


def plan_from_table(
    step: FlowStep,
    *,
    tier: Tier,
    start: datetime,
    calendar: BusinessCalendar,
    policy: TimingPolicy | None = None,
    cause: str = "",
) -> PlannedTask:
    """A callback or promotion due the table's days (`step`'s row) after `start`, on the business calendar."""
    timing = policy or timing_policy()
    kind, row = step.kind, step.row
    days = timing.days(kind=kind, row=row, tier=tier)
    due = calendar.due_in_days(start=start, days=days)
    label = timing.labels.get((kind, row), row)
    reason = f"{cause}{kind} '{label}' for {tier}: due in {days} days{due.shift_note}"
    return PlannedTask.on(due, kind=kind, days=days, reason=reason, policy_version=timing.version)


def first_task_for_lead(
    *,
    tier: Tier,
    horizon: Horizon | str | None,
    routed_at: datetime,
    calendar: BusinessCalendar,
    policy: TimingPolicy | None = None,
) -> PlannedTask:
    """The first task for a freshly routed lead, by its purchase horizon (`None`: no purchase intent)."""
    timing = policy or timing_policy()
    if horizon is None:
        step = timing.intent_missing
        cause = "no purchase intent -> "
    else:
        if horizon not in timing.by_horizon:
            raise ValueError(f"unknown purchase horizon {horizon!r}")
        step = timing.by_horizon[horizon]
        cause = f"horizon {horizon} -> "
    return plan_from_table(step, tier=tier, start=routed_at, calendar=calendar, policy=timing, cause=cause)
